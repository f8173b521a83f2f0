//! People's notification preferences and Web Push subscriptions.

use super::{assert_not_found, audit, seed, uname, user};
use hearth_model::{NotificationPrefs, PushSubscription, QuietHours, Severity};
use hearth_store::{Store, StoreError};
use hearth_testkit::both_backends;
use std::sync::Arc;

fn subscription(id: &str, user: &str, endpoint: &str) -> PushSubscription {
    PushSubscription {
        id: id.into(),
        user: uname(user),
        endpoint: endpoint.into(),
        p256dh: "BPublicKey".into(),
        auth: "secret".into(),
        created_at_ms: 1_700_000_000_000,
    }
}

async fn preferences_default_then_replace(store: Arc<dyn Store>) {
    seed(&store).await;
    let alice = uname("alice");
    assert_eq!(
        store.notification_prefs(&alice).await.unwrap(),
        NotificationPrefs::default()
    );
    let mut prefs = NotificationPrefs {
        email: false,
        quiet_hours: Some(QuietHours {
            start: "22:00".into(),
            end: "07:00".into(),
        }),
        language: Some("zh-CN".into()),
        ..NotificationPrefs::default()
    };
    prefs.severities.push = Severity::Minor;
    store.set_notification_prefs(&alice, &prefs).await.unwrap();
    assert_eq!(store.notification_prefs(&alice).await.unwrap(), prefs);
    prefs.email = true;
    store.set_notification_prefs(&alice, &prefs).await.unwrap();
    assert_eq!(store.notification_prefs(&alice).await.unwrap(), prefs);
    let nobody = uname("nobody");
    assert_not_found(store.notification_prefs(&nobody).await, "user", "nobody");
    assert_not_found(
        store.set_notification_prefs(&nobody, &prefs).await,
        "user",
        "nobody",
    );
}

async fn subscriptions_belong_to_their_person(store: Arc<dyn Store>) {
    seed(&store).await;
    store
        .create_user(
            &user("bob", false),
            "hash-bob",
            &audit("user.create", "bob"),
        )
        .await
        .unwrap();
    let (alice, bob) = (uname("alice"), uname("bob"));
    store
        .put_push_subscription(&subscription("ps-1", "alice", "https://push.example/a"))
        .await
        .unwrap();
    // The same endpoint again renews its keys and keeps the first id.
    let mut renewed = subscription("ps-2", "alice", "https://push.example/a");
    renewed.auth = "new-secret".into();
    store.put_push_subscription(&renewed).await.unwrap();
    let listed = store.push_subscriptions(&alice).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].id.as_str(), listed[0].auth.as_str()),
        ("ps-1", "new-secret")
    );
    // Bob cannot take Alice's endpoint, nor delete it.
    assert!(matches!(
        store
            .put_push_subscription(&subscription("ps-3", "bob", "https://push.example/a"))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store
            .delete_push_subscription("https://push.example/a", Some(&bob))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.push_subscriptions(&alice).await.unwrap().len(), 1);
    assert!(store.push_subscriptions(&bob).await.unwrap().is_empty());
    store
        .delete_push_subscription("https://push.example/a", Some(&alice))
        .await
        .unwrap();
    assert!(store.push_subscriptions(&alice).await.unwrap().is_empty());
    // The hub deletes a gone subscription whoever holds it; deleting the person
    // deletes theirs.
    store
        .put_push_subscription(&subscription("ps-4", "bob", "https://push.example/b"))
        .await
        .unwrap();
    store
        .put_push_subscription(&subscription("ps-5", "bob", "https://push.example/c"))
        .await
        .unwrap();
    store
        .delete_push_subscription("https://push.example/b", None)
        .await
        .unwrap();
    assert_eq!(store.push_subscriptions(&bob).await.unwrap().len(), 1);
    store
        .set_notification_prefs(&bob, &NotificationPrefs::default())
        .await
        .unwrap();
    store
        .delete_user(&bob, &audit("user.delete", "bob"))
        .await
        .unwrap();
    assert!(store.push_subscriptions(&bob).await.unwrap().is_empty());
    store
        .put_push_subscription(&subscription("ps-6", "alice", "https://push.example/c"))
        .await
        .unwrap();
}

both_backends!(
    preferences_default_then_replace,
    subscriptions_belong_to_their_person
);
