//! The coordinator lease (issue 21, `hearth_services::lease`): several `Leadership`s on one
//! real store (a SQLite file, a PostgreSQL schema), as nodes sharing a database would run
//! them. Every test samples the handles the whole time and fails if two ever held the
//! lease at once; conditions are waited for with generous deadlines, never timed.

use async_trait::async_trait;
use hearth_model::{Millis, now_millis};
use hearth_services::lease::{COORDINATOR, Leadership};
use hearth_store::{LeaseStore, Store, StoreError, StoreResult};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Short, so that the tests see several renewals and an expiry.
const TTL: Duration = Duration::from_millis(2_000);
const DEADLINE: Duration = Duration::from_secs(60);

/// Waits until `condition` holds, or fails after [`DEADLINE`].
async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Samples the handles every millisecond or so until dropped; counts the moments more
/// than one held the lease.
struct Watch {
    overlaps: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    fn start(nodes: Vec<Leadership>) -> Watch {
        let overlaps = Arc::new(AtomicU64::new(0));
        let counted = overlaps.clone();
        let task = tokio::spawn(async move {
            loop {
                let held = nodes.iter().filter(|node| node.is_held()).count();
                if held > 1 {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        Watch { overlaps, task }
    }

    fn overlaps(&self) -> u64 {
        self.overlaps.load(Ordering::SeqCst)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn node(store: &Arc<dyn Store>, name: &str) -> Leadership {
    Leadership::start(store.clone(), COORDINATOR, name.to_owned(), TTL)
}

async fn one_of_two_nodes_holds_and_a_shutdown_hands_over_at_once(store: Arc<dyn Store>) {
    let a = node(&store, "node-a");
    let b = node(&store, "node-b");
    let watch = Watch::start(vec![a.clone(), b.clone()]);
    until("a node holds the lease", || a.is_held() || b.is_held()).await;
    let (holder, other) = if a.is_held() { (a, b) } else { (b, a) };
    // Several renewals later it still holds it, and the other never got in.
    let (_, first_expiry) = store.lease_holder(COORDINATOR).await.unwrap().unwrap();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (name, expiry) = store.lease_holder(COORDINATOR).await.unwrap().unwrap();
        assert_eq!(name, holder.holder_id());
        if expiry > first_expiry + 2 * TTL.as_millis() as Millis {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no renewals");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(other.acquired_total(), 0);
    let mut flag = other.subscribe();
    assert!(!*flag.borrow());

    // The holder stops: the lease is released, not left to expire.
    holder.shutdown().await;
    assert!(!holder.is_held());
    let left = store.lease_holder(COORDINATOR).await.unwrap();
    assert!(
        left.is_none() || left.as_ref().map(|(name, _)| name.as_str()) == Some(other.holder_id()),
        "{left:?}"
    );
    // The other takes it at its next attempt, and says so to subscribers.
    tokio::time::timeout(DEADLINE, flag.wait_for(|held| *held))
        .await
        .expect("the other node takes over")
        .unwrap();
    assert!(other.is_held());
    assert_eq!(other.acquired_total(), 1);
    assert_eq!(holder.lost_total(), 0, "a shutdown is not a loss");
    assert_eq!(
        store.lease_holder(COORDINATOR).await.unwrap().unwrap().0,
        other.holder_id()
    );
    holder.shutdown().await; // idempotent
    other.shutdown().await;
    assert_eq!(store.lease_holder(COORDINATOR).await.unwrap(), None);
    assert_eq!(watch.overlaps(), 0);
}

async fn a_holder_whose_lease_is_taken_steps_down(store: Arc<dyn Store>) {
    let a = node(&store, "node-a");
    until("node-a holds the lease", || a.is_held()).await;
    let b = node(&store, "node-b");
    let watch = Watch::start(vec![a.clone(), b.clone()]);
    let mut flag = a.subscribe();
    assert!(*flag.borrow());

    // A third party takes the lease as if node-a's had expired (a clock far ahead), for
    // an hour.
    let hour: Millis = 3_600_000;
    let stolen = store
        .acquire_lease(COORDINATOR, "thief", now_millis() + 10 * hour, hour)
        .await
        .unwrap();
    assert!(stolen.is_some());
    // node-a's next renewal finds it taken: it steps down and tells its subscribers.
    tokio::time::timeout(DEADLINE, flag.wait_for(|held| !*held))
        .await
        .expect("node-a steps down")
        .unwrap();
    assert!(!a.is_held());
    assert_eq!(a.lost_total(), 1);
    // Nobody else gets it while the thief's lease is live.
    let before = b.acquired_total();
    for _ in 0..3 {
        tokio::time::sleep(TTL / 2).await;
        assert!(!a.is_held() && !b.is_held());
    }
    assert_eq!(b.acquired_total(), before);
    assert_eq!(
        store.lease_holder(COORDINATOR).await.unwrap().unwrap().0,
        "thief"
    );
    // Released by the thief: one of them takes it again.
    assert!(store.release_lease(COORDINATOR, "thief").await.unwrap());
    until("a node holds the lease again", || {
        a.is_held() || b.is_held()
    })
    .await;
    a.shutdown().await;
    b.shutdown().await;
    assert_eq!(watch.overlaps(), 0);
}

/// The real store, whose lease statements fail while `failing` is set (as they would
/// with the database out of reach from this node only).
struct Unreachable {
    inner: Arc<dyn Store>,
    failing: AtomicBool,
    refused: AtomicU64,
}

impl Unreachable {
    fn check(&self) -> StoreResult<()> {
        if self.failing.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Backend("injected: database unreachable".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl LeaseStore for Unreachable {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: Millis,
        ttl_ms: Millis,
    ) -> StoreResult<Option<Millis>> {
        self.check()?;
        self.inner.acquire_lease(name, holder, now_ms, ttl_ms).await
    }
    async fn release_lease(&self, name: &str, holder: &str) -> StoreResult<bool> {
        self.check()?;
        self.inner.release_lease(name, holder).await
    }
    async fn lease_holder(&self, name: &str) -> StoreResult<Option<(String, Millis)>> {
        self.check()?;
        self.inner.lease_holder(name).await
    }
}

async fn a_holder_cut_off_from_the_store_steps_down_before_another_takes_over(
    store: Arc<dyn Store>,
) {
    let cut = Arc::new(Unreachable {
        inner: store.clone(),
        failing: AtomicBool::new(false),
        refused: AtomicU64::new(0),
    });
    let a = Leadership::start(cut.clone(), COORDINATOR, "node-a".into(), TTL);
    until("node-a holds the lease", || a.is_held()).await;
    let b = node(&store, "node-b");
    let watch = Watch::start(vec![a.clone(), b.clone()]);
    let mut a_flag = a.subscribe();
    let mut b_flag = b.subscribe();

    cut.failing.store(true, Ordering::SeqCst);
    // node-a cannot renew: it steps down on its own, and node-b takes the lease once
    // node-a's expired, never while node-a believed it held it (the watch counts).
    tokio::time::timeout(DEADLINE, a_flag.wait_for(|held| !*held))
        .await
        .expect("node-a steps down")
        .unwrap();
    tokio::time::timeout(DEADLINE, b_flag.wait_for(|held| *held))
        .await
        .expect("node-b takes over")
        .unwrap();
    assert!(cut.refused.load(Ordering::SeqCst) > 0);
    assert!(!a.is_held());
    assert_eq!(a.lost_total(), 1);
    assert_eq!(
        store.lease_holder(COORDINATOR).await.unwrap().unwrap().0,
        "node-b"
    );
    // Back in reach, node-a finds the lease taken and stays down.
    cut.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(TTL).await;
    assert!(!a.is_held());
    assert_eq!(a.acquired_total(), 1);
    a.shutdown().await;
    b.shutdown().await;
    assert_eq!(watch.overlaps(), 0);
}

hearth_testkit::both_backends!(
    one_of_two_nodes_holds_and_a_shutdown_hands_over_at_once,
    a_holder_whose_lease_is_taken_steps_down,
    a_holder_cut_off_from_the_store_steps_down_before_another_takes_over,
);

#[tokio::test]
async fn a_single_node_always_holds_it() {
    let single = Leadership::always();
    assert!(single.is_held());
    assert!(!single.is_shared());
    assert!(*single.subscribe().borrow());
    assert_eq!(single.lease_name(), None);
    single.shutdown().await;
    assert!(single.clone().is_held(), "a single node's lease has no end");
}
