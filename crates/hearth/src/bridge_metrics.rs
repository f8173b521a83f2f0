//! `/metrics` for the bridge to the cloud (issue 20): the link's state and the queue's,
//! read at scrape time from the bridge's status.

use hearth_api::AppState;
use hearth_services::bridge::StatusReader;

/// Registers the bridge's gauges and counters with the API's `/metrics`.
pub(crate) fn feed(state: &AppState, bridge: StatusReader) {
    state.metrics().add_collector(move |out| {
        let status = bridge.status();
        out.gauge(
            "hearth_bridge_up",
            "whether the link to the cloud hub is connected (1) or not (0)",
            &[],
            if status.up { 1.0 } else { 0.0 },
        );
        out.gauge(
            "hearth_bridge_down_since_seconds",
            "since when the link is down (epoch seconds; 0 while up)",
            &[],
            status.down_since_ms.map_or(0.0, |ms| ms as f64 / 1000.0),
        );
        out.gauge(
            "hearth_bridge_queued_messages",
            "messages on disk waiting for the cloud's acknowledgement",
            &[],
            status.queued_messages as f64,
        );
        out.gauge(
            "hearth_bridge_queued_bytes",
            "bytes of the messages waiting for the cloud",
            &[],
            status.queued_bytes as f64,
        );
        for (outcome, count) in [
            ("queued", status.queued_total),
            ("sent", status.sent_total),
            ("acked", status.acked_total),
            ("dropped", status.dropped_total),
            ("refused", status.refused_total),
            ("rejected", status.rejected_total),
        ] {
            out.counter(
                "hearth_bridge_messages_total",
                "messages for the cloud by what became of them",
                &[("outcome", outcome)],
                count as f64,
            );
        }
        out.counter(
            "hearth_bridge_commands_total",
            "commands from the cloud published to home devices",
            &[],
            status.commands_total as f64,
        );
        out.counter(
            "hearth_bridge_connects_total",
            "successful connections to the cloud hub",
            &[],
            status.connects_total as f64,
        );
    });
}
