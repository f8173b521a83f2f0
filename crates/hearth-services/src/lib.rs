//! Hearth's services: the rules of the hub, written against `dyn Store` and `dyn Bus`
//! so that they know neither SQL nor sockets.
//!
//! # Layout
//! - `registry`: [`Registry`], adding and changing groups, users, applications and
//!   devices with validation, generated secrets and an audit trail; used by the CLI and
//!   the HTTP API alike.
//! - `automations`: [`automations::Automations`], storing and checking automations and
//!   scenes (no engine runs them yet).
//! - `auth`: [`RegistryAuthorizer`], the broker's `Authorizer` backed by the registry,
//!   and the watcher that disconnects revoked clients.
//! - `commands`: [`commands::Commands`], remote control with acknowledgements.
//! - `discovery`: [`discovery::Discovery`], Home Assistant MQTT discovery: announced
//!   devices listed until adopted (issue 18).
//! - `dynsec`: [`dynsec::DynsecSync`], keeping Mosquitto's dynamic-security plugin in
//!   step with the registry (issue 21).
//! - `ingest`: [`ingest::Ingest`], device messages into history and live state with
//!   group commit, and presence.
//! - `layouts`: topic layouts at work (issue 18): the directory in the authorizer's
//!   snapshot, the translator of foreign messages, the commands' encoder.
//! - `lease`: [`lease::Leadership`], the store-backed lease that makes one of several
//!   nodes sharing a database the coordinator (issue 21).
//! - `login_limit`: [`LoginLimiter`], the limit on password guessing shared by the HTTP
//!   and MQTT logins.
//! - `ota`: [`ota::Ota`], firmware images and rollouts over the air (issue 17).
//! - `retention`: hourly rollups and retention of history, run by the hub.
//! - `secret`: generating secrets and hashing and checking them with argon2.

pub mod alerts;
pub mod auth;
pub mod automations;
pub mod bridge;
pub mod commands;
pub mod discovery;
pub mod dynsec;
pub mod ingest;
pub mod layouts;
pub mod lease;
pub mod login_limit;
pub mod notify;
pub mod oidc;
pub mod ota;
pub mod outbound;
pub mod registry;
pub mod retention;
pub mod secret;

pub use auth::{AuthCounters, RegistryAuthorizer};
pub use login_limit::LoginLimiter;
pub use registry::{Registry, RegistryError};
