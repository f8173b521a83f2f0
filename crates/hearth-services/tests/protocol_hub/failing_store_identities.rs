//! [`FailingStore`]'s forwarding of people's links to identity providers (never made to
//! fail).

use super::failing_store::FailingStore;
use async_trait::async_trait;
use hearth_model::{Millis, NewAuditEntry, UserName};
use hearth_store::{IdentityStore, StoreResult, UserIdentity};

#[async_trait]
impl IdentityStore for FailingStore {
    async fn sign_in_identity(
        &self,
        provider: &str,
        subject: &str,
        now_ms: Millis,
        actor: &str,
    ) -> StoreResult<Option<UserName>> {
        self.inner()
            .sign_in_identity(provider, subject, now_ms, actor)
            .await
    }
    async fn link_identity(
        &self,
        identity: &UserIdentity,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().link_identity(identity, audit).await
    }
    async fn identities_of(&self, user: &UserName) -> StoreResult<Vec<UserIdentity>> {
        self.inner().identities_of(user).await
    }
    async fn users_with_email(&self, email: &str) -> StoreResult<Vec<UserName>> {
        self.inner().users_with_email(email).await
    }
}
