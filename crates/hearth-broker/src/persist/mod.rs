//! Durable broker state: retained messages, persistent sessions and the QoS 1/2
//! messages waiting for them, so that a restart (even `kill -9`) loses nothing the
//! broker has acknowledged.
//!
//! The router describes every change as a [`PersistOp`]; a writer thread applies them
//! to a [`BrokerStore`] in batches, one durable transaction per batch (group commit),
//! and only then lets the router send the PUBACK / PUBREC of the messages in it. The
//! store sees opaque records (encoded by `record`), so a backend is a small key-value
//! mapping and the broker keeps no SQL or file-format knowledge.
//!
//! # Layout
//! - `record`: encoding of sessions and messages into record bytes.
//! - `writer`: the writer thread and its batching.
//! - `memory`: an in-memory [`BrokerStore`] (tests and `persistence = false`).

pub(crate) mod memory;
pub(crate) mod record;
pub(crate) mod writer;

pub use hearth_bus::broker_state::{BrokerStore, PersistError, PersistOp, PersistedState};
pub use memory::MemoryStore;
