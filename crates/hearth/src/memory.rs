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

use std::time::Duration;

/// How often freed memory is handed back.
const TRIM_INTERVAL: Duration = Duration::from_secs(60);

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
