//! The sites' links as this (cloud) hub sees them (issue 20, docs/sites.md "Visible"):
//! whether each site's MQTT link is connected and since when, and what the relay got
//! from it since the hub started. Kept in memory: it describes this process's
//! connections, and the registry's `last_seen_ms` already survives a restart.
//!
//! Fed by the broker's client events (a site's link connecting or ending) and by the
//! relay for every message it accepts from a site; read by the API's `/sites` and by
//! `/metrics`.

use hearth_bus::{ClientEvent, ClientObserver, PrincipalKind};
use hearth_model::{Millis, now_millis};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;

/// One site's link now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteLinkStatus {
    pub site: String,
    /// Whether its link holds a connection now.
    pub connected: bool,
    /// Since when it is connected (or, when not, since when it is down); `None` for a
    /// site whose link has not connected since this hub started.
    pub since_ms: Option<Millis>,
    /// When this hub last accepted a message from the link (its own clock).
    pub last_message_ms: Option<Millis>,
    /// The home hub's receive time of the newest message relayed (`hearth-received-at`,
    /// or this hub's time when the message carried none usable).
    pub last_home_ms: Option<Millis>,
    /// `now - last_home_ms`: how far behind the newest relayed message is. Grows while
    /// the home hub has nothing to send, and while a backlog after an outage is relayed.
    pub lag_ms: Option<Millis>,
    /// Messages accepted from the link since this hub started (reports and answers to
    /// commands).
    pub messages_total: u64,
}

#[derive(Debug, Default)]
struct Link {
    /// The broker's number of the live connection, if one.
    connection: Option<u64>,
    since_ms: Option<Millis>,
    last_message_ms: Option<Millis>,
    last_home_ms: Option<Millis>,
    messages_total: u64,
}

/// Every site link seen since the hub started.
#[derive(Debug, Default)]
pub struct SiteLinks {
    links: Mutex<HashMap<Arc<str>, Link>>,
}

impl SiteLinks {
    pub fn new() -> SiteLinks {
        SiteLinks::default()
    }

    /// What the broker tells it of connections (give it to `Bus::observe_client_events`).
    /// Holds the links weakly.
    pub fn observer(self: &Arc<Self>) -> ClientObserver {
        let links = Arc::downgrade(self);
        Arc::new(move |event: &ClientEvent| {
            if let Some(links) = links.upgrade() {
                links.on_event(event, now_millis());
            }
        })
    }

    /// A site's link connected or ended. A takeover's late end carries the old
    /// connection's number and changes nothing.
    pub fn on_event(&self, event: &ClientEvent, now_ms: Millis) {
        if event.principal.kind != PrincipalKind::Site {
            return;
        }
        let mut links = self.links.lock();
        let link = links.entry(event.principal.name.clone()).or_default();
        if event.connected {
            link.connection = Some(event.connection);
            link.since_ms = Some(now_ms);
        } else if link.connection == Some(event.connection) {
            link.connection = None;
            link.since_ms = Some(now_ms);
        }
    }

    /// The relay accepted a message from `site`'s link at `now_ms`, read at home at
    /// `home_ms`.
    pub fn relayed(&self, site: &str, now_ms: Millis, home_ms: Option<Millis>) {
        let mut links = self.links.lock();
        let link = match links.get_mut(site) {
            Some(link) => link,
            None => links.entry(Arc::from(site)).or_default(),
        };
        link.messages_total += 1;
        link.last_message_ms = Some(now_ms);
        let home_ms = home_ms.unwrap_or(now_ms);
        link.last_home_ms = Some(link.last_home_ms.map_or(home_ms, |last| last.max(home_ms)));
    }

    /// One site's link at `now_ms` (a site never seen: not connected, nothing relayed).
    pub fn status(&self, site: &str, now_ms: Millis) -> SiteLinkStatus {
        let links = self.links.lock();
        status_of(site, links.get(site), now_ms)
    }

    /// The links of `sites` (the registered ones) and of every other site seen since the
    /// start, sorted by site.
    pub fn statuses(&self, sites: &[Arc<str>], now_ms: Millis) -> Vec<SiteLinkStatus> {
        let links = self.links.lock();
        let mut names: Vec<&str> = sites.iter().map(|site| &**site).collect();
        names.extend(links.keys().map(|site| &**site));
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .map(|site| status_of(site, links.get(site), now_ms))
            .collect()
    }
}

fn status_of(site: &str, link: Option<&Link>, now_ms: Millis) -> SiteLinkStatus {
    let Some(link) = link else {
        return SiteLinkStatus {
            site: site.to_owned(),
            connected: false,
            since_ms: None,
            last_message_ms: None,
            last_home_ms: None,
            lag_ms: None,
            messages_total: 0,
        };
    };
    SiteLinkStatus {
        site: site.to_owned(),
        connected: link.connection.is_some(),
        since_ms: link.since_ms,
        last_message_ms: link.last_message_ms,
        last_home_ms: link.last_home_ms,
        lag_ms: link
            .last_home_ms
            .map(|home| now_ms.saturating_sub(home).max(0)),
        messages_total: link.messages_total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_bus::Principal;

    fn event(kind: PrincipalKind, name: &str, connection: u64, connected: bool) -> ClientEvent {
        ClientEvent {
            principal: Principal::new(kind, name),
            client_id: Arc::from(format!("site:{name}")),
            connection,
            connected,
        }
    }

    #[test]
    fn a_link_is_up_from_its_connection_to_its_end_and_a_late_end_changes_nothing() {
        let links = SiteLinks::new();
        assert!(!links.status("home-1", 0).connected);
        assert_eq!(links.status("home-1", 0).since_ms, None);
        links.on_event(&event(PrincipalKind::Site, "home-1", 1, true), 100);
        assert!(links.status("home-1", 150).connected);
        assert_eq!(links.status("home-1", 150).since_ms, Some(100));
        // A takeover: the new connection first, then the old one's end.
        links.on_event(&event(PrincipalKind::Site, "home-1", 2, true), 200);
        links.on_event(&event(PrincipalKind::Site, "home-1", 1, false), 210);
        let status = links.status("home-1", 220);
        assert!(status.connected);
        assert_eq!(status.since_ms, Some(200));
        links.on_event(&event(PrincipalKind::Site, "home-1", 2, false), 300);
        let status = links.status("home-1", 400);
        assert!(!status.connected);
        assert_eq!(status.since_ms, Some(300));
        // Devices are not sites.
        links.on_event(&event(PrincipalKind::Device, "lamp", 3, true), 500);
        assert_eq!(links.statuses(&[], 500).len(), 1);
    }

    #[test]
    fn relayed_messages_count_and_the_lag_is_from_the_newest_home_time() {
        let links = SiteLinks::new();
        links.relayed("home-1", 1_000, Some(400));
        links.relayed("home-1", 1_100, Some(300));
        links.relayed("home-1", 1_200, None);
        let status = links.status("home-1", 1_500);
        assert_eq!(status.messages_total, 3);
        assert_eq!(status.last_message_ms, Some(1_200));
        assert_eq!(status.last_home_ms, Some(1_200));
        assert_eq!(status.lag_ms, Some(300));
        links.relayed("home-2", 2_000, Some(1_000));
        let all = links.statuses(&[Arc::from("home-0"), Arc::from("home-2")], 2_000);
        let names: Vec<_> = all.iter().map(|link| link.site.as_str()).collect();
        assert_eq!(names, ["home-0", "home-1", "home-2"]);
        assert_eq!(all[2].lag_ms, Some(1_000));
        assert_eq!(all[0].messages_total, 0);
    }
}
