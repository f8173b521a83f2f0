//! Remote control (SPEC §4, seed 003): commands with truthful statuses.
//!
//! `send` records a command (`pending`), publishes it on
//! `devices/{id}/commands/{name}` as soon as the device is online (`sent`), and waits
//! for the device's answer on `devices/{id}/commands/{name}/ack` — the same topic is
//! given as the MQTT 5 response topic, with the command id as correlation data, so
//! request/response devices land there too. The answer makes it `acked` or `failed`,
//! with the device's `result` and reported `state`; silence makes it `timeout`, and so
//! does a command whose device did not come back before its TTL. Every change is stored
//! first and then published on `devices/{id}/command-status` (JSON of the command), so
//! the web app sees outcomes live and never shows a state the device did not confirm.
//! A change the store refused is neither applied nor announced: it is logged, counted
//! ([`CommandCounters`]) and tried again.
//!
//! One task owns every open command and one ordered set of deadlines (expiry while
//! pending, the acknowledgement window once sent), so a command that may wait days
//! costs two entries, not a task or a timer.
//!
//! # Layout
//! - `service`: [`Commands`], the handle (send, get, list, shutdown), and [`record_new`].
//! - `worker`: the task: delivery, answers, deadlines, adoption of CLI commands.
//! - `encode`: [`CommandEncoder`], the seam for devices with a topic layout.

mod encode;
mod service;
mod worker;

pub use encode::CommandEncoder;
pub use service::{CommandConfig, CommandCounters, CommandError, Commands, record_new};
