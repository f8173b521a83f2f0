//! Claim codes and owners (issue 23): a device made unclaimed waits in the holding
//! application with its code's hash; claiming is a compare and set on that hash (single
//! use), moves it and records the owner; unclaiming replaces the code and the secret.

use super::{
    add_devices, aid, app, assert_not_found, audit, did, group, new_device, seed, uname, user,
};
use hearth_model::{AuditEntry, DeviceId};
use hearth_store::{AuditFilter, Store};
use hearth_testkit::both_backends;
use std::sync::Arc;

async fn holding(store: &Arc<dyn Store>) {
    seed(store).await;
    store
        .create_group(&group("_unclaimed"), &audit("group.create", "_unclaimed"))
        .await
        .unwrap();
    store
        .create_app(
            &app("_unclaimed", "_unclaimed"),
            "hash-x",
            &audit("app.create", "_unclaimed"),
        )
        .await
        .unwrap();
    add_devices(store, &[new_device("lock-1", "_unclaimed")]).await;
}

async fn secret_hash_of(store: &Arc<dyn Store>, id: &DeviceId) -> String {
    store
        .credentials()
        .await
        .unwrap()
        .devices
        .into_iter()
        .find(|device| &device.id == id)
        .unwrap()
        .secret_hash
}

async fn a_claim_spends_the_code_once_and_records_the_owner(store: Arc<dyn Store>) {
    holding(&store).await;
    let lock = did("lock-1");
    let fresh = store.claim_state(&lock).await.unwrap();
    assert!(!fresh.unclaimed() && fresh.owner.is_none(), "{fresh:?}");
    store
        .make_unclaimed(
            &lock,
            &aid("_unclaimed"),
            "code-1",
            None,
            &audit("device.unclaimable", "lock-1"),
        )
        .await
        .unwrap();
    assert!(store.claim_state(&lock).await.unwrap().unclaimed());
    // A code that is not the stored one claims nothing.
    assert_not_found(
        store
            .claim_device(
                &lock,
                "code-0",
                &aid("lights"),
                &uname("alice"),
                Some("kitchen"),
                5,
                &audit("device.claim", "lock-1"),
            )
            .await,
        "device",
        "lock-1",
    );
    store
        .claim_device(
            &lock,
            "code-1",
            &aid("lights"),
            &uname("alice"),
            Some("kitchen"),
            5,
            &audit("device.claim", "lock-1"),
        )
        .await
        .unwrap();
    let state = store.claim_state(&lock).await.unwrap();
    assert_eq!(state.code_hash, None);
    assert_eq!(state.owner, Some(uname("alice")));
    assert_eq!(state.claimed_at_ms, Some(5));
    let device = store.device(&lock).await.unwrap();
    assert_eq!(
        (device.application, device.room.as_deref()),
        (aid("lights"), Some("kitchen"))
    );
    assert_eq!(
        store.owned_devices(&uname("alice")).await.unwrap(),
        vec![lock.clone()]
    );
    // Spent: the same code again is refused.
    assert_not_found(
        store
            .claim_device(
                &lock,
                "code-1",
                &aid("lights"),
                &uname("alice"),
                None,
                6,
                &audit("device.claim", "lock-1"),
            )
            .await,
        "device",
        "lock-1",
    );
    let entries: Vec<AuditEntry> = store
        .audit(&AuditFilter {
            target: Some("lock-1".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(
        entries.iter().any(|entry| entry.action == "device.claim"),
        "{entries:?}"
    );
}

async fn two_claims_racing_with_one_code_have_one_winner(store: Arc<dyn Store>) {
    holding(&store).await;
    store
        .create_user(
            &user("bob", false),
            "hash-bob",
            &audit("user.create", "bob"),
        )
        .await
        .unwrap();
    let lock = did("lock-1");
    for round in 0..10 {
        let code = format!("code-{round}");
        store
            .make_unclaimed(
                &lock,
                &aid("_unclaimed"),
                &code,
                None,
                &audit("device.unclaim", "lock-1"),
            )
            .await
            .unwrap();
        let tries: Vec<_> = ["alice", "bob"]
            .into_iter()
            .map(|name| {
                let store = store.clone();
                let code = code.clone();
                tokio::spawn(async move {
                    store
                        .claim_device(
                            &did("lock-1"),
                            &code,
                            &aid("lights"),
                            &uname(name),
                            None,
                            1,
                            &audit("device.claim", "lock-1"),
                        )
                        .await
                        .is_ok()
                })
            })
            .collect();
        let mut wins = 0;
        for attempt in tries {
            wins += usize::from(attempt.await.unwrap());
        }
        assert_eq!(wins, 1, "round {round}");
    }
}

async fn unclaiming_replaces_code_and_secret_and_clears_the_owner(store: Arc<dyn Store>) {
    holding(&store).await;
    let lock = did("lock-1");
    store
        .make_unclaimed(
            &lock,
            &aid("_unclaimed"),
            "code-1",
            None,
            &audit("device.unclaimable", "lock-1"),
        )
        .await
        .unwrap();
    store
        .claim_device(
            &lock,
            "code-1",
            &aid("lights"),
            &uname("alice"),
            Some("kitchen"),
            5,
            &audit("device.claim", "lock-1"),
        )
        .await
        .unwrap();
    store
        .set_device_cert(&lock, Some("ab"), &audit("device.cert_issue", "lock-1"))
        .await
        .unwrap();
    let before = secret_hash_of(&store, &lock).await;
    store
        .make_unclaimed(
            &lock,
            &aid("_unclaimed"),
            "code-2",
            Some("hash-new"),
            &audit("device.unclaim", "lock-1"),
        )
        .await
        .unwrap();
    assert_ne!(before, "hash-new");
    assert_eq!(secret_hash_of(&store, &lock).await, "hash-new");
    let state = store.claim_state(&lock).await.unwrap();
    assert_eq!(
        (state.code_hash.as_deref(), state.owner, state.claimed_at_ms),
        (Some("code-2"), None, None)
    );
    let device = store.device(&lock).await.unwrap();
    assert_eq!((device.application, device.room), (aid("_unclaimed"), None));
    let credential = store
        .credentials()
        .await
        .unwrap()
        .devices
        .into_iter()
        .find(|d| d.id == lock)
        .unwrap();
    assert_eq!(credential.cert_sha256, None);
    assert!(
        store
            .owned_devices(&uname("alice"))
            .await
            .unwrap()
            .is_empty()
    );
    // The old code is gone with the claim; only the new one claims.
    assert_not_found(
        store
            .claim_device(
                &lock,
                "code-1",
                &aid("lights"),
                &uname("alice"),
                None,
                6,
                &audit("device.claim", "lock-1"),
            )
            .await,
        "device",
        "lock-1",
    );
}

async fn a_deleted_owner_leaves_the_device_unowned(store: Arc<dyn Store>) {
    holding(&store).await;
    let lock = did("lock-1");
    store
        .make_unclaimed(
            &lock,
            &aid("_unclaimed"),
            "code-1",
            None,
            &audit("device.unclaimable", "lock-1"),
        )
        .await
        .unwrap();
    store
        .claim_device(
            &lock,
            "code-1",
            &aid("lights"),
            &uname("alice"),
            None,
            5,
            &audit("device.claim", "lock-1"),
        )
        .await
        .unwrap();
    store
        .delete_user(&uname("alice"), &audit("user.remove", "alice"))
        .await
        .unwrap();
    assert_eq!(store.claim_state(&lock).await.unwrap().owner, None);
    assert_not_found(store.claim_state(&did("nope")).await, "device", "nope");
    assert_not_found(
        store
            .make_unclaimed(
                &did("nope"),
                &aid("_unclaimed"),
                "c",
                None,
                &audit("device.unclaim", "nope"),
            )
            .await,
        "device",
        "nope",
    );
}

both_backends!(
    a_claim_spends_the_code_once_and_records_the_owner,
    two_claims_racing_with_one_code_have_one_winner,
    unclaiming_replaces_code_and_secret_and_clears_the_owner,
    a_deleted_owner_leaves_the_device_unowned,
);
