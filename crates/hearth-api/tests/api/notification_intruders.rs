//! Notification preferences and Web Push subscriptions (issue 15) against the people
//! who should not use them (docs/security.md): each person reads and changes only their
//! own; another person's subscription cannot be listed, taken over or deleted (it is
//! answered as one that does not exist); endpoints must be https://; bad values are 422
//! naming the field; no login is 401; a cross-site request changes nothing.

use super::*;

both_backends!(preferences_are_ones_own, subscriptions_are_ones_own);

/// A browser's subscription document with a valid P-256 point and auth secret.
fn subscription(endpoint: &str) -> Value {
    // The base point of P-256 (a valid public key), uncompressed.
    let point =
        "BGsX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU";
    json!({"endpoint": endpoint, "keys": {"p256dh": point, "auth": "c2l4dGVlbi1ieXRlLXNlYw"},
        "expirationTime": null})
}

async fn preferences_are_ones_own(store: Arc<dyn Store>) {
    let hub = start(store).await;
    hub.add_user("alice").await;
    hub.add_user("bob").await;
    let alice = hub.login("alice", "alice-password").await;
    let bob = hub.login("bob", "bob-password").await;

    let defaults = hub.get("/api/v1/profile/notifications", &alice).await;
    assert_eq!(defaults.status, 200, "{:?}", defaults.body);
    assert_eq!(defaults.json()["email"], true);
    assert_eq!(defaults.json()["severities"]["email"], "major");
    let mine = json!({"email": false, "push": true, "in_app": true,
        "severities": {"email": "critical", "push": "minor", "in_app": "warning"},
        "quiet_hours": {"start": "22:00", "end": "07:00"}, "language": "zh-CN"});
    let set = hub
        .call(
            "PUT",
            "/api/v1/profile/notifications",
            &alice,
            Some(mine.clone()),
        )
        .await;
    assert_eq!(set.status, 200, "{:?}", set.body);
    assert_eq!(
        hub.get("/api/v1/profile/notifications", &alice)
            .await
            .json(),
        mine
    );
    // Bob sees his own (the defaults), never Alice's; no route takes a user name.
    assert_eq!(
        hub.get("/api/v1/profile/notifications", &bob).await.json()["email"],
        true
    );
    // Bad values: 422 naming the field; wrong types: 400 naming the field.
    for (document, field, status) in [
        (
            json!({"quiet_hours": {"start": "25:00", "end": "07:00"}}),
            "quiet_hours.start",
            422,
        ),
        (
            json!({"quiet_hours": {"start": "22:00", "end": "7"}}),
            "quiet_hours.end",
            422,
        ),
        (json!({"language": "fr"}), "language", 422),
        (
            json!({"severities": {"email": "loud"}}),
            "severities.email",
            400,
        ),
        (json!({"user": "bob"}), "user", 400),
    ] {
        let refused = hub
            .call(
                "PUT",
                "/api/v1/profile/notifications",
                &bob,
                Some(document.clone()),
            )
            .await;
        assert_eq!(refused.status, status, "{document}: {:?}", refused.body);
        assert_eq!(refused.field().as_deref(), Some(field), "{document}");
    }
    assert_eq!(
        hub.get("/api/v1/profile/notifications", &alice)
            .await
            .json(),
        mine
    );
    // No login, and a cross-site request with Alice's cookie, change nothing.
    let anonymous = hub
        .call(
            "PUT",
            "/api/v1/profile/notifications",
            &Auth::None,
            Some(json!({})),
        )
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        hub.get("/api/v1/profile/notifications", &Auth::None)
            .await
            .status,
        401
    );
    let Auth::Cookie(cookie) = &alice else {
        unreachable!()
    };
    let cross_site = hub
        .send(
            "PUT",
            "/api/v1/profile/notifications",
            &Auth::Cookie(cookie.clone()),
            &[
                ("origin", "http://evil.example"),
                ("content-type", "application/json"),
            ],
            Some(b"{}".to_vec()),
        )
        .await;
    assert_eq!(cross_site.status, 403, "{:?}", cross_site.body);
    assert_eq!(
        hub.get("/api/v1/profile/notifications", &alice)
            .await
            .json(),
        mine
    );
}

async fn subscriptions_are_ones_own(store: Arc<dyn Store>) {
    let hub = start_with(store.clone(), |state| {
        state.with_push_key_if(Some("BHubPublicKey".into()))
    })
    .await;
    hub.add_user("alice").await;
    hub.add_user("bob").await;
    let alice = hub.login("alice", "alice-password").await;
    let bob = hub.login("bob", "bob-password").await;
    let key = hub.get("/api/v1/push/key", &alice).await;
    assert_eq!(key.status, 200);
    assert_eq!(key.json()["public_key"], "BHubPublicKey");
    assert_eq!(hub.get("/api/v1/push/key", &Auth::None).await.status, 401);

    let phone = "https://push.example/v1/alice-phone";
    let added = hub
        .call(
            "POST",
            "/api/v1/push/subscriptions",
            &alice,
            Some(subscription(phone)),
        )
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(added.json()["endpoint"], phone);
    assert!(
        added.json().get("keys").is_none(),
        "keys are not shown again"
    );
    // Again: the same subscription, renewed.
    let again = hub
        .call(
            "POST",
            "/api/v1/push/subscriptions",
            &alice,
            Some(subscription(phone)),
        )
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.json()["id"], added.json()["id"]);

    // Bob: cannot list, take over or delete Alice's subscription.
    assert_eq!(
        hub.get("/api/v1/push/subscriptions", &bob).await.json(),
        json!([])
    );
    let taken = hub
        .call(
            "POST",
            "/api/v1/push/subscriptions",
            &bob,
            Some(subscription(phone)),
        )
        .await;
    assert_eq!(taken.status, 409, "{:?}", taken.body);
    let deleted = hub
        .call(
            "DELETE",
            "/api/v1/push/subscriptions",
            &bob,
            Some(json!({"endpoint": phone})),
        )
        .await;
    assert_eq!(deleted.status, 404, "{:?}", deleted.body);
    let missing = hub
        .call(
            "DELETE",
            "/api/v1/push/subscriptions",
            &bob,
            Some(json!({"endpoint": "https://push.example/v1/nothing"})),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json()["error"]["message"],
        deleted.json()["error"]["message"],
        "another person's subscription reads as a missing one"
    );
    let anonymous = hub
        .call(
            "DELETE",
            "/api/v1/push/subscriptions",
            &Auth::None,
            Some(json!({"endpoint": phone})),
        )
        .await;
    assert_eq!(anonymous.status, 401);
    let listed = hub.get("/api/v1/push/subscriptions", &alice).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        store.push_subscriptions(&ids::user("alice")).await.unwrap()[0]
            .user
            .as_str(),
        "alice"
    );

    // Endpoints are https:// only, keys must be keys: 422 naming the field.
    let mut bad_key = subscription("https://push.example/v1/x");
    bad_key["keys"]["p256dh"] = json!("AAAA");
    let mut off_curve = subscription("https://push.example/v1/z");
    off_curve["keys"]["p256dh"] = json!(format!("BA{}", "A".repeat(85)));
    let mut bad_auth = subscription("https://push.example/v1/y");
    bad_auth["keys"]["auth"] = json!("c2hvcnQ");
    for (document, field) in [
        (subscription("http://push.example/v1/plain"), "endpoint"),
        (subscription("http://127.0.0.1:9/loopback"), "endpoint"),
        (subscription("https://user@push.example/v1/x"), "endpoint"),
        (subscription("file:///etc/passwd"), "endpoint"),
        (bad_key, "keys.p256dh"),
        (off_curve, "keys.p256dh"),
        (bad_auth, "keys.auth"),
    ] {
        let refused = hub
            .call(
                "POST",
                "/api/v1/push/subscriptions",
                &bob,
                Some(document.clone()),
            )
            .await;
        assert_eq!(refused.status, 422, "{document}: {:?}", refused.body);
        assert_eq!(refused.field().as_deref(), Some(field), "{document}");
    }

    // Alice removes her own.
    let removed = hub
        .call(
            "DELETE",
            "/api/v1/push/subscriptions",
            &alice,
            Some(json!({"endpoint": phone})),
        )
        .await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);
    assert_eq!(
        hub.get("/api/v1/push/subscriptions", &alice).await.json(),
        json!([])
    );
}
