//! The sites' relay (issue 20, docs/sites.md): a site's link publishes its devices'
//! messages under `sites/{site}/devices/{id}/...` with the time its home hub received
//! each (MQTT 5 user property `hearth-received-at`, epoch ms). The relay sees them before
//! they are acknowledged, checks that the device belongs to the publishing site, and hands
//! them to ingest as the device's own `devices/{id}/{kind}` messages with that time
//! (within `[ingest] max_past_secs` / `max_future_secs`; outside it this hub's time,
//! flagged `ts_clamped`) and the site's ack token: the site's PUBACK waits for the
//! commit, so acknowledged at the cloud means stored there. A live copy goes out on
//! `devices/{id}/{kind}` for this hub's browsers and applications. Answers to commands
//! (`.../commands/{name}/ack`) go to the commands service as the device's would.

use super::queue::{IngestQueue, Item};
use super::site_links::SiteLinks;
use crate::RegistryAuthorizer;
use crate::commands::Commands;
use hearth_bus::{AckToken, Bus, Envelope, Interceptor, PrincipalKind};
use hearth_model::{Millis, now_millis, topic};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// The user property that carries the home hub's receive time (epoch ms, decimal).
pub const RECEIVED_AT_PROPERTY: &str = "hearth-received-at";

/// The filters the relay is shown: reports, and answers to commands.
pub const SITE_FILTERS: [&str; 2] = ["sites/+/devices/+/+", "sites/+/devices/+/commands/+/ack"];

/// Live copies waiting to be published; beyond this they are dropped (counted): history
/// already has the message.
const LIVE_BACKLOG: usize = 4096;

/// What the relay did, for logs, tests and `/metrics`.
#[derive(Debug, Default)]
pub struct RelayCounters {
    /// Reports handed to ingest.
    pub relayed: AtomicU64,
    /// Answers handed to the commands service.
    pub answers: AtomicU64,
    /// Messages not from the site that owns the device (or not a site at all, e.g. an
    /// administrator's test), acknowledged and not stored.
    pub ignored: AtomicU64,
    /// Live copies not published.
    pub live_dropped: AtomicU64,
}

/// The interceptor on [`SITE_FILTERS`].
pub struct SiteRelay {
    queue: Arc<IngestQueue>,
    authorizer: Arc<RegistryAuthorizer>,
    commands: Option<Commands>,
    max_past_ms: Millis,
    max_future_ms: Millis,
    live: mpsc::Sender<Envelope>,
    pub counters: RelayCounters,
    /// Each site's link: connected, since when, what it relayed (API and `/metrics`).
    pub links: Arc<SiteLinks>,
}

impl super::Ingest {
    /// Starts the sites' relay into this ingest (and, for answers, `commands`) and
    /// registers it on the bus; the task publishes live copies.
    pub fn start_site_relay(
        &self,
        bus: Arc<dyn Bus>,
        authorizer: Arc<RegistryAuthorizer>,
        commands: Option<Commands>,
    ) -> Result<(Arc<SiteRelay>, tokio::task::JoinHandle<()>), hearth_bus::BusError> {
        let (live, mut queue) = mpsc::channel::<Envelope>(LIVE_BACKLOG);
        let relay = Arc::new(SiteRelay {
            queue: self.queue.clone(),
            authorizer,
            commands,
            max_past_ms: self.window.0,
            max_future_ms: self.window.1,
            live,
            counters: RelayCounters::default(),
            links: Arc::new(SiteLinks::new()),
        });
        bus.observe_client_events(relay.links.observer());
        for filter in SITE_FILTERS {
            bus.intercept(filter, relay.clone())?;
        }
        let publisher = relay.clone();
        let task = tokio::spawn(async move {
            while let Some(envelope) = queue.recv().await {
                if bus.publish(envelope).await.is_err() {
                    publisher
                        .counters
                        .live_dropped
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Ok((relay, task))
    }
}

impl SiteRelay {
    /// Every registered site's link, and any other seen since the start, by site id.
    pub fn link_statuses(&self) -> Vec<super::SiteLinkStatus> {
        self.links
            .statuses(&self.authorizer.site_ids(), now_millis())
    }
}

/// The home time of a message: `Ok(None)` without the property, `Err(())` when it is
/// unreadable or outside the window around `now_ms`.
fn home_time(
    message: &Envelope,
    now_ms: Millis,
    max_past_ms: Millis,
    max_future_ms: Millis,
) -> Result<Option<Millis>, ()> {
    let Some((_, value)) = message
        .user_properties
        .iter()
        .find(|(key, _)| &**key == RECEIVED_AT_PROPERTY)
    else {
        return Ok(None);
    };
    let at_ms: Millis = value.trim().parse().map_err(|_| ())?;
    if at_ms >= now_ms.saturating_sub(max_past_ms) && at_ms <= now_ms.saturating_add(max_future_ms)
    {
        Ok(Some(at_ms))
    } else {
        Err(())
    }
}

impl Interceptor for SiteRelay {
    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        let ignore = |ack: Option<AckToken>| {
            self.counters.ignored.fetch_add(1, Ordering::Relaxed);
            if let Some(token) = ack {
                token.accept();
            }
        };
        let Some((site, inner)) = topic::split_site(&message.topic) else {
            return ignore(ack);
        };
        let Some(parsed) = topic::parse(inner) else {
            return ignore(ack);
        };
        // Only the site's own link, for a device of its own (the ACL said so at the
        // publish; the registry may have moved the device since).
        let from_site = message.principal.as_ref().is_some_and(|principal| {
            principal.kind == PrincipalKind::Site && &*principal.name == site
        });
        if !from_site || !self.authorizer.site_holds(site, parsed.device) {
            return ignore(ack);
        }
        if let topic::TopicKind::CommandAck { .. } = parsed.kind {
            let Some(commands) = &self.commands else {
                return ignore(ack);
            };
            self.counters.answers.fetch_add(1, Ordering::Relaxed);
            self.links.relayed(site, now_millis(), None);
            commands.answer(inner, message, ack);
            return;
        }
        if parsed.kind.message_kind().is_none() {
            return ignore(ack);
        }
        let now_ms = now_millis();
        let (origin_ms, origin_clamped) =
            match home_time(message, now_ms, self.max_past_ms, self.max_future_ms) {
                Ok(at) => (at, false),
                Err(()) => (None, true),
            };
        self.counters.relayed.fetch_add(1, Ordering::Relaxed);
        self.links.relayed(site, now_ms, origin_ms);
        self.queue.push(Item {
            topic: Arc::from(inner),
            payload: message.payload.clone(),
            received_at_ms: now_ms,
            origin_ms,
            origin_clamped,
            from_device: true,
            site: Some(Arc::from(site)),
            ack,
        });
        let live = Envelope::new(inner, message.payload.clone())
            .with_qos(message.qos)
            .with_retain(message.retain);
        if self.live.try_send(live).is_err() {
            self.counters.live_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_time(value: &str) -> Envelope {
        let mut message = Envelope::new("sites/s/devices/d/data", "{}");
        message.user_properties = vec![(Arc::from(RECEIVED_AT_PROPERTY), Arc::from(value))];
        message
    }

    #[test]
    fn the_home_time_counts_within_the_window() {
        let now = 1_800_000_000_000;
        let window = |message: &Envelope| home_time(message, now, 7 * 86_400_000, 60_000);
        assert_eq!(window(&Envelope::new("t", "{}")), Ok(None));
        let hour_ago = now - 3_600_000;
        assert_eq!(
            window(&with_time(&hour_ago.to_string())),
            Ok(Some(hour_ago))
        );
        assert_eq!(
            window(&with_time(&(now - 8 * 86_400_000).to_string())),
            Err(())
        );
        assert_eq!(window(&with_time(&(now + 61_000).to_string())), Err(()));
        assert_eq!(window(&with_time("yesterday")), Err(()));
        assert_eq!(window(&with_time("")), Err(()));
    }
}
