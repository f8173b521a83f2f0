//! One router per resource; `crate::router` nests them under `/api/v1`.

pub mod alerts;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod automations;
pub mod bridge;
pub mod broker_auth;
pub mod commands;
pub mod confirmations;
pub mod devices;
pub mod discovered;
pub mod firmware;
pub mod groups;
pub mod history;
pub mod hooks;
pub mod layouts;
pub mod log_level;
pub mod notifications;
pub mod ops;
pub mod places;
pub mod rollouts;
pub mod scenes;
pub mod sites;
pub mod taken;
pub mod tokens;
pub mod users;
