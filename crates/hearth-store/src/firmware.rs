//! Firmware images, rollouts and each device's progress (issue 17).

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::{DeviceId, Firmware, NewAuditEntry, Rollout, RolloutTarget};

/// Images (audited), rollouts (audited when people change them) and rollout targets
/// (written by the hub as devices report, not audited: the command and its status are).
#[async_trait]
pub trait FirmwareStore: Send + Sync {
    /// `Conflict` if the id is taken.
    async fn insert_firmware(&self, firmware: &Firmware, audit: &NewAuditEntry) -> StoreResult<()>;
    async fn firmware(&self, id: &str) -> StoreResult<Firmware>;
    /// Every image, newest first.
    async fn firmware_list(&self) -> StoreResult<Vec<Firmware>>;
    /// `Conflict` while a rollout uses it.
    async fn delete_firmware(&self, id: &str, audit: &NewAuditEntry) -> StoreResult<()>;
    /// Whether another image record has this file (the file is shared by digest).
    async fn firmware_file_used(&self, sha256: &str) -> StoreResult<bool>;

    /// Stores a rollout with its targets in one transaction.
    async fn insert_rollout(
        &self,
        rollout: &Rollout,
        targets: &[RolloutTarget],
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Replaces the rollout and the given targets in one transaction, with `audit`
    /// when someone asked for the change.
    async fn update_rollout(
        &self,
        rollout: &Rollout,
        targets: &[RolloutTarget],
        audit: Option<&NewAuditEntry>,
    ) -> StoreResult<()>;
    async fn rollout(&self, id: &str) -> StoreResult<Rollout>;
    /// Every rollout, newest first.
    async fn rollouts(&self) -> StoreResult<Vec<Rollout>>;
    /// A rollout's devices, by device id.
    async fn rollout_targets(&self, rollout: &str) -> StoreResult<Vec<RolloutTarget>>;
    /// Replaces one target (the hub's progress tracking).
    async fn update_rollout_target(&self, target: &RolloutTarget) -> StoreResult<()>;
    /// The target whose download token has this SHA-256 (`NotFound` otherwise).
    async fn rollout_target_by_token(&self, token_sha256: &str) -> StoreResult<RolloutTarget>;
    /// The target an `ota` command was sent for (`NotFound` otherwise).
    async fn rollout_target_by_command(&self, command: &str) -> StoreResult<RolloutTarget>;
    /// A device's targets that are not final (in rollouts of any state).
    async fn open_rollout_targets(&self, device: &DeviceId) -> StoreResult<Vec<RolloutTarget>>;
}
