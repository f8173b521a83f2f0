//! `/metrics` for the coordinator lease (issue 21, docs/scale.md "The coordinator
//! lease"): whether this node is the coordinator now, and how often it took and lost the
//! lease. Across the nodes of a cluster the gauge sums to 1 (0 for a moment during a
//! hand-over); a single hub is always its own coordinator.

use hearth_api::AppState;
use hearth_services::lease::Leadership;

/// Registers the lease's gauge and counters with the API's `/metrics`, labelled with
/// this node's holder id.
pub(crate) fn feed(state: &AppState, leadership: Leadership) {
    state.metrics().add_collector(move |out| {
        let node = [("node", leadership.holder_id())];
        out.gauge(
            "hearth_coordinator",
            "whether this node holds the coordinator lease (1) or not (0)",
            &node,
            if leadership.is_held() { 1.0 } else { 0.0 },
        );
        out.counter(
            "hearth_coordinator_acquired_total",
            "times this node took the coordinator lease",
            &node,
            leadership.acquired_total() as f64,
        );
        out.counter(
            "hearth_coordinator_lost_total",
            "times this node stepped down or found the lease taken (not counting shutdown)",
            &node,
            leadership.lost_total() as f64,
        );
    });
}
