//! [`Clock`]: where the engine reads the time and waits for deadlines, so that tests
//! move time by hand instead of sleeping.

use hearth_model::{Millis, now_millis};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::watch;

/// A deadline's wait.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The engine's time.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;
    /// Completes once `now_ms() >= deadline_ms`.
    fn sleep_until(&self, deadline_ms: Millis) -> Sleep;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        now_millis()
    }

    fn sleep_until(&self, deadline_ms: Millis) -> Sleep {
        Box::pin(async move {
            // Re-checked after waking: a wall clock may be set back meanwhile.
            loop {
                let left = deadline_ms - now_millis();
                if left <= 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(left as u64)).await;
            }
        })
    }
}

/// A clock that moves only when told ([`ManualClock::set`], [`ManualClock::advance`]).
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: watch::Sender<Millis>,
}

impl ManualClock {
    pub fn new(now_ms: Millis) -> ManualClock {
        ManualClock {
            now: watch::Sender::new(now_ms),
        }
    }

    pub fn set(&self, now_ms: Millis) {
        self.now.send_replace(now_ms);
    }

    pub fn advance(&self, by: Duration) {
        self.now.send_modify(|now| *now += by.as_millis() as Millis);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline_ms: Millis) -> Sleep {
        let mut now = self.now.subscribe();
        Box::pin(async move {
            let _ = now.wait_for(|now| *now >= deadline_ms).await;
        })
    }
}
