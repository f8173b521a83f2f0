//! The router's side of persistence: which changes become [`PersistOp`]s, handing
//! batches to the writer thread, and rebuilding state at start-up.

use hearth_bus::AckToken;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::session::{Link, Queued, Session, SessionId, SubscriptionEntry};
use super::{Router, Timer};
use crate::message::Message;
use crate::persist::record::{self, SessionRecord};
use crate::persist::writer::Batch;
use crate::persist::{PersistOp, PersistedState};

/// The router's link to the writer thread.
pub(crate) struct Persistence {
    sender: mpsc::UnboundedSender<Batch>,
    batch: Batch,
}

impl Persistence {
    pub(crate) fn new(sender: mpsc::UnboundedSender<Batch>) -> Persistence {
        Persistence {
            sender,
            batch: Batch::default(),
        }
    }
}

impl Router {
    pub(super) fn persistence_enabled(&self) -> bool {
        self.persistence.is_some()
    }

    fn push_op(&mut self, op: PersistOp) {
        if let Some(persistence) = &mut self.persistence {
            persistence.batch.ops.push(op);
        }
    }

    /// Holds an acknowledgement until the current batch is durable.
    pub(super) fn push_durability_token(&mut self, token: AckToken) {
        match &mut self.persistence {
            Some(persistence) => persistence.batch.tokens.push(token),
            None => token.accept(),
        }
    }

    /// Hands the ops of this router pass to the writer thread.
    pub(super) fn flush_persistence(&mut self) {
        let Some(persistence) = &mut self.persistence else {
            return;
        };
        if persistence.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut persistence.batch);
        if persistence.sender.send(batch).is_err() {
            tracing::error!("the broker store writer has stopped; state is no longer persisted");
        }
    }

    /// Records a retained message change. `$SYS` topics are rebuilt every interval and
    /// not worth a disk write.
    pub(super) fn persist_retained(&mut self, message: &Message) -> bool {
        if !self.persistence_enabled() || message.topic.starts_with("$SYS/") {
            return false;
        }
        let topic: Arc<str> = Arc::from(message.topic.as_str());
        if message.payload.is_empty() {
            self.push_op(PersistOp::DeleteRetained { topic });
        } else {
            let record = record::encode_message(message, message.qos, true, &[]);
            self.push_op(PersistOp::PutRetained { topic, record });
        }
        true
    }

    /// Records a QoS 1/2 message owed to a persistent session; returns whether it did.
    pub(super) fn persist_queued(&mut self, session_id: SessionId, queued: &mut Queued) -> bool {
        if !self.persistence_enabled() {
            return false;
        }
        let Some(session) = self.sessions.get(&session_id) else {
            return false;
        };
        if !session.is_persistent() {
            return false;
        }
        let record = record::encode_message(
            &queued.message,
            queued.qos,
            queued.retain,
            &queued.subscription_ids,
        );
        let client_id = session.client_id.clone();
        queued.persisted = true;
        self.push_op(PersistOp::PutMessage {
            client_id,
            seq: queued.seq,
            record,
        });
        true
    }

    /// The message was acknowledged or dropped: its record goes.
    pub(super) fn forget_queued(&mut self, client_id: &Arc<str>, queued: &Queued) {
        if queued.persisted {
            self.push_op(PersistOp::DeleteMessage {
                client_id: client_id.clone(),
                seq: queued.seq,
            });
        }
    }

    /// Writes (or deletes) the session record to match the session.
    pub(super) fn persist_session(&mut self, session_id: SessionId) {
        if !self.persistence_enabled() {
            return;
        }
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        if matches!(session.link, Link::Local(_)) {
            return;
        }
        if session.expiry == 0 {
            // A session that ends with its connection would not survive a restart anyway;
            // only its will is kept (below), so that a crash does not swallow it.
            if session.persisted {
                session.persisted = false;
                let client_id = session.client_id.clone();
                for inflight in session.inflight.values_mut() {
                    inflight.queued.persisted = false;
                }
                for queued in session.queue.iter_mut() {
                    queued.persisted = false;
                }
                let has_will = session.will.is_some();
                self.push_op(PersistOp::DeleteSession { client_id });
                if !has_will {
                    return;
                }
            } else if session.will.is_none() {
                return;
            }
        }
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        let record = record::encode_session(&SessionRecord {
            protocol: session.protocol,
            expiry: session.expiry,
            disconnected_at_ms: if session.conn().is_some() {
                0
            } else {
                record::now_unix_ms()
            },
            owner: session.principal.clone(),
            subscriptions: session
                .subscriptions
                .iter()
                .map(|(filter, entry)| (filter.to_string(), entry.options, entry.subscription_id))
                .collect(),
            will: session.will.as_deref().cloned(),
        });
        session.persisted = true;
        let client_id = session.client_id.clone();
        self.push_op(PersistOp::PutSession { client_id, record });
    }

    pub(super) fn forget_session(&mut self, session: &Session) {
        if session.persisted {
            self.push_op(PersistOp::DeleteSession {
                client_id: session.client_id.clone(),
            });
        }
    }

    /// Rebuilds retained messages and persistent sessions from the store. Records that
    /// cannot be read are skipped with a warning rather than stopping the hub.
    pub(crate) fn restore(&mut self, state: PersistedState) {
        let now = Instant::now();
        let now_ms = record::now_unix_ms();
        let mut unreadable = 0usize;
        let mut wills_due = Vec::new();
        for (topic, bytes) in state.retained {
            match record::decode_message(bytes) {
                Some(stored) if !stored.message.is_expired(now) => {
                    self.retained.insert(&topic, Arc::new(stored.message));
                }
                Some(_) => self.push_op(PersistOp::DeleteRetained {
                    topic: Arc::from(topic),
                }),
                None => unreadable += 1,
            }
        }
        for (client_id, bytes) in state.sessions {
            let Some(stored) = record::decode_session(bytes) else {
                unreadable += 1;
                continue;
            };
            let client_id: Arc<str> = Arc::from(client_id);
            if stored.expiry == 0 {
                // Kept only for its will: the connection ended with the broker, so the
                // will is due now, and the session ends with it.
                self.push_op(PersistOp::DeleteSession {
                    client_id: client_id.clone(),
                });
                if let Some(will) = stored.will {
                    wills_due.push((client_id, will, stored.owner));
                }
                continue;
            }
            let id = self.next_session;
            self.next_session += 1;
            let mut session = Session::new(id, client_id.clone(), Link::Offline);
            session.protocol = stored.protocol;
            session.expiry = stored.expiry;
            session.principal = stored.owner;
            session.persisted = true;
            let will_delay = stored.will.as_ref().map(|will| {
                will.properties
                    .will_delay_interval
                    .unwrap_or(0)
                    .min(stored.expiry)
            });
            session.will = stored.will.map(Box::new);
            let owner = session.principal.clone();
            self.sessions.insert(id, Box::new(session));
            self.by_client_id.insert(client_id.clone(), id);
            for (filter, options, subscription_id) in stored.subscriptions {
                let filtered = self.filtered_after_restore(owner.as_ref(), &client_id, &filter);
                self.add_subscription(
                    id,
                    &filter,
                    SubscriptionEntry {
                        options,
                        subscription_id,
                        filtered,
                    },
                );
            }
            if let Some(delay) = will_delay {
                // The connection ended with the broker: the will's delay runs from now.
                let at = now + Duration::from_secs(u64::from(delay));
                self.add_timer(
                    at,
                    Timer::Will {
                        session: id,
                        generation: 0,
                    },
                );
            }
            if stored.expiry != u32::MAX {
                // Time already spent offline counts; after a crash it is unknown and the
                // session gets its whole interval again from now.
                let away_ms = if stored.disconnected_at_ms == 0 {
                    0
                } else {
                    now_ms.saturating_sub(stored.disconnected_at_ms)
                };
                let left = Duration::from_secs(u64::from(stored.expiry))
                    .saturating_sub(Duration::from_millis(away_ms));
                self.add_timer(
                    now + left,
                    Timer::Expire {
                        session: id,
                        generation: 0,
                    },
                );
            }
        }
        let mut messages = state.messages;
        messages.sort_unstable_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let n_messages = messages.len();
        for (client_id, seq, bytes) in messages {
            let Some(&session_id) = self.by_client_id.get(client_id.as_str()) else {
                self.push_op(PersistOp::DeleteMessage {
                    client_id: Arc::from(client_id),
                    seq,
                });
                continue;
            };
            let Some(stored) = record::decode_message(bytes) else {
                unreadable += 1;
                continue;
            };
            let session = self
                .sessions
                .get_mut(&session_id)
                .expect("indexed session exists");
            session.next_seq = session.next_seq.max(seq + 1);
            session.enqueue(Queued {
                message: Arc::new(stored.message),
                qos: stored.qos,
                retain: stored.retain,
                subscription_ids: stored.subscription_ids,
                seq,
                persisted: true,
                release: None,
            });
        }
        for (client_id, will, owner) in wills_due {
            if !self.will_allowed(&client_id, owner.as_ref(), &will) {
                continue;
            }
            let message = Message::from_will(will, None, Some(client_id), owner, now);
            self.accept_message(Arc::new(message));
        }
        if unreadable > 0 {
            tracing::warn!(unreadable, "skipped unreadable records in the broker store");
        }
        tracing::info!(
            retained = self.retained.len(),
            sessions = self.sessions.len(),
            messages = n_messages,
            "restored broker state"
        );
        self.flush_persistence();
    }
}
