//! People's links to identity providers (issue 23, OpenID Connect sign-in): which
//! registry person a provider's subject is. `hearth-services`' `oidc` decides when a
//! link is made (a verified e-mail address, or registration); this only keeps them.

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::{Millis, NewAuditEntry, UserName};

/// One person's link to one provider's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIdentity {
    /// The provider's id in `hearth.toml` (`[[oidc.providers]] id`).
    pub provider: String,
    /// The provider's `sub` for this person (stable and unique per provider).
    pub subject: String,
    pub user: UserName,
    /// The e-mail address the provider vouched for when the link was made, if any.
    pub email: Option<String>,
    pub created_at_ms: Millis,
    pub last_used_ms: Millis,
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// A sign-in through `(provider, subject)`: the person it is linked to, with the
    /// link marked used at `now_ms` and a `user.sign_in` audit entry by `actor` (target
    /// the person, detail the provider) in the same transaction; `None` (nothing
    /// written) when the subject is linked to nobody.
    async fn sign_in_identity(
        &self,
        provider: &str,
        subject: &str,
        now_ms: Millis,
        actor: &str,
    ) -> StoreResult<Option<UserName>>;
    /// Links `(identity.provider, identity.subject)` to `identity.user`, with `audit` in
    /// the same transaction. `Conflict` when the subject is already linked (to anyone),
    /// `NotFound` when the person does not exist.
    async fn link_identity(
        &self,
        identity: &UserIdentity,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// A person's links, newest first.
    async fn identities_of(&self, user: &UserName) -> StoreResult<Vec<UserIdentity>>;
    /// The people whose stored e-mail address is `email`, compared without regard to
    /// ASCII case (a provider may spell the domain in capitals). More than one means the
    /// address names nobody for sure.
    async fn users_with_email(&self, email: &str) -> StoreResult<Vec<UserName>>;
}
