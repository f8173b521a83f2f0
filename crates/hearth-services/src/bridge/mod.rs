//! The home side of edge + cloud (issue 20, docs/bridge.md): a home hub forwards its
//! devices' messages to a cloud hub through a durable queue, and the cloud's commands
//! to its devices.
//!
//! - `config.rs`: `[bridge]` of hearth.toml.
//! - `queue.rs`: the durable outbound queue in `<data_dir>/bridge.redb`.

pub mod config;
pub mod queue;

pub use config::{BridgeConfig, BridgeUrl};
pub use queue::{BridgeQueue, NewMessage, Overflow, QueueLimits, QueuedMessage};
