//! [`FailingStore`]'s forwarding of the registry mirror's store (never made to fail).

use super::failing_store::FailingStore;
use async_trait::async_trait;
use hearth_model::SiteId;
use hearth_store::{
    MirrorApplied, MirrorConflict, MirrorDevice, MirrorSnapshot, MirrorState, MirrorStore,
    PushedDevice, StoreResult,
};

#[async_trait]
impl MirrorStore for FailingStore {
    async fn mirror_snapshot(&self, site: &SiteId) -> StoreResult<MirrorSnapshot> {
        self.inner().mirror_snapshot(site).await
    }
    async fn accept_site_device(
        &self,
        site: &SiteId,
        device: &MirrorDevice,
        actor: &str,
    ) -> StoreResult<PushedDevice> {
        self.inner().accept_site_device(site, device, actor).await
    }
    async fn site_conflicts(&self, site: &SiteId) -> StoreResult<Vec<MirrorConflict>> {
        self.inner().site_conflicts(site).await
    }
    async fn apply_mirror(
        &self,
        snapshot: &MirrorSnapshot,
        actor: &str,
    ) -> StoreResult<MirrorApplied> {
        self.inner().apply_mirror(snapshot, actor).await
    }
    async fn mirror_state(&self) -> StoreResult<Option<MirrorState>> {
        self.inner().mirror_state().await
    }
    async fn unmirrored_devices(&self) -> StoreResult<Vec<MirrorDevice>> {
        self.inner().unmirrored_devices().await
    }
}
