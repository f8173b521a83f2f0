//! Hearth's MQTT broker.
//!
//! # Layout
//! - `topic`: topic name / filter validation, the subscription trie, the retained store.
//! - `transport`: TCP, TLS and WebSocket streams, all turned into one byte stream.
//! - `file_auth`: the password-file + ACL-file [`hearth_bus::Authorizer`].

pub mod file_auth;
pub mod topic;
pub mod transport;
