//! [`FailingStore`]'s forwarding of the claim store (never made to fail).

use super::failing_store::FailingStore;
use async_trait::async_trait;
use hearth_model::{AppId, DeviceId, Millis, NewAuditEntry, UserName};
use hearth_store::{ClaimState, ClaimStore, StoreResult};

#[async_trait]
impl ClaimStore for FailingStore {
    async fn claim_state(&self, id: &DeviceId) -> StoreResult<ClaimState> {
        self.inner().claim_state(id).await
    }
    async fn make_unclaimed(
        &self,
        id: &DeviceId,
        holding: &AppId,
        code_hash: &str,
        secret_hash: Option<&str>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner()
            .make_unclaimed(id, holding, code_hash, secret_hash, audit)
            .await
    }
    async fn claim_device(
        &self,
        id: &DeviceId,
        code_hash: &str,
        app: &AppId,
        owner: &UserName,
        room: Option<&str>,
        now_ms: Millis,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner()
            .claim_device(id, code_hash, app, owner, room, now_ms, audit)
            .await
    }
    async fn owned_devices(&self, owner: &UserName) -> StoreResult<Vec<DeviceId>> {
        self.inner().owned_devices(owner).await
    }
}
