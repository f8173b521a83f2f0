//! How long an application's raw messages are kept (issue 19): the accepted range and
//! the audited change. The retention task (`history` retention) reads the stored value;
//! `None` means the hub's default from `[history]`.

use super::{Registry, RegistryError};
use hearth_model::{AppId, Application, NewAuditEntry};
use serde_json::json;
use std::ops::RangeInclusive;

/// Accepted retention of raw messages, in days: at least a day (shorter would delete
/// messages before anyone looked at them), at most ten years.
pub const MESSAGE_RETENTION_DAYS: RangeInclusive<u32> = 1..=3650;

/// Checks a retention in days (`None`: the hub's default); the error names the field
/// `message_retention_days` as the API and the CLI spell it.
pub fn check_message_retention(days: Option<u32>) -> Result<Option<u32>, RegistryError> {
    match days {
        Some(days) if !MESSAGE_RETENTION_DAYS.contains(&days) => Err(RegistryError::invalid(
            "message_retention_days",
            format!(
                "{days} is out of range: keep raw messages {} to {} days, or leave it unset \
                 for the hub's default",
                MESSAGE_RETENTION_DAYS.start(),
                MESSAGE_RETENTION_DAYS.end()
            ),
        )),
        days => Ok(days),
    }
}

impl Registry {
    /// Sets how many days the raw messages of `id`'s devices are kept (`None`: the hub's
    /// default), audited as `app.message_retention`; returns the application as stored.
    pub async fn set_app_message_retention(
        &self,
        actor: &str,
        id: &AppId,
        days: Option<u32>,
    ) -> Result<Application, RegistryError> {
        let days = check_message_retention(days)?;
        self.store
            .set_app_message_retention(
                id,
                days,
                &NewAuditEntry::new(actor, "app.message_retention", id)
                    .with_detail(json!({ "message_retention_days": days })),
            )
            .await?;
        self.changed();
        Ok(self.store.app(id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_ends_are_accepted_and_the_field_is_named_outside_it() {
        assert_eq!(check_message_retention(None).unwrap(), None);
        assert_eq!(check_message_retention(Some(1)).unwrap(), Some(1));
        assert_eq!(check_message_retention(Some(3650)).unwrap(), Some(3650));
        for days in [0, 3651, u32::MAX] {
            let error = check_message_retention(Some(days)).unwrap_err();
            assert!(
                matches!(&error, RegistryError::Invalid { field, .. } if field == "message_retention_days"),
                "{days}: {error}"
            );
        }
    }
}
