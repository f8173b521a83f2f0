//! The sites' registry mirror with several Hearth nodes (issue 21, docs/scale.md "The
//! coordinator lease"): a home's request reaches one node, so only the coordinator pushes
//! changed snapshots, and to every enabled site, including those that asked another
//! node. The other node is played by a lease taken in the same store. SQLite and
//! PostgreSQL, the built-in broker's bus.

use hearth_broker::{Broker, BrokerConfig};
use hearth_bus::Bus;
use hearth_model::{Millis, SiteId, now_millis};
use hearth_services::lease::{COORDINATOR, Leadership};
use hearth_services::registry::SiteMirror;
use hearth_services::{Registry, RegistryAuthorizer};
use hearth_store::Store;
use hearth_testkit::ids;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const HOUR: Millis = 3_600_000;
const DEADLINE: Duration = Duration::from_secs(30);

fn site(id: &str) -> SiteId {
    SiteId::new(id).unwrap()
}

async fn only_the_coordinator_pushes_changed_snapshots_to_every_site(store: Arc<dyn Store>) {
    let registry = Registry::new(store.clone());
    registry
        .ensure_owner(Some("owner-password-1".into()))
        .await
        .unwrap();
    registry
        .add_site("test", &site("home-1"), &ids::group("home"), None)
        .await
        .unwrap();
    let authorizer = RegistryAuthorizer::load(store.clone(), false, None)
        .await
        .unwrap();
    let broker = Broker::start(BrokerConfig::ephemeral(), authorizer)
        .await
        .unwrap();
    let bus: Arc<dyn Bus> = Arc::new(broker.handle());
    let mut snapshots = bus.subscribe("sites/+/registry/snapshot").await.unwrap();

    let taken = store
        .acquire_lease(COORDINATOR, "other-node", now_millis(), HOUR)
        .await
        .unwrap();
    assert!(taken.is_some());
    let leadership = Leadership::start(
        store.clone(),
        COORDINATOR,
        "this-node".into(),
        Duration::from_secs(2),
    );
    let (mirror, task) =
        SiteMirror::start(store.clone(), bus.clone(), None, leadership.clone()).unwrap();

    // Changes while another node coordinates: this one pushes nothing.
    registry
        .add_site("test", &site("home-2"), &ids::group("home"), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await; // several of the mirror's polls
    assert!(snapshots.receiver.try_recv().is_err());
    assert_eq!(mirror.counters.snapshots_sent.load(Ordering::SeqCst), 0);

    // The other node leaves: this one coordinates, and the next change reaches every
    // enabled site, though none asked this node.
    assert!(
        store
            .release_lease(COORDINATOR, "other-node")
            .await
            .unwrap()
    );
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !leadership.is_held() {
        assert!(tokio::time::Instant::now() < deadline, "lease not taken");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    registry
        .add_site("test", &site("home-3"), &ids::group("home"), None)
        .await
        .unwrap();
    let mut pushed = BTreeSet::new();
    while pushed.len() < 3 {
        let message = tokio::time::timeout_at(deadline, snapshots.recv())
            .await
            .unwrap_or_else(|_| panic!("snapshots pushed: {pushed:?}"))
            .unwrap();
        pushed.insert(message.topic.to_string());
    }
    assert_eq!(
        pushed,
        BTreeSet::from([
            "sites/home-1/registry/snapshot".to_owned(),
            "sites/home-2/registry/snapshot".to_owned(),
            "sites/home-3/registry/snapshot".to_owned(),
        ])
    );
    task.abort();
    leadership.shutdown().await;
}

hearth_testkit::both_backends!(only_the_coordinator_pushes_changed_snapshots_to_every_site);
