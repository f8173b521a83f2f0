//! `/metrics` for the sites linked to this (cloud) hub (issue 20, docs/sites.md
//! "Visible"): each registered site's link, read at scrape time from the sites' relay.

use hearth_api::AppState;
use hearth_services::ingest::SiteRelay;
use std::sync::Arc;

/// Registers the per-site gauges and counters with the API's `/metrics`.
pub(crate) fn feed(state: &AppState, relay: Arc<SiteRelay>) {
    state.metrics().add_collector(move |out| {
        // One family after the other: the text format wants a family's samples together.
        let links = relay.link_statuses();
        for link in &links {
            out.gauge(
                "hearth_site_link_up",
                "whether the site's link is connected (1) or not (0)",
                &[("site", link.site.as_str())],
                if link.connected { 1.0 } else { 0.0 },
            );
        }
        for link in &links {
            out.counter(
                "hearth_site_messages_total",
                "messages accepted from the site's link since the hub started",
                &[("site", link.site.as_str())],
                link.messages_total as f64,
            );
        }
        // Absent until the site relayed something: no lag to speak of.
        for link in &links {
            if let Some(lag_ms) = link.lag_ms {
                out.gauge(
                    "hearth_site_lag_seconds",
                    "now minus the home time of the newest message the site relayed",
                    &[("site", link.site.as_str())],
                    lag_ms as f64 / 1000.0,
                );
            }
        }
    });
}
