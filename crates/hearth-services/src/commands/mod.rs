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
//! Several Hearth nodes may share the store (external-broker mode), each with this
//! service: a device's answer then reaches one of them, which may not be the sender;
//! see `worker/shared.rs` and docs/scale.md "Commands across nodes".
//!
//! One task owns every open command and one ordered set of deadlines (expiry while
//! pending, the acknowledgement window once sent), so a command that may wait days
//! costs two entries, not a task or a timer.
//!
//! # Layout
//! - `service`: [`Commands`], the handle (send, get, list, shutdown), and [`record_new`].
//! - `worker`: the task: delivery, answers, deadlines.
//! - `worker/shared.rs`: the store shared with the CLI and other Hearth nodes: every
//!   write a compare and set on the status last seen, the adoption tick, and in cluster
//!   mode ([`CommandOptions::cluster`]) a claim in the store before each publish.
//! - `encode`: [`CommandEncoder`], the seam for devices with a topic layout.

mod encode;
mod service;
mod worker;

pub use encode::CommandEncoder;
pub use service::{
    CommandConfig, CommandCounters, CommandError, CommandOptions, Commands, record_new,
};
