//! `/metrics` for the Mosquitto dynamic-security sync (issue 21, docs/scale.md): whether
//! its control connection is up (only the coordinator's is; the others stand by), how
//! far the broker is behind the registry, and how much it writes, read at scrape time
//! from the sync's status.

use hearth_api::AppState;
use hearth_services::dynsec::DynsecStatusReader;

/// Registers the sync's gauges and counters with the API's `/metrics`.
pub(crate) fn feed(state: &AppState, dynsec: DynsecStatusReader) {
    state.metrics().add_collector(move |out| {
        let status = dynsec.status();
        out.gauge(
            "hearth_dynsec_up",
            "whether the dynamic-security control connection to Mosquitto is up (1) or not (0)",
            &[],
            if status.connected { 1.0 } else { 0.0 },
        );
        out.gauge(
            "hearth_dynsec_standby",
            "whether another node holds the coordinator lease and writes to Mosquitto (1) or this one does (0)",
            &[],
            if status.standby { 1.0 } else { 0.0 },
        );
        out.gauge(
            "hearth_dynsec_synced_seq",
            "the registry's audit sequence Mosquitto reflects (-1 before the first sync)",
            &[],
            status.synced_seq.map_or(-1.0, |seq| seq as f64),
        );
        out.gauge(
            "hearth_dynsec_failing",
            "whether the last attempt failed (1) or not (0); the hub's log says why",
            &[],
            if status.last_error.is_some() {
                1.0
            } else {
                0.0
            },
        );
        out.counter(
            "hearth_dynsec_commands_total",
            "dynamic-security commands sent (each rewrites the plugin's file)",
            &[],
            status.commands as f64,
        );
        out.counter(
            "hearth_dynsec_resyncs_total",
            "times the sync read the broker's clients and roles whole",
            &[],
            status.resyncs as f64,
        );
    });
}
