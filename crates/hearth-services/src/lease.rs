//! Who is the coordinator (issue 21, docs/scale.md "The coordinator lease"): when
//! several Hearth nodes share one PostgreSQL database behind an external broker, the
//! work that must happen once across them (history upkeep, the dynamic-security sync,
//! the coordinator's engines) runs on the node holding a lease in the store.
//!
//! [`Leadership`] is a cheap handle on one lease. [`Leadership::always`] is a single
//! node's: held from the start, no store. [`Leadership::start`] runs a task that takes
//! the lease when it is free or expired and renews it while held, every quarter of its
//! time to live (a little jittered, so that nodes started together do not ask in step).
//!
//! # Why two nodes never both believe they hold it
//! The store takes or renews a lease in one statement (`LeaseStore::acquire_lease`)
//! until `now + ttl` by the asking node's wall clock, and another node takes it over
//! only once that time has passed by its own clock. The holder, however, counts its
//! hold from the moment it sent its last successful renewal (before the store wrote
//! anything) and steps down [`HOLD_FRACTION`] of the ttl later, by its monotonic clock,
//! if no renewal succeeded since: `is_held` turns false then, even while a renewal is
//! still waiting for an answer, and even if the task is late. The remaining third of
//! the ttl is the safety margin: **the nodes' wall clocks must agree within it** (5 s
//! with [`DEFAULT_TTL`]; NTP keeps them within milliseconds). A node whose clock runs
//! ahead of the holder's by more than the margin would take the lease while the holder
//! still uses it. A holder that steps down or loses the lease tells its subscribers;
//! work already under way when that happens finishes (a job checks `is_held` before each
//! round, not inside it), so jobs gated on the lease must be safe to overlap briefly,
//! as retention's transactions and the dynamic-security sync's idempotent commands are.

use hearth_model::{Millis, now_millis};
use hearth_store::LeaseStore;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The lease the coordinator holds.
pub const COORDINATOR: &str = "coordinator";

/// The coordinator's time to live: a node that dies is replaced within this and a
/// quarter more; a holder steps down after two thirds of it without a renewal.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15);

/// How much of the ttl a holder counts itself the holder after the last successful
/// renewal was sent: two thirds, leaving a third as the margin for clocks that differ.
pub const HOLD_FRACTION: (u32, u32) = (2, 3);

/// A handle on one lease, held or not (cheap to clone; every clone sees the same).
#[derive(Clone)]
pub struct Leadership {
    inner: Arc<Inner>,
}

struct Inner {
    holder: String,
    /// `None` for [`Leadership::always`].
    name: Option<String>,
    shared: Arc<Shared>,
    /// Tells the task to stop; dropping the last handle drops it, which stops the task too
    /// (without releasing: the lease then expires).
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    store: Option<Arc<dyn LeaseStore>>,
}

/// What the task and the handles share.
struct Shared {
    /// Until when this node counts itself the holder (`None`: it does not).
    held_until: Mutex<Option<Instant>>,
    /// The same as a flag for subscribers, set by the task (a little after `held_until`
    /// passes at worst; `is_held` is exact).
    state: watch::Sender<bool>,
    acquired: AtomicU64,
    lost: AtomicU64,
    always: bool,
}

impl Shared {
    fn is_held(&self) -> bool {
        self.always
            || self
                .held_until
                .lock()
                .is_some_and(|until| Instant::now() < until)
    }

    /// Sets the flag from `held_until`, counting a step down as lost unless `quitting`.
    fn publish(&self, quitting: bool) {
        let held = self.is_held();
        let was = *self.state.borrow();
        if held == was {
            return;
        }
        if held {
            self.acquired.fetch_add(1, Ordering::Relaxed);
        } else if !quitting {
            self.lost.fetch_add(1, Ordering::Relaxed);
        }
        self.state.send_replace(held);
    }
}

impl Leadership {
    /// A single node's leadership: held from the start until the end, with no store.
    pub fn always() -> Leadership {
        let (stop, _) = watch::channel(false);
        let (state, _) = watch::channel(true);
        Leadership {
            inner: Arc::new(Inner {
                holder: "single".to_owned(),
                name: None,
                shared: Arc::new(Shared {
                    held_until: Mutex::new(None),
                    state,
                    acquired: AtomicU64::new(1),
                    lost: AtomicU64::new(0),
                    always: true,
                }),
                stop,
                task: Mutex::new(None),
                store: None,
            }),
        }
    }

    /// Starts competing for the lease `name` in `store` as `holder` (unique per node and
    /// run, e.g. host name, process id and start time) with time to live `ttl` (at least
    /// 200 ms). Not held until the first attempt succeeds; must be called inside a Tokio
    /// runtime.
    pub fn start(
        store: Arc<dyn LeaseStore>,
        name: &str,
        holder: String,
        ttl: Duration,
    ) -> Leadership {
        let ttl = ttl.max(Duration::from_millis(200));
        let (stop, stopped) = watch::channel(false);
        let (state, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            held_until: Mutex::new(None),
            state,
            acquired: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            always: false,
        });
        let task = tokio::spawn(
            Task {
                store: store.clone(),
                name: name.to_owned(),
                holder: holder.clone(),
                ttl,
                shared: shared.clone(),
            }
            .run(stopped),
        );
        Leadership {
            inner: Arc::new(Inner {
                holder,
                name: Some(name.to_owned()),
                shared,
                stop,
                task: Mutex::new(Some(task)),
                store: Some(store),
            }),
        }
    }

    /// Whether this node holds the lease now. Exact: false from the moment the hold
    /// counted from the last successful renewal ran out, whatever the task is doing.
    pub fn is_held(&self) -> bool {
        self.inner.shared.is_held()
    }

    /// Whether the lease is held, as a flag that changes (for services started when the
    /// node gains the lease and stopped when it loses it). Its sender lives as long as a
    /// handle does: `changed()` failing means every handle was dropped.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.inner.shared.state.subscribe()
    }

    /// This node's name in the store (`single` for [`Leadership::always`]).
    pub fn holder_id(&self) -> &str {
        &self.inner.holder
    }

    /// The lease's name (`None` for [`Leadership::always`]).
    pub fn lease_name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Whether other nodes compete for it (a lease in the store), as opposed to
    /// [`Leadership::always`].
    pub fn is_shared(&self) -> bool {
        !self.inner.shared.always
    }

    /// Times this node took the lease (1 for [`Leadership::always`]), for `/metrics`.
    pub fn acquired_total(&self) -> u64 {
        self.inner.shared.acquired.load(Ordering::Relaxed)
    }

    /// Times this node stepped down or found the lease taken while it believed it held
    /// it (not counting [`Leadership::shutdown`]), for `/metrics`.
    pub fn lost_total(&self) -> u64 {
        self.inner.shared.lost.load(Ordering::Relaxed)
    }

    /// Stops competing and gives the lease up (if held), so that another node takes it
    /// at its next attempt instead of after the expiry. Every clone is then not held.
    /// Idempotent; does nothing for [`Leadership::always`].
    pub async fn shutdown(&self) {
        let Some(task) = self.inner.task.lock().take() else {
            return;
        };
        self.inner.stop.send_replace(true);
        let _ = task.await;
        *self.inner.shared.held_until.lock() = None;
        self.inner.shared.publish(true);
        if let (Some(store), Some(name)) = (&self.inner.store, &self.inner.name)
            && let Err(error) = store.release_lease(name, &self.inner.holder).await
        {
            tracing::warn!(lease = name, %error, "lease not released; it expires on its own");
        }
    }
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("lease", &self.inner.name)
            .field("holder", &self.inner.holder)
            .field("held", &self.is_held())
            .finish()
    }
}

struct Task {
    store: Arc<dyn LeaseStore>,
    name: String,
    holder: String,
    ttl: Duration,
    shared: Arc<Shared>,
}

/// Why the task stopped waiting.
enum Wake {
    Stop,
    Due,
}

impl Task {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let ttl_ms = Millis::try_from(self.ttl.as_millis()).unwrap_or(Millis::MAX);
        let hold = self.ttl * HOLD_FRACTION.0 / HOLD_FRACTION.1;
        loop {
            if *stop.borrow() {
                return;
            }
            let sent = Instant::now();
            let attempt = self
                .store
                .acquire_lease(&self.name, &self.holder, now_millis(), ttl_ms);
            tokio::pin!(attempt);
            // Wait for the answer, stepping down meanwhile if the hold runs out.
            let answer = loop {
                self.shared.publish(false);
                let until = *self.shared.held_until.lock();
                tokio::select! {
                    answer = &mut attempt => break answer,
                    _ = sleep_until(until) => {}
                    _ = stop.changed() => return,
                }
            };
            match answer {
                Ok(Some(_expiry)) => {
                    *self.shared.held_until.lock() = Some(sent + hold);
                    if !*self.shared.state.borrow() {
                        tracing::info!(lease = self.name, holder = self.holder, "lease taken");
                    }
                }
                Ok(None) => {
                    if self.shared.held_until.lock().take().is_some() && *self.shared.state.borrow()
                    {
                        tracing::warn!(
                            lease = self.name,
                            holder = self.holder,
                            "lease taken by another node"
                        );
                    }
                }
                Err(error) => {
                    tracing::warn!(lease = self.name, %error, "lease not renewed");
                }
            }
            self.shared.publish(false);
            let next = sent + jittered(self.ttl / 4);
            loop {
                self.shared.publish(false);
                let until = *self.shared.held_until.lock();
                let wake = tokio::select! {
                    _ = tokio::time::sleep_until(next) => Wake::Due,
                    _ = sleep_until(until) => continue,
                    _ = stop.changed() => Wake::Stop,
                };
                match wake {
                    Wake::Stop => return,
                    Wake::Due => break,
                }
            }
        }
    }
}

/// Sleeps until `until`, or forever if `None` or already past (the callers publish the
/// step-down it stands for before waiting).
async fn sleep_until(until: Option<Instant>) {
    match until {
        Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
        _ => std::future::pending().await,
    }
}

/// `period` give or take a tenth.
fn jittered(period: Duration) -> Duration {
    let tenth = period / 10;
    if tenth.is_zero() {
        return period;
    }
    let mut bytes = [0u8; 8];
    // No jitter rather than no lease if the random source fails.
    if getrandom::fill(&mut bytes).is_err() {
        return period;
    }
    let spread = u64::from_le_bytes(bytes) % (tenth.as_micros() as u64 * 2 + 1);
    period - tenth + Duration::from_micros(spread)
}
