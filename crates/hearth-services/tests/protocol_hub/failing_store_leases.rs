//! [`FailingStore`]'s forwarding of the lease store (never made to fail).

use super::failing_store::FailingStore;
use async_trait::async_trait;
use hearth_model::Millis;
use hearth_store::{LeaseStore, StoreResult};

#[async_trait]
impl LeaseStore for FailingStore {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: Millis,
        ttl_ms: Millis,
    ) -> StoreResult<Option<Millis>> {
        self.inner()
            .acquire_lease(name, holder, now_ms, ttl_ms)
            .await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<bool> {
        self.inner().release_lease(name, holder).await
    }
    async fn lease_holder(&self, name: &str) -> StoreResult<Option<(String, Millis)>> {
        self.inner().lease_holder(name).await
    }
}
