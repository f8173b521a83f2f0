//! Leases (issue 21): a named right to do something alone among several Hearth nodes
//! sharing one database, held until it expires unless renewed. `hearth-services`'
//! `lease::Leadership` builds the coordinator on it (docs/scale.md "The coordinator
//! lease").

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::Millis;

/// Named leases, each taken or renewed by one statement, so that two nodes racing for
/// the same lease cannot both win. Times are the caller's clock (SQLite has no server
/// clock to ask): nodes sharing a database must keep their clocks in agreement, well
/// within the margin by which a holder steps down before its lease expires.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes the lease `name` for `holder` until `now_ms + ttl_ms` if it is free, has
    /// expired (`expires_at_ms <= now_ms`) or is already `holder`'s (a renewal, which
    /// keeps its acquisition time). `Some(expiry)` when `holder` holds it after the
    /// call, `None` when another holder's lease is still live (nothing changed).
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: Millis,
        ttl_ms: Millis,
    ) -> StoreResult<Option<Millis>>;
    /// Gives the lease up if `holder` holds it, so that another node may take it at
    /// once; whether it was `holder`'s. Another holder's lease is left alone.
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<bool>;
    /// Who holds (or last held, if it expired and nobody took it since) the lease, and
    /// until when: `(holder, expires_at_ms)`, `None` if nobody ever took it or it was
    /// released.
    async fn lease_holder(&self, name: &str) -> StoreResult<Option<(String, Millis)>>;
}
