//! How a device reaches the hub: address, credentials, heartbeats and back-off.

use hearth_model::DeviceId;
use std::time::Duration;

/// Everything a device needs to log in and stay connected (SPEC §4: client id, username
/// and password are the device's id and secret).
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    /// The hub's MQTT host name or address.
    pub host: String,
    /// The hub's MQTT (TCP) port, 1883 by default.
    pub port: u16,
    /// The device id: client id and username.
    pub id: DeviceId,
    /// The device's secret (its MQTT password), as `hearth device add` printed it.
    pub secret: String,
    /// Seconds between heartbeats while connected; 0 sends none (data and events keep a
    /// device online too, so a chatty sensor needs no heartbeat).
    pub heartbeat_secs: u64,
    /// MQTT keep-alive: how soon the hub notices a dead link and fires the will.
    pub keep_alive_secs: u64,
    /// Reconnection back-off after a lost or refused connection.
    pub backoff: Backoff,
    /// Requests (publishes, acks) that may wait in the client while the link is down or
    /// busy; a publish beyond that waits for room. Small for small devices.
    pub queue: usize,
    /// QoS 1 publishes awaiting the hub's acknowledgement at once. The MQTT client
    /// allocates a slot per possible one up front (the default, 65,535, costs ~14 MB a
    /// device), so a small number is what lets a thousand devices share one process.
    pub inflight: u16,
    /// Retained `online` on `devices/{id}/status` at every connect (and the retained
    /// `offline` will). Off only for tests of presence without status.
    pub announce_status: bool,
    /// MQTTS: the TLS client configuration (see [`crate::DeviceTls`]); `None` is plain
    /// MQTT over TCP, for a hub on the same board or a trusted LAN.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// More hubs, in order of preference after `host`/`port`/`tls` (issue 20: the home
    /// hub first and the cloud next, or the other way round). Empty: one hub, as
    /// always. When the hub in use is gone the device connects to the next; while on a
    /// less preferred one it probes the more preferred ones and moves back (see
    /// `return_probe`). The same id and secret log in everywhere.
    pub fallbacks: Vec<Endpoint>,
    /// How often, while on a less preferred hub, the device checks whether a more
    /// preferred one accepts connections again (jittered between half and one and a
    /// half of it, so that a fleet does not move back at once).
    pub return_probe: Duration,
}

/// One hub a device may talk to: address and transport.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// `None` is plain MQTT over TCP.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Endpoint {
    /// A plain MQTT endpoint.
    pub fn new(host: impl Into<String>, port: u16) -> Endpoint {
        Endpoint {
            host: host.into(),
            port,
            tls: None,
        }
    }
}

impl DeviceConfig {
    /// A configuration with the defaults: heartbeat every 60 s, keep-alive 30 s,
    /// back-off from 1 s up to 60 s, a queue of 64 requests, 32 publishes in flight.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        id: DeviceId,
        secret: impl Into<String>,
    ) -> Self {
        DeviceConfig {
            host: host.into(),
            port,
            id,
            secret: secret.into(),
            heartbeat_secs: 60,
            keep_alive_secs: 30,
            backoff: Backoff::default(),
            queue: 64,
            inflight: 32,
            announce_status: true,
            tls: None,
            fallbacks: Vec::new(),
            return_probe: Duration::from_secs(30),
        }
    }

    /// Every endpoint in order of preference: the first hub, then `fallbacks`.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let first = Endpoint {
            host: self.host.clone(),
            port: self.port,
            tls: self.tls.clone(),
        };
        std::iter::once(first)
            .chain(self.fallbacks.iter().cloned())
            .collect()
    }
}

/// Jittered exponential back-off: the n-th failed attempt in a row waits a random time
/// between half and all of `min(initial * 2^n, max)`, so that a fleet that lost the hub
/// at the same moment does not come back at the same moment.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The wait before attempt `failures + 1`, with `random` a number in `[0, 1)`.
    pub fn delay(&self, failures: u32, random: f64) -> Duration {
        let factor = 2u32.saturating_pow(failures.min(20));
        let ceiling = self.initial.saturating_mul(factor).min(self.max);
        ceiling.mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0))
    }
}

/// A small, fast random number generator (SplitMix64) for jitter and for simulated
/// readings: seeded per device so that a run can be repeated, no dependency for it.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from a seed (any value, zero included).
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// A generator seeded from a text (a device id) and an extra number.
    pub fn from_text(text: &str, extra: u64) -> Self {
        // FNV-1a: stable across runs and platforms, unlike std's hasher.
        let mut hash = 0xcbf2_9ce4_8422_2325u64;
        for byte in text.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        SplitMix(hash ^ extra)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A number in `[low, high)`.
    pub fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next_f64()
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.next_f64() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        assert_eq!(backoff.delay(0, 0.999_999).as_millis(), 99);
        assert_eq!(backoff.delay(0, 0.0).as_millis(), 50);
        assert_eq!(backoff.delay(3, 0.0).as_millis(), 400);
        assert_eq!(backoff.delay(30, 0.0).as_millis(), 1000);
        assert!(backoff.delay(30, 0.99) <= Duration::from_secs(2));
    }

    #[test]
    fn seeded_generators_repeat() {
        let mut a = SplitMix::from_text("d1", 7);
        let mut b = SplitMix::from_text("d1", 7);
        let mut c = SplitMix::from_text("d2", 7);
        let (x, y, z) = (a.next_u64(), b.next_u64(), c.next_u64());
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert!((0.0..1.0).contains(&a.next_f64()));
    }
}
