//! Hearth's storage backends: the implementations behind the storage traits that other
//! crates define, so those crates stay free of database code.
//!
//! Today this is the broker's durable state ([`RedbBrokerStore`], an implementation of
//! [`hearth_broker::persist::BrokerStore`]). The broker defines the trait and never
//! depends on this crate; the binary picks a backend and hands it to the broker.
//!
//! # Layout
//! - `broker_state`: [`RedbBrokerStore`], retained messages, persistent sessions and
//!   queued QoS 1/2 messages in one redb file (`<data_dir>/broker.redb`).

mod broker_state;

pub use broker_state::RedbBrokerStore;
