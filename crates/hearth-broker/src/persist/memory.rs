//! An in-memory [`BrokerStore`]: what the broker uses when persistence is off, and a
//! fake for tests that want to look at what was written.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::{BrokerStore, PersistError, PersistOp, PersistedState};

#[derive(Debug, Default)]
struct Tables {
    retained: BTreeMap<String, Bytes>,
    sessions: BTreeMap<String, Bytes>,
    messages: BTreeMap<(String, u64), Bytes>,
    batches: usize,
}

/// Shares its tables between clones, so a test can keep one clone and hand the other
/// to a broker, then start a second broker on the same state ("restart").
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    tables: Arc<Mutex<Tables>>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Batches applied so far (each one a "transaction").
    pub fn batches(&self) -> usize {
        self.tables.lock().batches
    }

    /// (retained, sessions, messages) counts.
    pub fn counts(&self) -> (usize, usize, usize) {
        let tables = self.tables.lock();
        (
            tables.retained.len(),
            tables.sessions.len(),
            tables.messages.len(),
        )
    }
}

impl BrokerStore for MemoryStore {
    fn load(&mut self) -> Result<PersistedState, PersistError> {
        let tables = self.tables.lock();
        Ok(PersistedState {
            retained: tables
                .retained
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            sessions: tables
                .sessions
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            messages: tables
                .messages
                .iter()
                .map(|((c, s), v)| (c.clone(), *s, v.clone()))
                .collect(),
        })
    }

    fn apply(&mut self, ops: &[PersistOp]) -> Result<(), PersistError> {
        let mut tables = self.tables.lock();
        for op in ops {
            match op {
                PersistOp::PutRetained { topic, record } => {
                    tables.retained.insert(topic.to_string(), record.clone());
                }
                PersistOp::DeleteRetained { topic } => {
                    tables.retained.remove(&**topic);
                }
                PersistOp::PutSession { client_id, record } => {
                    tables
                        .sessions
                        .insert(client_id.to_string(), record.clone());
                }
                PersistOp::DeleteSession { client_id } => {
                    tables.sessions.remove(&**client_id);
                    tables
                        .messages
                        .retain(|(owner, _), _| **owner != **client_id);
                }
                PersistOp::PutMessage {
                    client_id,
                    seq,
                    record,
                } => {
                    tables
                        .messages
                        .insert((client_id.to_string(), *seq), record.clone());
                }
                PersistOp::DeleteMessage { client_id, seq } => {
                    tables.messages.remove(&(client_id.to_string(), *seq));
                }
            }
        }
        tables.batches += 1;
        Ok(())
    }
}
