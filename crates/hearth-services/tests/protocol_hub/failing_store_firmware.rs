//! [`FirmwareStore`] for the failing store: forwarded as is (OTA writes never fail on
//! demand).

use super::failing_store::FailingStore;
use async_trait::async_trait;
use hearth_model::*;
use hearth_store::*;

#[async_trait]
impl FirmwareStore for FailingStore {
    async fn insert_firmware(&self, firmware: &Firmware, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner().insert_firmware(firmware, audit).await
    }
    async fn firmware(&self, id: &str) -> StoreResult<Firmware> {
        self.inner().firmware(id).await
    }
    async fn firmware_list(&self) -> StoreResult<Vec<Firmware>> {
        self.inner().firmware_list().await
    }
    async fn delete_firmware(&self, id: &str, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner().delete_firmware(id, audit).await
    }
    async fn firmware_file_used(&self, sha256: &str) -> StoreResult<bool> {
        self.inner().firmware_file_used(sha256).await
    }
    async fn insert_rollout(
        &self,
        rollout: &Rollout,
        targets: &[RolloutTarget],
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().insert_rollout(rollout, targets, audit).await
    }
    async fn update_rollout(
        &self,
        rollout: &Rollout,
        targets: &[RolloutTarget],
        audit: Option<&NewAuditEntry>,
    ) -> StoreResult<()> {
        self.inner().update_rollout(rollout, targets, audit).await
    }
    async fn rollout(&self, id: &str) -> StoreResult<Rollout> {
        self.inner().rollout(id).await
    }
    async fn rollouts(&self) -> StoreResult<Vec<Rollout>> {
        self.inner().rollouts().await
    }
    async fn rollout_targets(&self, rollout: &str) -> StoreResult<Vec<RolloutTarget>> {
        self.inner().rollout_targets(rollout).await
    }
    async fn update_rollout_target(&self, target: &RolloutTarget) -> StoreResult<()> {
        self.inner().update_rollout_target(target).await
    }
    async fn rollout_target_by_token(&self, token_sha256: &str) -> StoreResult<RolloutTarget> {
        self.inner().rollout_target_by_token(token_sha256).await
    }
    async fn rollout_target_by_command(&self, command: &str) -> StoreResult<RolloutTarget> {
        self.inner().rollout_target_by_command(command).await
    }
    async fn open_rollout_targets(&self, device: &DeviceId) -> StoreResult<Vec<RolloutTarget>> {
        self.inner().open_rollout_targets(device).await
    }
}
