//! Claiming devices (issue 23): a device registered unclaimed waits in a holding
//! application with the hash of a one-time claim code; a person who shows the code
//! claims it into their group and becomes its owner. The rules (who may claim, rate
//! limits, which application) are `hearth_services::claims`'; this is only storage.

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::{AppId, DeviceId, Millis, NewAuditEntry, UserName};

/// A device's claim state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimState {
    /// The hash of the claim code while the device waits to be claimed (`None` once it
    /// has been claimed, or for a device that was never registered unclaimed).
    pub code_hash: Option<String>,
    /// The person who claimed it (`None` if unclaimed, never claimed, or the person
    /// was deleted).
    pub owner: Option<UserName>,
    /// When it was claimed.
    pub claimed_at_ms: Option<Millis>,
}

impl ClaimState {
    /// Whether the device waits to be claimed.
    pub fn unclaimed(&self) -> bool {
        self.code_hash.is_some()
    }
}

/// Claim codes and owners, each change one transaction with its audit entry.
#[async_trait]
pub trait ClaimStore: Send + Sync {
    /// `NotFound` for an unknown device.
    async fn claim_state(&self, id: &DeviceId) -> StoreResult<ClaimState>;
    /// Makes the device wait to be claimed with a new code (the previous one stops
    /// working): moves it into `holding`, clears its owner, room and claim time, and,
    /// with `secret_hash`, replaces its secret and drops its client certificate (an
    /// unclaim, so that the previous household's copy of the secret stops working).
    /// `NotFound` for an unknown device.
    async fn make_unclaimed(
        &self,
        id: &DeviceId,
        holding: &AppId,
        code_hash: &str,
        secret_hash: Option<&str>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Claims the device if its stored code hash is still `code_hash` (compare and set:
    /// of two claims racing with the same code, one wins): moves it into `app`, sets
    /// `owner`, the room (if given) and the claim time, and spends the code. `NotFound`
    /// ("device") when the device is gone or its code changed or was spent meanwhile.
    #[allow(clippy::too_many_arguments)]
    async fn claim_device(
        &self,
        id: &DeviceId,
        code_hash: &str,
        app: &AppId,
        owner: &UserName,
        room: Option<&str>,
        now_ms: Millis,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// The devices `owner` owns, by id.
    async fn owned_devices(&self, owner: &UserName) -> StoreResult<Vec<DeviceId>>;
}
