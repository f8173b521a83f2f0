//! [`Registry`]: the rules for changing groups, users, applications and devices.
//!
//! The CLI and the HTTP API both go through here, so validation, generated secrets, the
//! audit trail and the first-start owner account behave the same whichever door a change
//! comes in by. Every method takes the `actor` that the audit log records (`cli:root`,
//! `user:alice`...).
//!
//! Ids and names arrive typed (`&DeviceId`, `&AppId`, `&GroupId`, `&UserName`): each
//! door parses what it was given once, with [`parse_id`] when it wants the registry's
//! wording, and nothing here re-checks them. A bare `&str` does not compile:
//!
//! ```compile_fail
//! # async fn f(registry: hearth_services::Registry) {
//! registry.remove_device("cli", "kitchen-temp").await;
//! # }
//! ```
//!
//! The actor stays a `&str`: it is a label for the audit log (`hub`, `cli:root`,
//! `user:alice`, `register:bob`), never looked up, put in a topic or compared, so a
//! type would check nothing that a string does not already say.

mod app_retention;
mod claims;
mod devices;
mod error;
mod layouts;
mod people;
mod site_mirror;
mod sites;

pub use app_retention::{MESSAGE_RETENTION_DAYS, check_message_retention};
pub use claims::{
    CLAIM_CODE_LEN, CLAIM_FAILURES_PER_MINUTE, ClaimError, HOLDING, Unclaimed, claim_app_id,
};
pub use devices::DeviceSpec;
pub use error::{RegistryError, parse_id};
pub use people::{FirstStart, NewUser};
pub use site_mirror::{MIRROR_FILTERS, SiteMirror, SiteMirrorCounters, snapshot_topic};

use hearth_store::Store;
use std::sync::Arc;
use tokio::sync::Notify;

/// Changes the registry. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn Store>,
    /// Rung after every change so that the MQTT authorizer applies revocations at once
    /// (see `RegistryAuthorizer::change_notifier`); a fresh one when nobody listens.
    changed: Arc<Notify>,
    /// Failed claims per person and per device (`claims.rs`), shared by every clone.
    claim_limits: Arc<claims::ClaimLimits>,
}

impl Registry {
    pub fn new(store: Arc<dyn Store>) -> Registry {
        Registry {
            store,
            changed: Arc::new(Notify::new()),
            claim_limits: Arc::new(claims::ClaimLimits::new()),
        }
    }

    /// Rings `changed` after each change (the authorizer's notifier in a running hub).
    pub fn with_change_notifier(mut self, changed: Arc<Notify>) -> Registry {
        self.changed = changed;
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Rings the change notifier (also after the discovery module's registry changes).
    pub(crate) fn changed(&self) {
        self.changed.notify_one();
    }
}

/// Checks a free-text field: trimmed, not empty, at most `max` characters.
fn text(field: &'static str, value: &str, max: usize) -> Result<String, RegistryError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(RegistryError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(RegistryError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(RegistryError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

/// Like [`text`], with an empty value meaning "none".
fn optional_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, RegistryError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => text(field, value, max).map(Some),
    }
}
