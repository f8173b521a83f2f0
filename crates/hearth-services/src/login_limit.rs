//! [`LoginLimiter`]: the limit on password guessing, shared by the HTTP login (and the
//! password change) and the MQTT login, so that neither is a way around the other.
//!
//! # What is counted, and the trade-off
//! Failures in the last minute (a sliding window), under three keys:
//! - **(name, address)**: `max` failures. This is the limit that stops someone
//!   guessing one person's password from one place. It does not lock the person out
//!   from anywhere else: a stranger's failures never count against the owner's own
//!   address.
//! - **address**: `4 × max` failures over all names (password spraying from one place);
//!   a household behind one NAT can mistype a few times without locking each other out.
//! - **name**: `10 × max` failures from all addresses together, a ceiling against a
//!   guesser with many addresses. It does **not** apply from an address the name has
//!   logged in from successfully in the last 30 days ("known addresses", kept in
//!   memory), so the owner can still log in from home while a botnet guesses.
//!
//! The trade-off: an attacker with many addresses gets `max` guesses a minute from
//! each until the name's ceiling, and while the ceiling holds, the owner cannot log
//! in from a *new* address (a phone on a new network) for up to a minute; from a known
//! address they always can. A restart forgets the counts and the known addresses,
//! which costs at most one more minute's guesses.
//!
//! # Locking
//! A `parking_lot::Mutex` over the maps: each login takes it twice for a few
//! microseconds (check, then record), nothing awaits while holding it, and logins are
//! rare. The maps are bounded: past `MAX_KEYS` keys, stale ones are swept, and if an
//! attacker still fills them with fresh ones, they are cleared (losing a minute's
//! counts, never admitting anyone without a password).

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);
/// How long a successful login keeps its address "known" for the name.
pub const KNOWN_ADDRESS_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// An address's allowance over all names, as a multiple of the per-(name, address) one.
const ADDRESS_FACTOR: usize = 4;
/// A name's ceiling over all addresses, as a multiple of the per-(name, address) one.
const NAME_FACTOR: usize = 10;
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Pair(String, Option<IpAddr>),
    Address(IpAddr),
    Name(String),
}

struct Counts {
    failures: HashMap<Key, VecDeque<Instant>>,
    /// (name, address) → last successful login there.
    known: HashMap<(String, IpAddr), Instant>,
}

/// Failed logins per (name, address), per address and per name; see the module docs.
/// One instance is shared by every way of logging in with a person's password.
pub struct LoginLimiter {
    max_failures: usize,
    counts: Mutex<Counts>,
}

impl LoginLimiter {
    /// `max_failures_per_minute` per (name, address); the address and name limits
    /// are multiples of it (see the module docs). At least 1.
    pub fn new(max_failures_per_minute: u32) -> LoginLimiter {
        LoginLimiter {
            max_failures: max_failures_per_minute.max(1) as usize,
            counts: Mutex::new(Counts {
                failures: HashMap::new(),
                known: HashMap::new(),
            }),
        }
    }

    /// `Err(how long to wait)` when `user` may not try a password from `addr` now.
    /// `addr` is `None` when the transport has no address; such attempts share one
    /// bucket per name. User names are compared case-insensitively.
    pub fn check(&self, user: &str, addr: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let user = user.to_lowercase();
        let mut counts = self.counts.lock();
        let known = addr.is_some_and(|addr| counts.is_known(&user, addr, now));
        let mut limits = vec![(Key::Pair(user.clone(), addr), self.max_failures)];
        if let Some(addr) = addr {
            limits.push((Key::Address(addr), self.max_failures * ADDRESS_FACTOR));
        }
        if !known {
            limits.push((Key::Name(user), self.max_failures * NAME_FACTOR));
        }
        let wait = limits
            .into_iter()
            .filter_map(|(key, limit)| counts.wait(&key, limit, now))
            .max();
        match wait {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Records one failed attempt for `user` from `addr`.
    pub fn fail(&self, user: &str, addr: Option<IpAddr>, now: Instant) {
        let user = user.to_lowercase();
        let mut keys = vec![Key::Pair(user.clone(), addr), Key::Name(user)];
        if let Some(addr) = addr {
            keys.push(Key::Address(addr));
        }
        // Never keep more than the largest limit's worth of times per key.
        let cap = self.max_failures * NAME_FACTOR;
        let mut counts = self.counts.lock();
        counts.sweep(now);
        for key in keys {
            let times = counts.failures.entry(key).or_default();
            times.push_back(now);
            while times.len() > cap {
                times.pop_front();
            }
        }
    }

    /// A successful login: clears the (name, address) failures and makes the address
    /// known for the name. The address's and the name's counts stay, so one success
    /// does not reset a guesser elsewhere.
    pub fn succeed(&self, user: &str, addr: Option<IpAddr>, now: Instant) {
        let user = user.to_lowercase();
        let mut counts = self.counts.lock();
        counts.failures.remove(&Key::Pair(user.clone(), addr));
        if let Some(addr) = addr {
            counts.sweep(now);
            counts.known.insert((user, addr), now);
        }
    }
}

impl Counts {
    fn is_known(&self, user: &str, addr: IpAddr, now: Instant) -> bool {
        self.known
            .get(&(user.to_owned(), addr))
            .is_some_and(|at| now.saturating_duration_since(*at) < KNOWN_ADDRESS_TTL)
    }

    /// How long until `key` is under `limit` again, if it is not now.
    fn wait(&mut self, key: &Key, limit: usize, now: Instant) -> Option<Duration> {
        let times = self.failures.get_mut(key)?;
        while times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
        {
            times.pop_front();
        }
        if times.len() < limit {
            return None;
        }
        // The failure that must leave the window for one more attempt.
        let blocking = times[times.len() - limit];
        Some(
            WINDOW
                .saturating_sub(now.saturating_duration_since(blocking))
                .max(Duration::from_secs(1)),
        )
    }

    fn sweep(&mut self, now: Instant) {
        if self.failures.len() >= MAX_KEYS {
            self.failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|last| now.saturating_duration_since(*last) < WINDOW)
            });
            if self.failures.len() >= MAX_KEYS {
                self.failures.clear();
            }
        }
        if self.known.len() >= MAX_KEYS {
            self.known
                .retain(|_, at| now.saturating_duration_since(*at) < KNOWN_ADDRESS_TTL);
            if self.known.len() >= MAX_KEYS {
                self.known.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn five_failures_lock_the_name_from_that_address_for_the_rest_of_the_minute() {
        let limiter = LoginLimiter::new(5);
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(limiter.check("alice", ip("1.2.3.4"), start), Ok(()));
            limiter.fail("Alice", ip("1.2.3.4"), start);
        }
        let later = start + Duration::from_secs(10);
        assert_eq!(
            limiter.check("alice", ip("1.2.3.4"), later),
            Err(Duration::from_secs(50))
        );
        assert_eq!(
            limiter.check("alice", ip("5.6.7.8"), later),
            Ok(()),
            "the owner elsewhere is not locked out"
        );
        assert_eq!(
            limiter.check("bob", ip("1.2.3.4"), later),
            Ok(()),
            "other names from that address still have the address's allowance"
        );
        assert_eq!(
            limiter.check("alice", ip("1.2.3.4"), start + WINDOW),
            Ok(())
        );
    }

    #[test]
    fn an_address_spraying_names_is_limited() {
        let limiter = LoginLimiter::new(2);
        let now = Instant::now();
        for n in 0..8 {
            assert_eq!(
                limiter.check(&format!("user{n}"), ip("1.2.3.4"), now),
                Ok(())
            );
            limiter.fail(&format!("user{n}"), ip("1.2.3.4"), now);
        }
        assert!(limiter.check("someone", ip("1.2.3.4"), now).is_err());
        assert_eq!(limiter.check("someone", ip("9.9.9.9"), now), Ok(()));
    }

    #[test]
    fn the_name_ceiling_spares_known_addresses() {
        let limiter = LoginLimiter::new(1);
        let now = Instant::now();
        limiter.succeed("alice", ip("10.0.0.2"), now);
        for n in 0..10 {
            limiter.fail("alice", ip(&format!("192.0.2.{n}")), now);
        }
        assert!(
            limiter.check("alice", ip("198.51.100.1"), now).is_err(),
            "a new address waits while the name is under attack"
        );
        assert_eq!(
            limiter.check("alice", ip("10.0.0.2"), now),
            Ok(()),
            "the owner's known address still may log in"
        );
    }

    #[test]
    fn success_clears_only_its_own_pair() {
        let limiter = LoginLimiter::new(1);
        let now = Instant::now();
        limiter.fail("alice", ip("1.2.3.4"), now);
        assert!(limiter.check("alice", ip("1.2.3.4"), now).is_err());
        limiter.succeed("alice", ip("1.2.3.4"), now);
        assert_eq!(limiter.check("alice", ip("1.2.3.4"), now), Ok(()));
        limiter.fail("alice", None, now);
        assert!(limiter.check("alice", None, now).is_err());
    }
}
