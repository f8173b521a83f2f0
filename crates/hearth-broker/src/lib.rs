//! Hearth's MQTT broker: MQTT 3.1, 3.1.1 and 5.0 over TCP, TLS, WebSocket and secure
//! WebSocket.
//!
//! It knows nothing of HTTP, SQL, users or devices: who may do what is asked of a
//! [`hearth_bus::Authorizer`], and services inside the hub reach it through
//! [`BrokerHandle`], which implements [`hearth_bus::Bus`].
//!
//! # Layout
//! - `server`: [`Broker::start`], listeners and accept loops.
//! - `connection`: one task per client connection (decode, checks, encode).
//! - `router`: the single task owning sessions, subscriptions and retained messages.
//! - `handle`: [`BrokerHandle`], the in-process client and control surface.
//! - `persist`: the [`persist::BrokerStore`] seam and group commit of broker state.
//! - `message`, `stats`, `config`: shared data.
//! - `topic`: topic name / filter validation, the subscription trie, the retained store.
//! - `transport`: TLS and WebSocket streams.
//! - `rate_limit`: messages and bytes per principal, connections per address.
//! - `file_auth`: the password-file + ACL-file [`hearth_bus::Authorizer`].

pub mod config;
mod connection;
pub mod external;
pub mod file_auth;
mod handle;
mod message;
pub mod persist;
pub mod rate_limit;
mod router;
mod server;
pub mod stats;
pub mod topic;
pub mod transport;

pub use config::{BrokerConfig, Limits, QueueFullPolicy, TlsConfig};
pub use handle::BrokerHandle;
pub use server::{Broker, BrokerError, LocalAddrs};
pub use stats::StatsSnapshot;
