//! The audit log: appending inside a change's transaction, and reading it back. One copy
//! for both backends (included with `#[path]`, see `sql/mod.rs`).

use super::registry::{DbRow, DbTx, get};
use super::statement;
use super::{Db, ThisStore};
use crate::sql::{backend, json_text, json_value};
use crate::{AuditFilter, AuditStore, StoreResult};
use async_trait::async_trait;
use hearth_model::{AuditEntry, NewAuditEntry, now_millis};
use sqlx::QueryBuilder;

/// Rows per multi-row INSERT: 5 parameters each, far below SQLite's 32,766 and
/// PostgreSQL's 65,535 parameters per statement.
const AUDIT_CHUNK: usize = 1_000;

/// Appends `entry` in `tx`, the transaction of the change it describes.
pub(super) async fn write_audit(tx: &mut DbTx, entry: &NewAuditEntry) -> StoreResult<()> {
    statement(
        "INSERT INTO audit_log (at_ms, actor, action, target, detail) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now_millis())
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(json_text(&entry.detail))
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Appends many entries in `tx`, in order (their `seq` increases in slice order).
pub(super) async fn write_audits(tx: &mut DbTx, entries: &[NewAuditEntry]) -> StoreResult<()> {
    let at_ms = now_millis();
    for chunk in entries.chunks(AUDIT_CHUNK) {
        let mut insert: QueryBuilder<Db> =
            QueryBuilder::new("INSERT INTO audit_log (at_ms, actor, action, target, detail) ");
        insert.push_values(chunk, |mut row, entry| {
            row.push_bind(at_ms)
                .push_bind(entry.actor.clone())
                .push_bind(entry.action.clone())
                .push_bind(entry.target.clone())
                .push_bind(json_text(&entry.detail));
        });
        insert.build().execute(&mut **tx).await.map_err(backend)?;
    }
    Ok(())
}

fn entry_from_row(row: &DbRow) -> StoreResult<AuditEntry> {
    Ok(AuditEntry {
        seq: get(row, "seq")?,
        at_ms: get(row, "at_ms")?,
        actor: get(row, "actor")?,
        action: get(row, "action")?,
        target: get(row, "target")?,
        detail: json_value(&get::<String>(row, "detail")?)?,
    })
}

/// The page size when the filter gives none.
const DEFAULT_AUDIT_LIMIT: u32 = 100;

#[async_trait]
impl AuditStore for ThisStore {
    async fn audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let mut select: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT seq, at_ms, actor, action, target, detail FROM audit_log WHERE 1 = 1",
        );
        if let Some(target) = &filter.target {
            select.push(" AND target = ").push_bind(target.clone());
        }
        if let Some(actor) = &filter.actor {
            select.push(" AND actor = ").push_bind(actor.clone());
        }
        if let Some(before_seq) = filter.before_seq {
            select.push(" AND seq < ").push_bind(before_seq);
        }
        if let Some(from_seq) = filter.from_seq {
            select.push(" AND seq >= ").push_bind(from_seq);
        }
        if !filter.action_prefixes.is_empty() {
            // substr rather than LIKE: a prefix is compared as it is, with no
            // wildcards to escape. The length is ours, written as a literal so that
            // PostgreSQL finds substr(text, int, int).
            select.push(" AND (");
            for (n, prefix) in filter.action_prefixes.iter().enumerate() {
                if n > 0 {
                    select.push(" OR ");
                }
                select
                    .push(format!("substr(action, 1, {}) = ", prefix.chars().count()))
                    .push_bind(prefix.clone());
            }
            select.push(")");
        }
        select
            .push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::from(filter.limit.unwrap_or(DEFAULT_AUDIT_LIMIT)));
        let rows = select
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn last_audit_seq(&self) -> StoreResult<i64> {
        // MAX over the primary key: an index lookup, cheap enough to poll.
        let row = statement("SELECT MAX(seq) AS seq FROM audit_log")
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        Ok(get::<Option<i64>>(&row, "seq")?.unwrap_or(0))
    }
}
