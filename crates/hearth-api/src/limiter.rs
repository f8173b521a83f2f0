//! The login rate limit: failed attempts per client address and per user name in the
//! last minute, in memory (a restart forgets them, which is fine for a minute's window).
//!
//! A `parking_lot::Mutex` over one map: each login takes it twice for a few
//! microseconds (check, then record), nothing awaits while holding it, and logins are
//! rare. The map is bounded: past `MAX_KEYS` keys, stale ones are swept, and if an
//! attacker still fills it with fresh ones, the oldest are dropped.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
const MAX_KEYS: usize = 10_000;

pub struct LoginLimiter {
    max_failures: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max_failures_per_minute: u32) -> LoginLimiter {
        LoginLimiter {
            max_failures: max_failures_per_minute.max(1) as usize,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` when any of `keys` used up its failures this minute.
    pub fn check(&self, keys: &[String], now: Instant) -> Option<u64> {
        let mut failures = self.failures.lock();
        keys.iter()
            .filter_map(|key| {
                let times = failures.get_mut(key)?;
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= WINDOW)
                {
                    times.pop_front();
                }
                if times.len() < self.max_failures {
                    return None;
                }
                let oldest = *times.front()?;
                let wait = WINDOW.saturating_sub(now.duration_since(oldest));
                Some(wait.as_secs_f64().ceil().max(1.0) as u64)
            })
            .max()
    }

    /// Records one failed attempt under each of `keys`.
    pub fn fail(&self, keys: &[String], now: Instant) {
        let mut failures = self.failures.lock();
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|last| now.duration_since(*last) < WINDOW)
            });
            if failures.len() >= MAX_KEYS {
                failures.clear();
            }
        }
        for key in keys {
            let times = failures.entry(key.clone()).or_default();
            times.push_back(now);
            while times.len() > self.max_failures {
                times.pop_front();
            }
        }
    }

    /// A successful login clears its user name's failures (not the address's).
    pub fn succeed(&self, user_key: &str) {
        self.failures.lock().remove(user_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_for_the_rest_of_the_minute() {
        let limiter = LoginLimiter::new(5);
        let keys = vec!["ip:1.2.3.4".to_owned(), "user:alice".to_owned()];
        let start = Instant::now();
        for _ in 0..5 {
            assert_eq!(limiter.check(&keys, start), None);
            limiter.fail(&keys, start);
        }
        let wait = limiter
            .check(&keys, start + Duration::from_secs(10))
            .unwrap();
        assert_eq!(wait, 50);
        limiter.succeed("user:alice");
        assert!(
            limiter.check(&keys[1..], start).is_none(),
            "the name is cleared"
        );
        assert!(
            limiter.check(&keys[..1], start).is_some(),
            "the address stays limited"
        );
        assert_eq!(limiter.check(&keys, start + WINDOW), None, "a minute later");
    }
}
