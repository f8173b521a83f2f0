//! The `[mqtt.rate_limits]` table: defaults per kind of principal, overrides per
//! principal, and the connection rate per source address. See docs/limits.md.

use hearth_bus::{Principal, PrincipalKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A rate for one principal. Every field is optional: what an override leaves out comes
/// from its kind's table, and what that leaves out from the built-in default of the kind.
/// A rate of 0 means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientRate {
    /// PUBLISH packets per second (EMQX: `messages_rate`).
    pub messages_rate: Option<f64>,
    /// PUBLISH packets a principal may send at once after being quiet.
    pub messages_burst: Option<u32>,
    /// Bytes (topic + payload) per second (EMQX: `bytes_rate`).
    pub bytes_rate: Option<u64>,
    /// Bytes a principal may send at once after being quiet.
    pub bytes_burst: Option<u64>,
}

impl ClientRate {
    const fn fixed(messages: f64, messages_burst: u32, bytes: u64, bytes_burst: u64) -> ClientRate {
        ClientRate {
            messages_rate: Some(messages),
            messages_burst: Some(messages_burst),
            bytes_rate: Some(bytes),
            bytes_burst: Some(bytes_burst),
        }
    }

    /// Fields set in `self` win over `fallback`'s.
    fn or(self, fallback: ClientRate) -> ClientRate {
        ClientRate {
            messages_rate: self.messages_rate.or(fallback.messages_rate),
            messages_burst: self.messages_burst.or(fallback.messages_burst),
            bytes_rate: self.bytes_rate.or(fallback.bytes_rate),
            bytes_burst: self.bytes_burst.or(fallback.bytes_burst),
        }
    }
}

/// A device: a sensor reports a few times a minute, a power meter a few times a second;
/// 20 a second with a burst of 200 leaves room for both and for a reconnect's backlog.
/// 256 KiB/s with a 2 MiB burst lets a largest packet (1 MiB) through without waiting.
const DEVICE: ClientRate = ClientRate::fixed(20.0, 200, 256 * 1024, 2 * 1024 * 1024);
/// An application (integration) often speaks for many devices.
const APPLICATION: ClientRate = ClientRate::fixed(500.0, 5_000, 4 * 1024 * 1024, 16 * 1024 * 1024);
/// A browser: a person clicking sends commands, not streams.
const USER: ClientRate = ClientRate::fixed(20.0, 100, 64 * 1024, 1024 * 1024);
/// Unlimited: administrators, services inside the hub, the operator's own password-file
/// users (bridges, tools) and anonymous clients (development setups; set
/// `[mqtt.rate_limits.anonymous]` when anonymous access faces anything else).
const UNLIMITED: ClientRate = ClientRate::fixed(0.0, 0, 0, 0);
/// A site (a home hub's link, issue 20) relays a whole home, and after an outage its
/// queued backlog: the rate of many applications.
const SITE: ClientRate = ClientRate::fixed(5_000.0, 50_000, 32 * 1024 * 1024, 128 * 1024 * 1024);

/// The `[mqtt.rate_limits]` table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Whether message and byte rates are enforced at all.
    pub enabled: bool,
    /// Seconds a principal may be slowed down without a break before its publishes are
    /// refused instead (MQTT 5 QoS 1/2: PUBACK/PUBREC 0x97 Quota exceeded; MQTT 5 QoS 0:
    /// DISCONNECT 0x96 Message rate too high; MQTT 3.x: the connection is closed).
    pub max_delay_secs: f64,
    /// Whether clients that cannot be refused one publish at a time (MQTT 3.x, and
    /// MQTT 5 QoS 0) are disconnected once refusals begin (MQTT 5: DISCONNECT 0x96). By
    /// default they are only slowed: a client whose socket is not read costs the broker
    /// nothing, and a device replaying a backlog is not thrown into a reconnect loop.
    pub disconnect_over_rate: bool,
    /// New connections per second from one IP address; 0 disables the check
    /// (EMQX: `max_conn_rate`, per listener there).
    pub max_conn_rate: f64,
    /// Connections one address may open at once after being quiet.
    pub conn_burst: u32,
    /// Whether loopback addresses skip the connection rate: behind a reverse proxy on
    /// the same machine every browser has the proxy's address.
    pub conn_rate_exempt_loopback: bool,
    pub device: ClientRate,
    pub application: ClientRate,
    /// Browsers, with the web app's short-lived credential.
    pub user: ClientRate,
    pub admin: ClientRate,
    /// Users of the broker's password file.
    pub config_user: ClientRate,
    pub anonymous: ClientRate,
    pub service: ClientRate,
    /// Home hubs' links (issue 20).
    pub site: ClientRate,
    /// Overrides by principal name (a device id, an application key, a user name),
    /// whatever its kind.
    pub principals: BTreeMap<String, ClientRate>,
}

impl Default for RateLimitConfig {
    fn default() -> RateLimitConfig {
        RateLimitConfig {
            enabled: true,
            max_delay_secs: 10.0,
            disconnect_over_rate: false,
            max_conn_rate: 20.0,
            conn_burst: 100,
            conn_rate_exempt_loopback: true,
            device: ClientRate::default(),
            application: ClientRate::default(),
            user: ClientRate::default(),
            admin: ClientRate::default(),
            config_user: ClientRate::default(),
            anonymous: ClientRate::default(),
            service: ClientRate::default(),
            site: ClientRate::default(),
            principals: BTreeMap::new(),
        }
    }
}

/// A resolved rate: per second and burst for messages and bytes, `None` where unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rate {
    pub messages: Option<(f64, f64)>,
    pub bytes: Option<(f64, f64)>,
}

impl RateLimitConfig {
    /// What `principal` may send, or `None` when nothing limits it.
    pub(crate) fn rate_for(&self, principal: &Principal) -> Option<Rate> {
        if !self.enabled {
            return None;
        }
        let (table, builtin) = match principal.kind {
            PrincipalKind::Device => (self.device, DEVICE),
            PrincipalKind::Application => (self.application, APPLICATION),
            PrincipalKind::User => (self.user, USER),
            PrincipalKind::Admin => (self.admin, UNLIMITED),
            PrincipalKind::ConfigUser => (self.config_user, UNLIMITED),
            PrincipalKind::Anonymous => (self.anonymous, UNLIMITED),
            PrincipalKind::Service => (self.service, UNLIMITED),
            PrincipalKind::Site => (self.site, SITE),
        };
        let own = self
            .principals
            .get(&*principal.name)
            .copied()
            .unwrap_or_default();
        let rate = own.or(table).or(builtin);
        let pair = |per_sec: f64, burst: f64| {
            (per_sec > 0.0 && per_sec.is_finite()).then_some((per_sec, burst.max(1.0)))
        };
        let resolved = Rate {
            messages: pair(
                rate.messages_rate.unwrap_or(0.0),
                f64::from(rate.messages_burst.unwrap_or(1)),
            ),
            bytes: pair(
                rate.bytes_rate.unwrap_or(0) as f64,
                rate.bytes_burst.unwrap_or(1) as f64,
            ),
        };
        (resolved.messages.is_some() || resolved.bytes.is_some()).then_some(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_keeps_what_it_leaves_out_from_the_kind() {
        let mut config = RateLimitConfig::default();
        config.device.bytes_rate = Some(1000);
        config.principals.insert(
            "meter".into(),
            ClientRate {
                messages_rate: Some(100.0),
                ..ClientRate::default()
            },
        );
        let meter = config
            .rate_for(&Principal::new(PrincipalKind::Device, "meter"))
            .unwrap();
        assert_eq!(meter.messages, Some((100.0, 200.0)));
        assert_eq!(meter.bytes, Some((1000.0, 2.0 * 1024.0 * 1024.0)));
        let other = config
            .rate_for(&Principal::new(PrincipalKind::Device, "lamp"))
            .unwrap();
        assert_eq!(other.messages, Some((20.0, 200.0)));
    }

    #[test]
    fn admins_and_services_are_unlimited_and_zero_means_unlimited() {
        let mut config = RateLimitConfig::default();
        assert_eq!(
            config.rate_for(&Principal::new(PrincipalKind::Admin, "a")),
            None
        );
        assert_eq!(
            config.rate_for(&Principal::new(PrincipalKind::Service, "s")),
            None
        );
        config.principals.insert(
            "free".into(),
            ClientRate {
                messages_rate: Some(0.0),
                bytes_rate: Some(0),
                ..ClientRate::default()
            },
        );
        assert_eq!(
            config.rate_for(&Principal::new(PrincipalKind::Device, "free")),
            None
        );
        config.enabled = false;
        assert_eq!(
            config.rate_for(&Principal::new(PrincipalKind::Device, "x")),
            None
        );
    }
}
