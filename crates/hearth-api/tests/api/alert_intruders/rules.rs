//! Alert rules against the people who should not touch them.

use super::*;

both_backends!(alert_rules_belong_to_their_group);

/// Rules: members (any role) read `home`'s rule and none of `elsewhere`'s; a member, a
/// viewer (cookie or token), another group's owner, a cross-site request and no login
/// change nothing; ids of other groups are answered as unknown ones; a rule naming
/// another group's device or application is refused in the words of a missing one;
/// a PUT without the secret keeps it for the same URL only (another URL is refused
/// naming `notify[i].secret`, so a secret cannot be moved to a URL the writer chose);
/// no response contains a secret.
async fn alert_rules_belong_to_their_group(store: Arc<dyn Store>) {
    let hub = start(store).await;
    people(&hub).await;
    hub.add_device("freezer", "default").await;
    let gina = hub.login("gina", "gina-password").await;
    let alice = hub.login("alice", "alice-password").await;
    let vera = hub.login("vera", "vera-password").await;
    let stranger = hub.login("stranger", "stranger-password").await;
    let vera_token = token_of(&hub, &vera).await;
    let hook = "http://127.0.0.1:9/home-hook";
    let document = freezer_rule("home", "freezer", hook);

    let created = without_secrets(
        "create",
        hub.call("POST", "/api/v1/alert-rules", &gina, Some(document.clone()))
            .await,
    );
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.json()["notify"],
        json!([{"channel": "webhook", "url": hook, "secret_set": true}])
    );
    let theirs = hub
        .call(
            "POST",
            "/api/v1/alert-rules",
            &stranger,
            Some(freezer_rule("elsewhere", "attic-sensor", hook)),
        )
        .await;
    assert_eq!(theirs.status, 201, "{:?}", theirs.body);
    let theirs = theirs.json()["id"].as_str().unwrap().to_owned();
    let stored = hub.store.alert_rule(&id).await.unwrap();

    // Reading: the group's people, each only their group's.
    let rule = |id: &str| format!("/api/v1/alert-rules/{id}");
    for (who, auth) in [
        ("gina", &gina),
        ("alice", &alice),
        ("vera", &vera),
        ("vera's token", &vera_token),
    ] {
        let read = without_secrets(who, hub.get(&rule(&id), auth).await);
        assert_eq!(read.status, 200, "{who}: {:?}", read.body);
        assert_eq!(read.json()["notify"][0]["secret_set"], true);
        let listed = without_secrets(who, hub.get("/api/v1/alert-rules", auth).await);
        assert_eq!(listed.status, 200, "{who}: {:?}", listed.body);
        let listed: Vec<Value> = listed
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|rule| rule["id"].clone())
            .collect();
        assert_eq!(listed, [json!(id)], "{who}");
    }
    let listed = without_secrets(
        "stranger's listing",
        hub.get("/api/v1/alert-rules", &stranger).await,
    );
    assert_eq!(listed.json().as_array().unwrap().len(), 1);
    assert_eq!(listed.json()[0]["id"], json!(theirs));
    let by_group = hub.get("/api/v1/alert-rules?group=home", &stranger).await;
    assert_eq!(by_group.status, 404, "{:?}", by_group.body);
    let unknown = hub.get(&rule("ar-doesnotexist"), &stranger).await;
    assert_eq!(unknown.status, 404);
    let hidden = hub.get(&rule(&id), &stranger).await;
    assert_eq!(hidden.status, 404, "stranger: {:?}", hidden.body);
    assert_eq!(
        words(&hidden, &id, "ar-doesnotexist"),
        unknown.json()["error"]["message"]
    );
    assert_eq!(hub.get(&rule(&theirs), &alice).await.status, 404);

    // Writing: a member, a viewer (cookie and token) 403; another group's owner 404 in
    // an unknown id's words; cross-site and no login refused.
    let mut changed = document.clone();
    changed["name"] = json!("Renamed");
    changed["notify"][0] = json!({"channel": "webhook", "url": "http://127.0.0.1:9/mine",
        "secret": "chosen-by-the-writer"});
    for (who, auth) in [
        ("alice", &alice),
        ("vera", &vera),
        ("vera's token", &vera_token),
    ] {
        let refused = hub
            .call("POST", "/api/v1/alert-rules", auth, Some(document.clone()))
            .await;
        assert_eq!(refused.status, 403, "{who} POST: {:?}", refused.body);
        let refused = hub
            .call("PUT", &rule(&id), auth, Some(changed.clone()))
            .await;
        assert_eq!(refused.status, 403, "{who} PUT: {:?}", refused.body);
        let refused = hub.call("DELETE", &rule(&id), auth, None).await;
        assert_eq!(refused.status, 403, "{who} DELETE: {:?}", refused.body);
    }
    let refused = hub
        .call(
            "POST",
            "/api/v1/alert-rules",
            &stranger,
            Some(document.clone()),
        )
        .await;
    assert_eq!(refused.status, 404, "stranger POST: {:?}", refused.body);
    for (method, body) in [("PUT", Some(changed.clone())), ("DELETE", None)] {
        let unknown = hub
            .call(method, &rule("ar-doesnotexist"), &stranger, body.clone())
            .await;
        assert_eq!(unknown.status, 404);
        let hidden = hub.call(method, &rule(&id), &stranger, body).await;
        assert_eq!(hidden.status, 404, "stranger {method}: {:?}", hidden.body);
        assert_eq!(
            words(&hidden, &id, "ar-doesnotexist"),
            unknown.json()["error"]["message"]
        );
    }
    let other_origin = other_origin(&hub);
    let body = changed.to_string().into_bytes();
    for headers in [
        [("origin", other_origin.as_str())],
        [("sec-fetch-site", "cross-site")],
    ] {
        let mut headers = headers.to_vec();
        headers.push(("content-type", "application/json"));
        let forged = hub
            .send("PUT", &rule(&id), &gina, &headers, Some(body.clone()))
            .await;
        assert_eq!(
            forged.status, 403,
            "cross-site {headers:?}: {:?}",
            forged.body
        );
        let forged = hub.send("DELETE", &rule(&id), &gina, &headers, None).await;
        assert_eq!(
            forged.status, 403,
            "cross-site {headers:?}: {:?}",
            forged.body
        );
    }
    for (method, body) in [("PUT", Some(changed.clone())), ("DELETE", None)] {
        let anonymous = hub.call(method, &rule(&id), &Auth::None, body).await;
        assert_eq!(anonymous.status, 401, "no login {method}");
    }
    assert_eq!(
        hub.call(
            "POST",
            "/api/v1/alert-rules",
            &Auth::None,
            Some(document.clone())
        )
        .await
        .status,
        401
    );
    assert_eq!(hub.store.alert_rule(&id).await.unwrap(), stored);

    // Devices and applications of another group answer as missing ones, so that a
    // rule cannot probe ids: `elsewhere`'s owner naming `home`'s freezer, and `home`'s
    // admin naming `elsewhere`'s sensor or application.
    let probes = [
        (
            &stranger,
            freezer_rule("elsewhere", "freezer", hook),
            "condition.device",
            "freezer",
        ),
        (
            &gina,
            freezer_rule("home", "attic-sensor", hook),
            "condition.device",
            "attic-sensor",
        ),
        (
            &gina,
            json!({"group": "home", "name": "Sensors offline",
                "condition": {"type": "offline", "for": 60}, "devices": ["attic-sensor"]}),
            "devices[0]",
            "attic-sensor",
        ),
        (
            &gina,
            json!({"group": "home", "name": "Attic offline",
                "condition": {"type": "offline", "for": 60}, "app": "attic-app"}),
            "app",
            "attic-app",
        ),
    ];
    for (auth, probe, field, taken) in probes {
        let missing: Value = serde_json::from_str(
            &probe
                .to_string()
                .replace(&format!("\"{taken}\""), "\"no-such-thing\""),
        )
        .unwrap();
        let refused = hub
            .call("POST", "/api/v1/alert-rules", auth, Some(probe.clone()))
            .await;
        assert_eq!(refused.status, 422, "{probe}: {:?}", refused.body);
        assert_eq!(refused.field().as_deref(), Some(field), "{probe}");
        let absent = hub
            .call("POST", "/api/v1/alert-rules", auth, Some(missing))
            .await;
        assert_eq!(absent.status, 422, "{:?}", absent.body);
        assert_eq!(
            words(&refused, taken, "no-such-thing"),
            absent.json()["error"]["message"],
            "{probe}"
        );
    }
    let mut borrowed = document.clone();
    borrowed["condition"]["device"] = json!("attic-sensor");
    let refused = hub.call("PUT", &rule(&id), &gina, Some(borrowed)).await;
    assert_eq!(refused.status, 422, "PUT: {:?}", refused.body);
    assert_eq!(refused.field().as_deref(), Some("condition.device"));
    let mut moved = document.clone();
    moved["group"] = json!("elsewhere");
    let refused = hub.call("PUT", &rule(&id), &gina, Some(moved)).await;
    assert_eq!(
        refused.status, 422,
        "a rule stays in its group: {:?}",
        refused.body
    );
    assert_eq!(refused.field().as_deref(), Some("group"));
    assert_eq!(
        hub.store.alert_rules(None).await.unwrap().len(),
        2,
        "no probe was stored"
    );

    // The secret stays with its URL: a PUT without it keeps it for the same URL, and
    // a PUT that moves the webhook (or adds one) elsewhere without a secret of its own
    // is refused naming that target's secret.
    let mut kept = document.clone();
    kept["name"] = json!("Freezer warm");
    kept["notify"] = json!([{"channel": "webhook", "url": hook}]);
    let saved = without_secrets(
        "PUT",
        hub.call("PUT", &rule(&id), &gina, Some(kept.clone())).await,
    );
    assert_eq!(saved.status, 200, "{:?}", saved.body);
    assert_eq!(saved.json()["notify"][0]["secret_set"], true);
    let stored = hub.store.alert_rule(&id).await.unwrap();
    assert_eq!(stored.spec.name, "Freezer warm");
    assert_eq!(stored.spec.notify, document_notify(hook, SECRET));
    let attacker = "http://127.0.0.1:9/attacker";
    for (notify, field) in [
        (
            json!([{"channel": "webhook", "url": attacker}]),
            "notify[0].secret",
        ),
        (
            json!([{"channel": "webhook", "url": hook},
                {"channel": "webhook", "url": attacker}]),
            "notify[1].secret",
        ),
        (
            json!([{"channel": "webhook", "url": format!("{hook}/")}]),
            "notify[0].secret",
        ),
    ] {
        let mut moved = kept.clone();
        moved["notify"] = notify.clone();
        let refused = without_secrets(
            "PUT elsewhere",
            hub.call("PUT", &rule(&id), &gina, Some(moved)).await,
        );
        assert_eq!(refused.status, 422, "{notify}: {:?}", refused.body);
        assert_eq!(refused.field().as_deref(), Some(field), "{notify}");
        assert_eq!(hub.store.alert_rule(&id).await.unwrap(), stored, "{notify}");
    }
    // Deleting: the group's admin may.
    let removed = hub.call("DELETE", &rule(&id), &gina, None).await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);
    assert_eq!(hub.get(&rule(&id), &gina).await.status, 404);
}

/// What a rule's `notify` holds for one webhook with its secret.
fn document_notify(url: &str, secret: &str) -> Vec<hearth_model::ChannelTarget> {
    vec![hearth_model::ChannelTarget::Webhook {
        url: Some(url.to_owned()),
        secret: Some(secret.to_owned()),
        name: None,
    }]
}
