//! `/metrics` for the history upkeep (issue 19): compaction and retention rounds, what
//! they moved and deleted, how long the last one took. A stalled or failing compaction
//! shows here long before the disk fills.

use hearth_services::retention::UpkeepCounters;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub(crate) fn feed(state: &hearth_api::AppState, counters: Arc<UpkeepCounters>) {
    state.metrics().add_collector(move |out| {
        for (name, help, counter) in [
            (
                "hearth_history_rounds_total",
                "history compaction and retention rounds done",
                &counters.rounds,
            ),
            (
                "hearth_history_failed_rounds_total",
                "history compaction and retention rounds that failed (retried next interval)",
                &counters.failures,
            ),
            (
                "hearth_history_compacted_points_total",
                "numeric readings moved from plain rows into blocks",
                &counters.compacted_points,
            ),
            (
                "hearth_history_compacted_messages_total",
                "raw messages moved from plain rows into blocks",
                &counters.compacted_messages,
            ),
            (
                "hearth_history_blocks_written_total",
                "point and message blocks written (a late reading rewrites its block)",
                &counters.blocks_written,
            ),
            (
                "hearth_history_pruned_total",
                "rows deleted by retention (readings, tier rows, messages, presence changes)",
                &counters.pruned,
            ),
        ] {
            out.counter(name, help, &[], counter.load(Ordering::Relaxed) as f64);
        }
        out.gauge(
            "hearth_history_last_round_seconds",
            "how long the last history compaction and retention round took",
            &[],
            counters.last_round_ms.load(Ordering::Relaxed) as f64 / 1e3,
        );
    });
}
