//! SQLite's share of the hub's memory: one limit for the whole process, and the cache
//! handed back once writes stop (issue 19, docs/history-performance.md "Memory").
//!
//! Measured before: under full-rate ingest the hub grew from ~35 MB to ~235 MB within
//! 20 s and stayed at ~90-100 MB after the load stopped. Most of it was SQLite's page
//! cache: each pooled connection may cache [`super::CACHE_SIZE`] (64 MiB), the pool
//! hands every connection in turn to the ingest writer, so all of them filled up as the
//! database outgrew 64 MiB. The bundled SQLite is built with
//! `SQLITE_ENABLE_MEMORY_MANAGEMENT`, so all connections share one page-cache group and
//! honour one process-wide soft heap limit: past it, a connection that needs a page
//! recycles the least recently used clean page of any connection instead of allocating.
//! The writer may still use up to the whole limit for one batch's dirty pages; the
//! pool's total stays at the limit.

use sqlx::SqlitePool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// SQLite's heap across every connection of the process (page caches, prepared
/// statements, schema), in bytes (`PRAGMA soft_heap_limit`). One ingest batch of 20,000
/// messages from 1,000 devices dirties about 4,000 pages (16 MiB: a leaf per device in
/// `messages_by_device`, per series in `points_by_series`, the appended rows); the rest
/// keeps the indexes' upper levels and the recent leaves cached. The same rate as with
/// 4 × 64 MiB was measured with this limit (docs/history-performance.md).
pub const HEAP_LIMIT_BYTES: i64 = 64 * 1024 * 1024;

/// How often the idle check runs; the cache is released between one and two of these
/// after the last ingest batch.
const IDLE_CHECK: Duration = Duration::from_secs(15);

/// Ingest batches written by this process (any SQLite store): the idle check compares it.
static BATCHES: AtomicU64 = AtomicU64::new(0);

/// Counts an ingest batch (called by `write_batch`).
pub(super) fn note_batch() {
    BATCHES.fetch_add(1, Ordering::Relaxed);
}

/// Releases the cached pages of every connection once no batch was written for an
/// [`IDLE_CHECK`], and again after each later burst: a hub that ingested at full rate
/// for a while goes back to its idle size (the hub's allocator trim, every minute, then
/// returns the freed memory to the system). Runs until the pool closes; the store aborts
/// it when dropped.
pub(super) fn spawn_idle_release(pool: SqlitePool) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let mut seen = BATCHES.load(Ordering::Relaxed);
        let mut released = seen;
        let mut tick = tokio::time::interval(IDLE_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if pool.is_closed() {
                return;
            }
            let now = BATCHES.load(Ordering::Relaxed);
            if now == seen && now != released {
                // In the shared page-cache group, one connection's shrink frees the
                // unused pages of all of them.
                match sqlx::query("PRAGMA shrink_memory").execute(&pool).await {
                    Ok(_) => released = now,
                    Err(error) => tracing::debug!("SQLite shrink_memory failed: {error}"),
                }
            }
            seen = now;
        }
    })
    .abort_handle()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limit is SQLite's (process-wide) and every pooled connection sets it; a
    /// build of SQLite without memory management would answer 0 or ignore it.
    #[tokio::test]
    async fn every_connection_runs_under_the_heap_limit() {
        let directory = tempfile::tempdir().unwrap();
        let store = super::super::SqliteStore::open(&directory.path().join("hearth.db"))
            .await
            .unwrap();
        let mut held = Vec::new();
        for _ in 0..super::super::POOL_SIZE {
            let mut connection = store.pool.acquire().await.unwrap();
            let limit: i64 = sqlx::query_scalar("PRAGMA soft_heap_limit")
                .fetch_one(&mut *connection)
                .await
                .unwrap();
            assert_eq!(limit, HEAP_LIMIT_BYTES);
            held.push(connection);
        }
        drop(held);
        // One connection's shrink_memory is what the idle release runs.
        sqlx::query("PRAGMA shrink_memory")
            .execute(&store.pool)
            .await
            .unwrap();
        store.pool.close().await;
    }
}
