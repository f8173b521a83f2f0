//! The device side of Hearth (SPEC §4): what a simulated device, the `hearth agent` on a
//! Linux board, or a firmware-update handler needs to be a well-behaved device.
//!
//! - [`DeviceClient::connect`] logs in as `{id}` with the device's secret (MQTT 5, so
//!   commands' correlation data comes through), with a retained `offline` will on
//!   `devices/{id}/status`; at every login it subscribes to `devices/{id}/commands/#`
//!   and says `online` (retained). It reconnects by itself with jittered exponential
//!   back-off ([`Backoff`]) and sends heartbeats every `heartbeat_secs`.
//! - Reports: [`DeviceClient::publish_data`], [`DeviceClient::publish_event`],
//!   [`DeviceClient::heartbeat`], and `..._at` variants that carry the original time
//!   stamp `ts` (epoch ms) for readings sent late from a queue.
//! - Devices that move (issue 20): [`DeviceConfig::fallbacks`] lists more hubs in
//!   order of preference; the client moves to the next when the one in use is gone,
//!   probes the preferred ones while away and moves back, and sends the readings the
//!   lost hub never acknowledged to the next ([`DeviceClient::endpoint`] says where it
//!   is).
//! - Connection state: [`DeviceClient::state`] and [`DeviceClient::state_changes`] (a
//!   watch); publishing while not connected fails at once with
//!   [`DeviceError::NotConnected`], so that a caller can queue instead of losing data.
//! - Commands: the [`Commands`] stream of [`Command`]s answered with [`Command::ack`],
//!   or a chain of [`CommandHandler`]s run by [`dispatch`] (the extension point for
//!   handlers such as firmware updates).
//!
//! It depends on nothing of the hub's but the topic grammar (`hearth-model`), so that it
//! stays small enough for a Raspberry Pi.
//!
//! # Layout
//! - `config`: [`DeviceConfig`], [`Backoff`], [`SplitMix`] (seeded randomness).
//! - `client`: [`DeviceClient`], [`ConnectionState`], the connection task.
//! - `route`: the order of endpoints, moves and probes.
//! - `command`: [`Command`], [`Ack`], [`Commands`], [`CommandHandler`], [`dispatch`].
//! - `ota`: [`ota::OtaHandler`], the `ota` command: download, verify, install, report.
//! - `tls`: [`DeviceTls`], MQTTS with the hub's CA (or the system's roots) and an
//!   optional client certificate.

mod client;
mod command;
mod config;
pub mod ota;
mod route;
mod tls;

pub use client::{ConnectionState, DeviceClient};
pub use command::{Ack, Command, CommandHandler, Commands, dispatch};
pub use config::{Backoff, DeviceConfig, Endpoint, SplitMix};
pub use hearth_model::DeviceId;
pub use tls::{DeviceTls, TlsError};

/// Why a device could not do what it was asked.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DeviceError {
    /// Not logged in right now: queue the report or drop it, it was not sent.
    #[error("not connected to the hub")]
    NotConnected,
    /// The connection task has stopped (shutdown, or every handle dropped).
    #[error("the device client has stopped")]
    Closed,
    /// A time stamp can only be added to a JSON object.
    #[error("the payload is not a JSON object")]
    NotAnObject,
}

/// Now, in milliseconds since the Unix epoch (the unit of `ts`).
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}
