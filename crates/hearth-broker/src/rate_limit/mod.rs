//! Rates per principal and connections per address: token buckets, written here rather
//! than taken from a crate (`governor` brings a dozen crates for what is a refill, a
//! subtraction and a comparison, and does not model the debt this broker needs: a
//! publish that was already read is let through and paid for by not reading the socket
//! until the tokens are back).
//!
//! One [`Budget`] per principal, shared by all its connections: three connections of one
//! device draw from one bucket. Connection tasks check it (under a mutex held for a few
//! arithmetic operations, never across an `.await`); the router never sees it.
//!
//! # Semantics (docs/limits.md)
//! - A publish that fits in the budget passes.
//! - One that does not passes too, leaving the budget in debt; the connection stops
//!   reading its socket until the debt is paid (TCP slows the client, nothing is lost).
//! - Once a principal has been slowed for `max_delay_secs` without a publish that fit,
//!   its MQTT 5 QoS 1/2 publishes that do not fit are refused with PUBACK/PUBREC 0x97
//!   (Quota exceeded; 0x96 is not a valid PUBACK code). MQTT 5 QoS 0 and MQTT 3.x
//!   publishes cannot be refused one by one: they stay slowed, or with
//!   `disconnect_over_rate` the connection is closed (MQTT 5: DISCONNECT 0x96).

mod config;

pub use config::{ClientRate, RateLimitConfig};

use hearth_bus::{Principal, PrincipalKind};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

use crate::stats::SharedStats;
use config::Rate;

/// Why a client was held back, the `reason` label of `hearth_mqtt_rate_limited_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReason {
    /// A publish over the budget, let through; the socket was not read for a while.
    Slowed,
    /// A QoS 1/2 publish refused with 0x97.
    Refused,
    /// A connection closed (0x96 on MQTT 5) for sending over its rate for too long.
    Disconnected,
    /// A CONNECT refused because its address opened connections too fast.
    ConnectionRate,
}

impl LimitReason {
    const ALL: [LimitReason; 4] = [
        LimitReason::Slowed,
        LimitReason::Refused,
        LimitReason::Disconnected,
        LimitReason::ConnectionRate,
    ];

    pub fn label(self) -> &'static str {
        match self {
            LimitReason::Slowed => "slowed",
            LimitReason::Refused => "refused",
            LimitReason::Disconnected => "disconnected",
            LimitReason::ConnectionRate => "connection_rate",
        }
    }
}

const KINDS: [PrincipalKind; 8] = [
    PrincipalKind::Device,
    PrincipalKind::Application,
    PrincipalKind::User,
    PrincipalKind::Admin,
    PrincipalKind::ConfigUser,
    PrincipalKind::Anonymous,
    PrincipalKind::Service,
    PrincipalKind::Site,
];

/// The `kind` label of a principal kind in metrics and logs.
pub fn kind_label(kind: PrincipalKind) -> &'static str {
    match kind {
        PrincipalKind::Device => "device",
        PrincipalKind::Application => "application",
        PrincipalKind::User => "user",
        PrincipalKind::Admin => "admin",
        PrincipalKind::ConfigUser => "config_user",
        PrincipalKind::Anonymous => "anonymous",
        PrincipalKind::Service => "service",
        PrincipalKind::Site => "site",
    }
}

/// One count of [`crate::StatsSnapshot::rate_limited`]: `kind` is a principal kind's
/// label, or `"address"` for the connection rate (no principal is known yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitedCount {
    pub kind: &'static str,
    pub reason: &'static str,
    pub count: u64,
}

/// What the connection does with one publish.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    Pass,
    /// Pass it, then read nothing more until this instant.
    SlowUntil(Instant),
    Refuse,
}

/// How often a principal held back is logged, at most.
const LOG_INTERVAL: Duration = Duration::from_secs(60);

struct BucketState {
    rate: Rate,
    messages: f64,
    bytes: f64,
    refilled: Instant,
    /// Since when every publish had to wait; `None` once one fitted.
    slowed_since: Option<Instant>,
    logged: Option<Instant>,
    /// Publishes held back since the last log line.
    unlogged: u64,
}

/// What one principal may still send, shared by its connections.
pub(crate) struct Budget {
    principal: Principal,
    state: Mutex<BucketState>,
}

impl Budget {
    fn new(principal: Principal, rate: Rate) -> Budget {
        Budget {
            principal,
            state: Mutex::new(BucketState {
                messages: rate.messages.map_or(0.0, |(_, burst)| burst),
                bytes: rate.bytes.map_or(0.0, |(_, burst)| burst),
                rate,
                refilled: Instant::now(),
                slowed_since: None,
                logged: None,
                unlogged: 0,
            }),
        }
    }

    /// Charges one publish of `size` bytes (topic + payload). `max_delay` is `None`
    /// when the publish may only be slowed, never refused.
    pub(crate) fn charge(&self, size: usize, max_delay: Option<Duration>) -> Verdict {
        self.charge_at(size, max_delay, Instant::now())
    }

    fn charge_at(&self, size: usize, max_delay: Option<Duration>, now: Instant) -> Verdict {
        let mut state = self.state.lock();
        let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
        state.refilled = now;
        let rate = state.rate;
        if let Some((per_sec, burst)) = rate.messages {
            state.messages = (state.messages + elapsed * per_sec).min(burst);
        }
        if let Some((per_sec, burst)) = rate.bytes {
            state.bytes = (state.bytes + elapsed * per_sec).min(burst);
        }
        let size = size as f64;
        let fits = rate.messages.is_none_or(|_| state.messages >= 1.0)
            && rate.bytes.is_none_or(|_| state.bytes >= size);
        if !fits
            && let Some(since) = state.slowed_since
            && let Some(max_delay) = max_delay
            && now.saturating_duration_since(since) >= max_delay
        {
            self.note(&mut state, now, LimitReason::Refused);
            return Verdict::Refuse;
        }
        if rate.messages.is_some() {
            state.messages -= 1.0;
        }
        if rate.bytes.is_some() {
            state.bytes -= size;
        }
        if fits {
            state.slowed_since = None;
            return Verdict::Pass;
        }
        state.slowed_since.get_or_insert(now);
        let debt = |tokens: f64, rate: Option<(f64, f64)>| match rate {
            Some((per_sec, _)) if tokens < 0.0 => -tokens / per_sec,
            _ => 0.0,
        };
        let wait = debt(state.messages, rate.messages).max(debt(state.bytes, rate.bytes));
        self.note(&mut state, now, LimitReason::Slowed);
        Verdict::SlowUntil(now + Duration::from_secs_f64(wait.min(3600.0)))
    }

    /// Logs a principal held back once per [`LOG_INTERVAL`], not once per message.
    fn note(&self, state: &mut BucketState, now: Instant, reason: LimitReason) {
        state.unlogged += 1;
        if state
            .logged
            .is_some_and(|at| now.saturating_duration_since(at) < LOG_INTERVAL)
        {
            return;
        }
        tracing::warn!(
            principal = %self.principal.name,
            kind = kind_label(self.principal.kind),
            held_back = state.unlogged,
            last = reason.label(),
            "MQTT client over its rate limit (logged at most once a minute per client)"
        );
        state.logged = Some(now);
        state.unlogged = 0;
    }

    /// Whether the bucket has refilled to its bursts: forgetting it then changes nothing.
    fn is_full(&self, now: Instant) -> bool {
        let state = self.state.lock();
        let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
        let full = |tokens: f64, rate: Option<(f64, f64)>| {
            rate.is_none_or(|(per_sec, burst)| tokens + elapsed * per_sec >= burst)
        };
        full(state.messages, state.rate.messages) && full(state.bytes, state.rate.bytes)
    }

    pub(crate) fn principal(&self) -> &Principal {
        &self.principal
    }
}

/// A bucket of connections for one address.
struct ConnBucket {
    tokens: f64,
    refilled: Instant,
}

/// Budgets by principal, connection buckets by address, and the counts for metrics.
pub(crate) struct RateLimiter {
    config: RateLimitConfig,
    max_delay: Duration,
    /// Kept after a principal's last connection ends, until its bucket is full again:
    /// reconnecting must not buy a fresh burst.
    budgets: Mutex<HashMap<Principal, Arc<Budget>>>,
    /// Map size after the last sweep of budgets no connection holds and full again.
    budgets_swept_at: AtomicU64,
    addresses: Mutex<HashMap<IpAddr, ConnBucket>>,
    stats: Arc<SharedStats>,
}

/// Publishes and connections held back, by kind and reason; lives in [`SharedStats`].
#[derive(Debug)]
pub struct Counters([AtomicU64; KINDS.len() * LimitReason::ALL.len()]);

impl Default for Counters {
    fn default() -> Counters {
        Counters(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl RateLimiter {
    pub(crate) fn new(config: RateLimitConfig, stats: Arc<SharedStats>) -> RateLimiter {
        RateLimiter {
            max_delay: Duration::from_secs_f64(config.max_delay_secs.clamp(0.0, 86_400.0)),
            config,
            budgets: Mutex::new(HashMap::new()),
            budgets_swept_at: AtomicU64::new(64),
            addresses: Mutex::new(HashMap::new()),
            stats,
        }
    }

    /// How long a publish of `version`/`qos` may be slowed before it is refused, or
    /// `None` if it is only ever slowed (it could not be refused without disconnecting,
    /// and disconnecting is off).
    pub(crate) fn max_delay(&self, refusable: bool) -> Option<Duration> {
        (refusable || self.config.disconnect_over_rate).then_some(self.max_delay)
    }

    /// The budget `principal`'s connections share, or `None` when it is unlimited. The
    /// rate is read from the configuration when the first connection arrives and again
    /// whenever one arrives.
    pub(crate) fn budget(&self, principal: &Principal) -> Option<Arc<Budget>> {
        let rate = self.config.rate_for(principal)?;
        let mut budgets = self.budgets.lock();
        if let Some(budget) = budgets.get(principal) {
            budget.state.lock().rate = rate;
            return Some(budget.clone());
        }
        let budget = Arc::new(Budget::new(principal.clone(), rate));
        budgets.insert(principal.clone(), budget.clone());
        let swept_at = self.budgets_swept_at.load(Ordering::Relaxed) as usize;
        if budgets.len() > swept_at * 2 {
            let now = Instant::now();
            budgets.retain(|_, budget| Arc::strong_count(budget) > 1 || !budget.is_full(now));
            self.budgets_swept_at
                .store(budgets.len().max(64) as u64, Ordering::Relaxed);
        }
        Some(budget)
    }

    /// Whether a connection from `address` may proceed to authentication.
    pub(crate) fn admit_connection(&self, address: IpAddr) -> bool {
        self.admit_connection_at(address, Instant::now())
    }

    fn admit_connection_at(&self, address: IpAddr, now: Instant) -> bool {
        let per_sec = self.config.max_conn_rate;
        if per_sec <= 0.0
            || !per_sec.is_finite()
            || (self.config.conn_rate_exempt_loopback && address.is_loopback())
        {
            return true;
        }
        let burst = f64::from(self.config.conn_burst.max(1));

        let mut addresses = self.addresses.lock();
        if addresses.len() >= 4096 {
            // Forget addresses whose bucket is full again: they are as if never seen.
            addresses.retain(|_, bucket| {
                bucket.tokens
                    + now.saturating_duration_since(bucket.refilled).as_secs_f64() * per_sec
                    < burst
            });
        }
        let bucket = addresses.entry(address).or_insert(ConnBucket {
            tokens: burst,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_sec).min(burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            drop(addresses);
            self.stats
                .rate_limited
                .count(None, LimitReason::ConnectionRate);
            false
        }
    }

    #[cfg(test)]
    fn stats(&self) -> &SharedStats {
        &self.stats
    }
}

impl Counters {
    /// Counts one publish or connection held back; `kind` is `None` for an address.
    pub(crate) fn count(&self, kind: Option<PrincipalKind>, reason: LimitReason) {
        let kind = kind.map_or(0, |kind| KINDS.iter().position(|k| *k == kind).unwrap_or(0));
        let reason = LimitReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.0[kind * LimitReason::ALL.len() + reason].fetch_add(1, Ordering::Relaxed);
    }

    /// Every count: the message reasons per kind, and the connection rate per address.
    pub fn snapshot(&self) -> Vec<RateLimitedCount> {
        let mut out = Vec::new();
        for (k, kind) in KINDS.iter().enumerate() {
            for (r, reason) in LimitReason::ALL.iter().enumerate() {
                let count = self.0[k * LimitReason::ALL.len() + r].load(Ordering::Relaxed);
                match reason {
                    LimitReason::ConnectionRate if k == 0 => out.push(RateLimitedCount {
                        kind: "address",
                        reason: reason.label(),
                        count,
                    }),
                    LimitReason::ConnectionRate => {}
                    _ => out.push(RateLimitedCount {
                        kind: kind_label(*kind),
                        reason: reason.label(),
                        count,
                    }),
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: f64, burst: u32, max_delay_secs: f64) -> RateLimiter {
        let mut config = RateLimitConfig {
            max_delay_secs,
            ..RateLimitConfig::default()
        };
        config.device = ClientRate {
            messages_rate: Some(rate),
            messages_burst: Some(burst),
            bytes_rate: Some(0),
            bytes_burst: None,
        };
        RateLimiter::new(config, Arc::default())
    }

    #[test]
    fn a_burst_passes_then_publishes_wait_then_are_refused() {
        let limiter = limiter(10.0, 3, 1.0);
        let device = Principal::new(PrincipalKind::Device, "d");
        let budget = limiter.budget(&device).unwrap();
        let max_delay = limiter.max_delay(true);
        let mut now = Instant::now();
        for _ in 0..3 {
            assert_eq!(budget.charge_at(10, max_delay, now), Verdict::Pass);
        }
        let Verdict::SlowUntil(until) = budget.charge_at(10, max_delay, now) else {
            panic!("the fourth publish is slowed");
        };
        assert_eq!((until - now).as_millis(), 100);
        // Still slowed, for less than max_delay: waits grow with the debt.
        now += Duration::from_millis(100);
        assert!(matches!(
            budget.charge_at(10, max_delay, now),
            Verdict::SlowUntil(_)
        ));
        now += Duration::from_millis(1000);
        // Slowed for 1.1 s without a break, but the bucket has refilled: it fits.
        assert_eq!(budget.charge_at(10, max_delay, now), Verdict::Pass);
        // Flooding: the connection reads the next publish as soon as it may (1 ms
        // later, or when a debt is paid). Slowed first, refused once slowed for 1 s.
        let start = now;
        let mut verdicts = Vec::new();
        for _ in 0..200 {
            let verdict = budget.charge_at(10, max_delay, now);
            verdicts.push(verdict);
            now = match verdict {
                Verdict::SlowUntil(until) => until,
                _ => now + Duration::from_millis(1),
            };
        }
        let first_slowed = verdicts
            .iter()
            .position(|v| matches!(v, Verdict::SlowUntil(_)));
        let first_refused = verdicts.iter().position(|v| *v == Verdict::Refuse);
        assert!(
            first_slowed.unwrap() < first_refused.unwrap(),
            "{verdicts:?}"
        );
        // Refused publishes cost nothing, and what passed kept to the rate.
        let passed = verdicts.iter().filter(|v| **v != Verdict::Refuse).count() as f64;
        let allowed = 10.0 * (now - start).as_secs_f64() + 3.0;
        assert!(
            passed <= allowed + 1.0 && passed >= allowed - 2.0,
            "{passed} vs {allowed}"
        );
    }

    #[test]
    fn connections_of_one_principal_share_its_budget() {
        let limiter = limiter(1.0, 2, 10.0);
        let device = Principal::new(PrincipalKind::Device, "d");
        let first = limiter.budget(&device).unwrap();
        let second = limiter.budget(&device).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        let now = Instant::now();
        let other = limiter
            .budget(&Principal::new(PrincipalKind::Device, "e"))
            .unwrap();
        assert_eq!(
            first.charge_at(1, limiter.max_delay(true), now),
            Verdict::Pass
        );
        assert_eq!(
            second.charge_at(1, limiter.max_delay(true), now),
            Verdict::Pass
        );
        assert!(matches!(
            first.charge_at(1, limiter.max_delay(true), now),
            Verdict::SlowUntil(_)
        ));
        assert_eq!(
            other.charge_at(1, limiter.max_delay(true), now),
            Verdict::Pass
        );
    }

    #[test]
    fn reconnecting_does_not_refill_a_budget() {
        let limiter = limiter(1.0, 2, 10.0);
        let device = Principal::new(PrincipalKind::Device, "d");
        let now = Instant::now();
        let budget = limiter.budget(&device).unwrap();
        assert_eq!(budget.charge_at(1, None, now), Verdict::Pass);
        assert_eq!(budget.charge_at(1, None, now), Verdict::Pass);
        assert!(!budget.is_full(now));
        drop(budget);
        // Many other principals come and go: the sweep keeps the one still in debt.
        for n in 0..200 {
            let _ = limiter.budget(&Principal::new(PrincipalKind::Device, format!("x{n}")));
        }
        let again = limiter.budget(&device).unwrap();
        assert!(matches!(
            again.charge_at(1, None, now),
            Verdict::SlowUntil(_)
        ));
        assert!(limiter.budgets.lock().len() < 200);
    }

    #[test]
    fn an_address_over_its_connection_rate_is_refused_until_it_refills() {
        let limiter = RateLimiter::new(
            RateLimitConfig {
                max_conn_rate: 1.0,
                conn_burst: 2,
                conn_rate_exempt_loopback: false,
                ..RateLimitConfig::default()
            },
            Arc::default(),
        );
        let mut now = Instant::now();
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        let there: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(limiter.admit_connection_at(here, now));
        assert!(limiter.admit_connection_at(here, now));
        assert!(!limiter.admit_connection_at(here, now));
        assert!(limiter.admit_connection_at(there, now));
        now += Duration::from_secs(1);
        assert!(limiter.admit_connection_at(here, now));
        let refused = limiter
            .stats()
            .rate_limited
            .snapshot()
            .into_iter()
            .find(|c| c.kind == "address")
            .unwrap();
        assert_eq!(refused.count, 1);
    }
}
