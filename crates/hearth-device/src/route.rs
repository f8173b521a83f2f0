//! Devices that move (issue 20): which of several hubs a device talks to. The device
//! lists its endpoints in order of preference (a home hub, then the cloud, or the
//! other way round); when the current one is gone it tries the next, and while it is
//! on a less preferred one it probes the more preferred ones now and then (jittered)
//! and moves back when one answers. Plain state with the randomness passed in, so that
//! the order of moves and the waits are tested without a network.

use crate::config::{Backoff, DeviceConfig, Endpoint};
use hearth_model::topic;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{LastWill, Publish};
use rumqttc::v5::{MqttOptions, Request};
use std::time::Duration;
use tokio::sync::oneshot;

/// How long a probe waits for a preferred endpoint to accept a TCP connection.
pub(crate) const PROBE_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Most probe intervals a failed move back doubles the next one to (2^5 = 32 times):
/// a hub that accepts connections but refuses the device (not registered there yet)
/// must not pull it away from a working one every half minute.
const MAX_PROBE_DOUBLINGS: u32 = 5;

/// Where the device is in its list of endpoints, and how its attempts went.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    count: usize,
    current: usize,
    /// Attempts in a row that failed (connecting, or a connection lost).
    failures: u32,
    /// Moves back to a preferred endpoint in a row that did not hold.
    failed_returns: u32,
    /// The device left `current` for a preferred endpoint and has not connected yet.
    returning: bool,
}

impl Route {
    /// A route over `count` endpoints (at least one), starting with the first.
    pub fn new(count: usize) -> Route {
        Route {
            count: count.max(1),
            current: 0,
            failures: 0,
            failed_returns: 0,
            returning: false,
        }
    }

    /// The endpoint in use or being tried.
    pub fn current(&self) -> usize {
        self.current
    }

    /// Logged in at the current endpoint.
    pub fn connected(&mut self) {
        self.failures = 0;
        if self.returning {
            self.returning = false;
            self.failed_returns = 0;
        }
    }

    /// The current endpoint failed (could not connect, refused, or the connection was
    /// lost): the endpoint to try next and how long to wait before. Another endpoint is
    /// tried after a short jittered pause (up to `backoff.initial`); once every
    /// endpoint failed in a row, the back-off grows as for a single hub.
    pub fn failed(&mut self, backoff: &Backoff, random: f64) -> (usize, Duration) {
        if self.returning {
            self.returning = false;
            self.failed_returns = self.failed_returns.saturating_add(1);
        }
        self.failures = self.failures.saturating_add(1);
        self.current = (self.current + 1) % self.count;
        let count = self.count as u32;
        let delay = if self.failures.is_multiple_of(count) {
            backoff.delay(self.failures / count - 1, random)
        } else {
            backoff.initial.mul_f64(random.clamp(0.0, 1.0))
        };
        (self.current, delay)
    }

    /// The device leaves the current endpoint for the preferred `index` (a probe found
    /// it answering).
    pub fn return_to(&mut self, index: usize) {
        self.current = index.min(self.count - 1);
        self.failures = 0;
        self.returning = true;
    }

    /// Whether a more preferred endpoint exists to probe for.
    pub fn may_return(&self) -> bool {
        self.current > 0
    }

    /// The wait before the next probe: `every` jittered to between half and one and a
    /// half of it, doubled for each move back that did not hold.
    pub fn probe_delay(&self, every: Duration, random: f64) -> Duration {
        let factor = 2u32.pow(self.failed_returns.min(MAX_PROBE_DOUBLINGS));
        every
            .saturating_mul(factor)
            .mul_f64(0.5 + random.clamp(0.0, 1.0))
    }
}

/// The reports of a lost session worth sending on the next one, wherever that is:
/// QoS 1/2 data and events (readings a device handed over and the hub never
/// acknowledged), their packet ids cleared for the new session. Status, heartbeats,
/// subscriptions and acks of the old hub's commands are left: each connection makes its
/// own.
pub(crate) fn carry_over(pending: impl IntoIterator<Item = Request>) -> Vec<Publish> {
    pending
        .into_iter()
        .filter_map(|request| match request {
            Request::Publish(mut publish) if publish.qos != QoS::AtMostOnce => {
                let topic = std::str::from_utf8(&publish.topic).ok()?;
                let parsed = hearth_model::topic::parse(topic)?;
                matches!(
                    parsed.kind,
                    hearth_model::topic::TopicKind::Data | hearth_model::topic::TopicKind::Events
                )
                .then(|| {
                    publish.pkid = 0;
                    publish.dup = false;
                    publish
                })
            }
            _ => None,
        })
        .collect()
}

/// The first of `endpoints` (host, port) that accepts a TCP connection, if any.
pub(crate) async fn probe(endpoints: Vec<(String, u16)>) -> Option<usize> {
    for (index, (host, port)) in endpoints.into_iter().enumerate() {
        let connect = tokio::net::TcpStream::connect((host.as_str(), port));
        if let Ok(Ok(_)) = tokio::time::timeout(PROBE_CONNECT_TIMEOUT, connect).await {
            return Some(index);
        }
    }
    None
}

/// The MQTT options of one endpoint: everything but the address and the transport is
/// the device's own and the same everywhere.
pub(crate) fn mqtt_options(config: &DeviceConfig, endpoint: &Endpoint) -> MqttOptions {
    let mut options = MqttOptions::new(config.id.as_str(), endpoint.host.clone(), endpoint.port);
    // A device with a client certificate logs in with it alone (docs/tls.md).
    if !config.secret.is_empty() || endpoint.tls.is_none() {
        options.set_credentials(config.id.as_str(), config.secret.clone());
    }
    if let Some(tls) = &endpoint.tls {
        options.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(tls.clone()),
        ));
    }
    options.set_keep_alive(Duration::from_secs(config.keep_alive_secs.max(5)));
    options.set_clean_start(true);
    options.set_connection_timeout(10);
    options.set_outgoing_inflight_upper_limit(config.inflight.max(1));
    if config.announce_status {
        options.set_last_will(LastWill::new(
            topic::status(&config.id),
            "offline",
            QoS::AtLeastOnce,
            true,
            None,
        ));
    }
    options
}

/// Sleeps until `at`, or forever without one (a `select!` branch that is off).
pub(crate) async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The outcome of the probe under way, or never without one.
pub(crate) async fn probe_result(
    probe: &mut Option<oneshot::Receiver<Option<usize>>>,
) -> Option<usize> {
    match probe {
        Some(result) => result.await.ok().flatten(),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        }
    }

    #[test]
    fn a_lost_endpoint_moves_to_the_next_at_once_and_a_failed_round_backs_off() {
        let mut route = Route::new(2);
        assert_eq!(route.current(), 0);
        // Home gone: the cloud next, after a short jitter only.
        assert_eq!(
            route.failed(&backoff(), 0.5),
            (1, Duration::from_millis(50))
        );
        // The cloud fails too: a whole round, back to home after the back-off.
        assert_eq!(
            route.failed(&backoff(), 0.0),
            (0, Duration::from_millis(50))
        );
        assert_eq!(route.failed(&backoff(), 0.0), (1, Duration::ZERO));
        assert_eq!(
            route.failed(&backoff(), 0.0),
            (0, Duration::from_millis(100))
        );
        route.connected();
        assert_eq!(route.failed(&backoff(), 0.0), (1, Duration::ZERO));
    }

    #[test]
    fn a_single_endpoint_backs_off_as_before() {
        let mut route = Route::new(1);
        let delays: Vec<_> = (0..4)
            .map(|_| route.failed(&backoff(), 0.0))
            .collect::<Vec<_>>();
        assert_eq!(
            delays,
            vec![
                (0, Duration::from_millis(50)),
                (0, Duration::from_millis(100)),
                (0, Duration::from_millis(200)),
                (0, Duration::from_millis(400)),
            ]
        );
        assert!(!route.may_return());
    }

    #[test]
    fn probes_are_jittered_and_slow_down_after_moves_back_that_did_not_hold() {
        let every = Duration::from_secs(30);
        let mut route = Route::new(2);
        route.failed(&backoff(), 0.0);
        route.connected();
        assert!(route.may_return());
        assert_eq!(route.probe_delay(every, 0.0), Duration::from_secs(15));
        assert_eq!(route.probe_delay(every, 1.0), Duration::from_secs(45));
        // Home answered the probe but refused the device: back to the cloud, and the
        // next probe waits twice as long.
        route.return_to(0);
        assert_eq!(route.failed(&backoff(), 0.0).0, 1);
        route.connected();
        assert_eq!(route.probe_delay(every, 0.0), Duration::from_secs(30));
        // A move back that holds resets it.
        route.return_to(0);
        route.connected();
        assert_eq!(route.current(), 0);
        assert!(!route.may_return());
        assert_eq!(route.probe_delay(every, 0.0), Duration::from_secs(15));
    }

    #[test]
    fn only_unacknowledged_readings_are_carried_to_the_next_hub() {
        let publish = |topic: &str, qos: QoS| {
            let mut publish = Publish::new(topic, qos, "{}", None);
            publish.pkid = 7;
            publish.dup = true;
            Request::Publish(publish)
        };
        let carried = carry_over(vec![
            publish("devices/d1/data", QoS::AtLeastOnce),
            publish("devices/d1/data", QoS::AtMostOnce),
            publish("devices/d1/status", QoS::AtLeastOnce),
            publish("devices/d1/heartbeat", QoS::AtLeastOnce),
            publish("devices/d1/events", QoS::AtLeastOnce),
            publish("devices/d1/commands/switch/ack", QoS::AtLeastOnce),
            Request::PingReq,
        ]);
        let topics: Vec<_> = carried
            .iter()
            .map(|publish| String::from_utf8(publish.topic.to_vec()).unwrap())
            .collect();
        assert_eq!(topics, vec!["devices/d1/data", "devices/d1/events"]);
        assert!(
            carried
                .iter()
                .all(|publish| publish.pkid == 0 && !publish.dup)
        );
    }
}
