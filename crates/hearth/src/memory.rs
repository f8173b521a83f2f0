//! Giving freed memory back to the system.
//!
//! glibc's allocator keeps memory a process freed for its own reuse instead of returning
//! it, so a burst (50,000 subscriptions from one client, a flood of queued messages)
//! would leave a small board's hub at its peak size long after the broker freed
//! everything. Measured: 50,000 long filters grew the hub by 132 MB; after the client
//! left, the broker's index was back to its baseline but the process still held
//! 132 MB, and one `malloc_trim(0)` brought it back to 1.5 MB over the baseline. A trim
//! once a minute costs a few milliseconds of one thread; other allocators (musl's)
//! return memory by themselves, and the task does nothing there.
//!
//! Under sustained ingest (issue 19) the allocator mattered as much as what the hub
//! holds: at ~112 MB of live heap (heaptrack: SQLite's page cache and statements ~77 MB,
//! ingest's batches and reports ~30 MB) the process was at ~230 MB, glibc keeping one
//! arena per thread that allocated (tokio's workers, sqlx's four connection threads,
//! the blocking pool) and growing its mmap threshold to the largest buffer freed, so
//! that batch-sized buffers came from the arenas and pinned them.
//! [`configure_allocator`] caps both; the SQLite side is in hearth-store's
//! `sqlite/memory.rs`; [`bound`] adds it all up for the line the hub logs at start.
//! docs/history-performance.md ("Memory") has the measurements.

use std::time::Duration;

/// How often freed memory is handed back: often enough that the cache SQLite releases
/// once ingest stops (15-30 s after the last batch) leaves the process within a minute.
const TRIM_INTERVAL: Duration = Duration::from_secs(20);

/// glibc arenas at most. Threads beyond share them; small allocations go through each
/// thread's cache (tcache) first, so sharing costs little. Measured on a 1,000-device
/// ingest run: peak 231 MB with the default (8 per core), 186 MB with 2.
const ARENA_MAX: i32 = 2;

/// Allocations from this size up are mapped (and unmapped when freed) rather than
/// carved out of an arena; setting it also stops glibc from raising it to the largest
/// block freed so far (up to 32 MiB), which is what let batch buffers pin arena memory.
/// The top of an arena above the same size is given back on free.
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Idle hub: resident size before any load (measured 34-35 MiB with 1,000 devices
/// registered; docs/history-performance.md), rounded up.
const BASELINE_MIB: u64 = 40;
/// SQLite's prepared statements beside its page cache: ingest's multi-row INSERTs of
/// up to 4,096 rows are ~1 MiB each, a handful per pooled connection.
const SQLITE_STATEMENTS_MIB: u64 = 16;
/// One queued message, its batch rows (message, points, live update) and SQL arguments,
/// with a small payload; a batch is built while the previous one commits, hence two.
const INGEST_BYTES_PER_MESSAGE: u64 = 1024;
/// One data report waiting for the automation engine (its parsed JSON payload).
const REPORT_BYTES: u64 = 512;
/// Allocator slack over what is live (arena fragmentation), percent.
const SLACK_PERCENT: u64 = 15;

/// Caps glibc's arenas and fixes its mmap threshold (see [`ARENA_MAX`],
/// [`MMAP_THRESHOLD`]). Call before the hub starts its threads: an arena, once a
/// thread has one, stays.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn configure_allocator() {
    // SAFETY: mallopt only changes the allocator's tuning parameters (under glibc's
    // own lock) and touches no memory the program holds.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENA_MAX);
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, MMAP_THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn configure_allocator() {}

/// What the hub's resident size stays under during sustained ingest, from the
/// configuration: MiB per part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryBound {
    pub baseline_mib: u64,
    /// Zero on PostgreSQL (the cache is the server's).
    pub sqlite_mib: u64,
    pub ingest_mib: u64,
    pub reports_mib: u64,
    pub slack_mib: u64,
}

impl MemoryBound {
    pub fn total_mib(&self) -> u64 {
        self.baseline_mib + self.sqlite_mib + self.ingest_mib + self.reports_mib + self.slack_mib
    }
}

impl std::fmt::Display for MemoryBound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "memory bound ~{} MB: baseline {} + SQLite {} (page cache limit {} over {} \
             connections + statements) + ingest batches {} + automation reports {} + \
             allocator slack {}",
            self.total_mib(),
            self.baseline_mib,
            self.sqlite_mib,
            hearth_store::SqliteStore::HEAP_LIMIT_BYTES >> 20,
            // The readers' pool and the one writer.
            hearth_store::SqliteStore::POOL_SIZE + 1,
            self.ingest_mib,
            self.reports_mib,
            self.slack_mib
        )
    }
}

/// The bound for a hub with `ingest` settings on SQLite (`sqlite`) or PostgreSQL.
pub fn bound(ingest: &hearth_services::ingest::IngestConfig, sqlite: bool) -> MemoryBound {
    let mib = |bytes: u64| bytes.div_ceil(1 << 20);
    let sqlite_mib = if sqlite {
        mib(hearth_store::SqliteStore::HEAP_LIMIT_BYTES as u64) + SQLITE_STATEMENTS_MIB
    } else {
        0
    };
    let ingest_mib = mib(2 * ingest.max_batch as u64 * INGEST_BYTES_PER_MESSAGE);
    let reports_mib = mib(hearth_services::ingest::REPORTS_CAPACITY as u64 * REPORT_BYTES);
    let live = BASELINE_MIB + sqlite_mib + ingest_mib + reports_mib;
    MemoryBound {
        baseline_mib: BASELINE_MIB,
        sqlite_mib,
        ingest_mib,
        reports_mib,
        slack_mib: live * SLACK_PERCENT / 100,
    }
}

/// Spawns the task that trims the heap every [`TRIM_INTERVAL`]; it runs until the
/// runtime stops.
pub fn spawn_trimmer() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut interval = tokio::time::interval(TRIM_INTERVAL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            // On the blocking pool: a trim walks the heap's free lists.
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    })
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only releases free pages at the top of glibc's heaps and
    // in its arenas; it touches no memory the program holds.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_follows_the_batch_limit_and_the_backend() {
        let ingest = hearth_services::ingest::IngestConfig::default();
        let sqlite = bound(&ingest, true);
        // 64 MiB of page cache + 16 of statements; 2 x 20,000 x 1 KiB of batches.
        assert_eq!(sqlite.sqlite_mib, 80);
        assert_eq!(sqlite.ingest_mib, 40);
        assert_eq!(sqlite.reports_mib, 32);
        assert_eq!(sqlite.total_mib(), 192 + 192 * 15 / 100);
        let postgres = bound(&ingest, false);
        assert_eq!(postgres.sqlite_mib, 0);
        let small = hearth_services::ingest::IngestConfig {
            max_batch: 5_000,
            ..ingest
        };
        assert_eq!(bound(&small, true).ingest_mib, 10);
        let line = sqlite.to_string();
        assert!(line.starts_with("memory bound ~220 MB: "), "{line}");
        assert!(
            line.contains("page cache limit 64 over 5 connections"),
            "{line}"
        );
    }
}
