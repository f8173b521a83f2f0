//! Leases (issue 21): taken by one holder at a time, renewed by that holder, taken over
//! only once expired or released.

use hearth_store::Store;
use hearth_testkit::both_backends;
use std::sync::Arc;

async fn two_holders_racing_for_a_lease_never_both_win(store: Arc<dyn Store>) {
    assert_eq!(store.lease_holder("race-0").await.unwrap(), None);
    for round in 0..20 {
        let name = format!("race-{round}");
        let attempts: Vec<_> = ["node-a", "node-b"]
            .into_iter()
            .map(|holder| {
                let store = store.clone();
                let name = name.clone();
                tokio::spawn(async move {
                    let won = store
                        .acquire_lease(&name, holder, 1_000, 500)
                        .await
                        .unwrap();
                    (holder, won)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for attempt in attempts {
            let (holder, won) = attempt.await.unwrap();
            if let Some(expiry) = won {
                assert_eq!(expiry, 1_500);
                winners.push(holder);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(
            store.lease_holder(&name).await.unwrap(),
            Some((winners[0].to_owned(), 1_500))
        );
    }
}

async fn a_holder_renews_and_another_takes_over_only_after_expiry(store: Arc<dyn Store>) {
    let lease = "coordinator";
    assert_eq!(
        store.acquire_lease(lease, "a", 1_000, 500).await.unwrap(),
        Some(1_500)
    );
    // Renewal extends from the holder's now.
    assert_eq!(
        store.acquire_lease(lease, "a", 1_200, 500).await.unwrap(),
        Some(1_700)
    );
    // Live: refused, and nothing changed.
    assert_eq!(
        store.acquire_lease(lease, "b", 1_600, 500).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .acquire_lease(lease, "b", 1_699, 10_000)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.lease_holder(lease).await.unwrap(),
        Some(("a".to_owned(), 1_700))
    );
    // Expired (at its expiry exactly): b takes it, and a can no longer renew.
    assert_eq!(
        store.acquire_lease(lease, "b", 1_700, 500).await.unwrap(),
        Some(2_200)
    );
    assert_eq!(
        store.acquire_lease(lease, "a", 1_800, 500).await.unwrap(),
        None
    );
    assert_eq!(
        store.lease_holder(lease).await.unwrap(),
        Some(("b".to_owned(), 2_200))
    );
    // Other names are other leases.
    assert_eq!(
        store.acquire_lease("other", "a", 1_800, 500).await.unwrap(),
        Some(2_300)
    );
}

async fn a_released_lease_is_free_at_once_and_only_its_holder_releases_it(store: Arc<dyn Store>) {
    let lease = "coordinator";
    assert_eq!(
        store
            .acquire_lease(lease, "a", 1_000, 60_000)
            .await
            .unwrap(),
        Some(61_000)
    );
    // Not b's to release: left alone.
    assert!(!store.release_lease(lease, "b").await.unwrap());
    assert_eq!(
        store
            .acquire_lease(lease, "b", 2_000, 60_000)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.lease_holder(lease).await.unwrap(),
        Some(("a".to_owned(), 61_000))
    );
    // a gives it up: b takes it long before a's expiry.
    assert!(store.release_lease(lease, "a").await.unwrap());
    assert_eq!(store.lease_holder(lease).await.unwrap(), None);
    assert!(!store.release_lease(lease, "a").await.unwrap());
    assert_eq!(
        store
            .acquire_lease(lease, "b", 2_000, 60_000)
            .await
            .unwrap(),
        Some(62_000)
    );
    assert_eq!(
        store.lease_holder(lease).await.unwrap(),
        Some(("b".to_owned(), 62_000))
    );
}

both_backends!(
    two_holders_racing_for_a_lease_never_both_win,
    a_holder_renews_and_another_takes_over_only_after_expiry,
    a_released_lease_is_free_at_once_and_only_its_holder_releases_it,
);
