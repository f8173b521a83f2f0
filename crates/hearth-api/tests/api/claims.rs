//! Claiming devices (issue 23) through the API, and every refusal an intruder meets:
//! pre-registering and labels are for administrators; a viewer may not claim; a group
//! one is not in is 404; a guessed code, an unknown device, a spent code and another
//! household's device all get the same 404 text; failed claims are limited per person
//! and per device; only the owner (or a group admin) unclaims, which makes a new code.

use super::*;
use hearth_model::Role;
use hearth_services::registry::{CLAIM_CODE_LEN, CLAIM_FAILURES_PER_MINUTE, claim_app_id};

both_backends!(
    a_member_claims_a_labelled_device_and_unclaims_it,
    the_owner_shares_what_they_own_and_nothing_else,
    intruders_learn_nothing_and_claim_nothing,
    failed_claims_are_limited_per_person_and_per_device
);

const NO_SUCH_CLAIM: &str = "no device is waiting to be claimed with that id and code";

async fn member(hub: &Hub, name: &str, group: &str, role: Role) -> Auth {
    hub.add_user(name).await;
    if hub.store.group(&ids::group(group)).await.is_err() {
        hub.registry
            .add_group("cli:test", &ids::group(group), None, None)
            .await
            .unwrap();
    }
    hub.registry
        .set_member("cli:test", &ids::group(group), &ids::user(name), role)
        .await
        .unwrap();
    hub.login(name, &format!("{name}-password")).await
}

/// Pre-registers `id` unclaimed as the administrator; returns the claim code.
async fn unclaimed(hub: &Hub, admin: &Auth, id: &str) -> String {
    let made = hub
        .call(
            "POST",
            "/api/v1/unclaimed-devices",
            admin,
            Some(json!({"id": id, "kind": "lock"})),
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let made = made.json();
    let code = made["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), CLAIM_CODE_LEN);
    assert_eq!(
        made["claim_url"],
        format!("http://{}/claim?d={id}&c={code}", hub.address)
    );
    assert_eq!(made["device"]["application"], "_unclaimed");
    assert_eq!(made["secret"].as_str().unwrap().len(), 32);
    code
}

async fn claim(hub: &Hub, auth: &Auth, device: &str, code: &str, group: &str) -> Reply {
    hub.call(
        "POST",
        "/api/v1/claims",
        auth,
        Some(json!({"device": device, "code": code, "group": group, "room": "kitchen"})),
    )
    .await
}

fn assert_no_such_claim(reply: &Reply) {
    assert_eq!(reply.status, 404, "{:?}", reply.body);
    assert_eq!(reply.json()["error"]["message"], NO_SUCH_CLAIM);
}

async fn a_member_claims_a_labelled_device_and_unclaims_it(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    let alice = member(&hub, "alice", "home", Role::Member).await;
    let bob = member(&hub, "bob", "home", Role::Member).await;
    let code = unclaimed(&hub, &admin, "lock-1").await;

    // The label: the claim URL as a QR code, for the current code only.
    let label = hub
        .get(
            &format!("/api/v1/devices/lock-1/label.svg?code={code}"),
            &admin,
        )
        .await;
    assert_eq!(label.status, 200, "{:?}", label.body);
    assert_eq!(label.header("content-type").unwrap(), "image/svg+xml");
    let svg = String::from_utf8(label.body.to_vec()).unwrap();
    assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    let wrong = hub
        .get(
            "/api/v1/devices/lock-1/label.svg?code=AAAAAAAAAAAAAAAA",
            &admin,
        )
        .await;
    assert_no_such_claim(&wrong);

    // Waiting to be claimed, the device is the administrators' alone.
    assert_eq!(hub.get("/api/v1/devices/lock-1", &alice).await.status, 404);
    let listed = hub.get("/api/v1/devices", &alice).await.json();
    assert!(
        !listed.to_string().contains("lock-1"),
        "alice sees an unclaimed device: {listed}"
    );

    let claimed = claim(&hub, &alice, "lock-1", &code, "home").await;
    assert_eq!(claimed.status, 200, "{:?}", claimed.body);
    let claimed = claimed.json();
    let app = claim_app_id(&ids::group("home"), &ids::user("alice"));
    assert_eq!(claimed["application"], app.as_str());
    assert_eq!(claimed["room"], "kitchen");

    let state = hub.get("/api/v1/devices/lock-1/claim", &alice).await.json();
    assert_eq!(state["owner"], "alice");
    assert_eq!(state["unclaimed"], false);
    assert_eq!(state["can_unclaim"], true);
    // Bob, another member, sees it (members read the group) but may not unclaim it.
    let seen_by_bob = hub.get("/api/v1/devices/lock-1/claim", &bob).await.json();
    assert_eq!(seen_by_bob["can_unclaim"], false);
    assert_eq!(
        hub.call("POST", "/api/v1/devices/lock-1/unclaim", &bob, None)
            .await
            .status,
        403
    );
    // Alice controls what she owns: her grant on her claimed-devices application.
    let grants = hub
        .get(&format!("/api/v1/apps/{app}/grants"), &admin)
        .await
        .json();
    assert!(
        grants.to_string().contains("\"manage\""),
        "alice's grant: {grants}"
    );

    // The code is spent.
    assert_no_such_claim(&claim(&hub, &bob, "lock-1", &code, "home").await);

    // The owner unclaims: a new code and a new secret, the device back in holding.
    let again = hub
        .call("POST", "/api/v1/devices/lock-1/unclaim", &alice, None)
        .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    let again = again.json();
    let new_code = again["code"].as_str().unwrap().to_owned();
    assert_ne!(new_code, code);
    assert_eq!(again["secret"].as_str().unwrap().len(), 32);
    let state = hub.get("/api/v1/devices/lock-1/claim", &admin).await.json();
    assert_eq!(
        (state["unclaimed"].clone(), state["owner"].clone()),
        (json!(true), Value::Null)
    );
    assert_eq!(hub.get("/api/v1/devices/lock-1", &alice).await.status, 404);
    assert_no_such_claim(&claim(&hub, &bob, "lock-1", &code, "home").await);
    let by_bob = claim(&hub, &bob, "lock-1", &new_code, "home").await;
    assert_eq!(by_bob.status, 200, "{:?}", by_bob.body);

    let audit = hub
        .get("/api/v1/audit?target=lock-1", &admin)
        .await
        .json()
        .to_string();
    for action in ["device.claim_code", "device.claim", "device.unclaim"] {
        assert!(audit.contains(action), "{action} missing: {audit}");
    }
    assert!(audit.contains("user:alice"), "{audit}");
}

async fn intruders_learn_nothing_and_claim_nothing(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    let alice = member(&hub, "alice", "home", Role::Member).await;
    let viewer = member(&hub, "vic", "home", Role::Viewer).await;
    let carol = member(&hub, "carol", "cabin", Role::Owner).await;
    let code = unclaimed(&hub, &admin, "lock-1").await;

    // Pre-registering, new codes and labels are for hub administrators.
    for (method, path) in [
        ("POST", "/api/v1/devices/lock-1/claim-code".to_owned()),
        (
            "GET",
            format!("/api/v1/devices/lock-1/label.svg?code={code}"),
        ),
    ] {
        assert_eq!(
            hub.call(method, &path, &alice, None).await.status,
            403,
            "{path}"
        );
    }
    let made = hub
        .call(
            "POST",
            "/api/v1/unclaimed-devices",
            &alice,
            Some(json!({"id": "x"})),
        )
        .await;
    assert_eq!(made.status, 403);

    // A viewer may not claim into the group; a group one is not in is 404; the
    // holding group is nobody's to claim into.
    assert_eq!(
        claim(&hub, &viewer, "lock-1", &code, "home").await.status,
        403
    );
    assert_eq!(
        claim(&hub, &carol, "lock-1", &code, "home").await.status,
        404
    );
    let holding = claim(&hub, &admin, "lock-1", &code, "_unclaimed").await;
    assert_eq!(holding.status, 400, "{:?}", holding.body);

    // A guessed code, an unknown device and a malformed id: one answer.
    assert_no_such_claim(&claim(&hub, &alice, "lock-1", "AAAAAAAAAAAAAAAA", "home").await);
    assert_no_such_claim(&claim(&hub, &alice, "ghost", &code, "home").await);
    assert_no_such_claim(&claim(&hub, &alice, "a/b", &code, "home").await);

    // Alice claims it; Carol, of another household, cannot take it with the spent
    // code, see it, read its claim state, nor unclaim it.
    assert_eq!(
        claim(&hub, &alice, "lock-1", &code, "home").await.status,
        200
    );
    assert_no_such_claim(&claim(&hub, &carol, "lock-1", &code, "cabin").await);
    assert_eq!(
        hub.get("/api/v1/devices/lock-1/claim", &carol).await.status,
        404
    );
    let unclaim = hub
        .call("POST", "/api/v1/devices/lock-1/unclaim", &carol, None)
        .await;
    assert_eq!(unclaim.status, 404);
    // A viewer of alice's group sees it but may not unclaim it.
    assert_eq!(
        hub.call("POST", "/api/v1/devices/lock-1/unclaim", &viewer, None)
            .await
            .status,
        403
    );
    // A claimed device gets no new code from the label route.
    let recode = hub
        .call("POST", "/api/v1/devices/lock-1/claim-code", &admin, None)
        .await;
    assert_eq!(recode.status, 422, "{:?}", recode.body);
    // Nothing moved.
    let state = hub.get("/api/v1/devices/lock-1/claim", &admin).await.json();
    assert_eq!(state["owner"], "alice");
}

async fn failed_claims_are_limited_per_person_and_per_device(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    let alice = member(&hub, "alice", "home", Role::Member).await;
    let lock1 = unclaimed(&hub, &admin, "lock-1").await;
    let lock2 = unclaimed(&hub, &admin, "lock-2").await;

    // Per person: alice's failures on ids that do not even exist count...
    for attempt in 0..CLAIM_FAILURES_PER_MINUTE {
        assert_no_such_claim(&claim(&hub, &alice, &format!("ghost-{attempt}"), "x", "home").await);
    }
    // ...so that even the right code is refused for now, with Retry-After.
    let limited = claim(&hub, &alice, "lock-1", &lock1, "home").await;
    assert_eq!(limited.status, 429, "{:?}", limited.body);
    assert!(limited.header("retry-after").is_some());

    // Per device: several people sharing the guessing of one device's code.
    for attempt in 0..CLAIM_FAILURES_PER_MINUTE {
        let guesser = member(&hub, &format!("g{attempt}"), "home", Role::Member).await;
        assert_no_such_claim(&claim(&hub, &guesser, "lock-2", "BBBBBBBBBBBBBBBB", "home").await);
    }
    let fresh = member(&hub, "dave", "home", Role::Member).await;
    assert_eq!(
        claim(&hub, &fresh, "lock-2", &lock2, "home").await.status,
        429
    );
    // Another device is not held up by lock-2's guessers.
    assert_eq!(
        claim(&hub, &fresh, "lock-1", &lock1, "home").await.status,
        200
    );
}

async fn the_owner_shares_what_they_own_and_nothing_else(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    let alice = member(&hub, "alice", "home", Role::Member).await;
    let bob = member(&hub, "bob", "home", Role::Member).await;
    hub.add_user("carol").await;
    let code = unclaimed(&hub, &admin, "lock-1").await;
    assert_eq!(
        claim(&hub, &alice, "lock-1", &code, "home").await.status,
        200
    );
    let app = claim_app_id(&ids::group("home"), &ids::user("alice"));
    let grant = |who: &'static str, permission: &'static str| {
        let path = format!("/api/v1/apps/{app}/grants/{who}");
        (path, Some(json!({ "permission": permission })))
    };
    let my_permission = |reply: Reply| reply.json()["my_permission"].clone();
    assert_eq!(
        my_permission(hub.get(&format!("/api/v1/apps/{app}"), &bob).await),
        "view"
    );

    // Alice shares control of what she owns with bob...
    let (path, body) = grant("bob", "control");
    let shared = hub.call("PUT", &path, &alice, body).await;
    assert_eq!(shared.status, 200, "{:?}", shared.body);
    assert_eq!(
        my_permission(hub.get(&format!("/api/v1/apps/{app}"), &bob).await),
        "control"
    );
    // ...but not manage, nor on an application that is not her own claimed devices',
    // and bob may not pass it on.
    let (path, body) = grant("bob", "manage");
    assert_eq!(hub.call("PUT", &path, &alice, body).await.status, 403);
    let other = hub
        .call(
            "PUT",
            "/api/v1/apps/default/grants/bob",
            &alice,
            Some(json!({"permission": "control"})),
        )
        .await;
    assert_eq!(other.status, 403);
    let (path, body) = grant("carol", "control");
    assert_eq!(hub.call("PUT", &path, &bob, body).await.status, 403);
    // She takes it back; her own manage grant is not hers to drop this way.
    let unshared = hub
        .call(
            "DELETE",
            &format!("/api/v1/apps/{app}/grants/bob"),
            &alice,
            None,
        )
        .await;
    assert_eq!(unshared.status, 204);
    assert_eq!(
        my_permission(hub.get(&format!("/api/v1/apps/{app}"), &bob).await),
        "view"
    );
    let own = hub
        .call(
            "DELETE",
            &format!("/api/v1/apps/{app}/grants/alice"),
            &alice,
            None,
        )
        .await;
    assert_eq!(own.status, 403);
}
