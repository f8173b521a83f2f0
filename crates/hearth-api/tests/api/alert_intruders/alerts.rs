//! Alerts and their notifications against the people who should not see or change
//! them.

use super::*;

both_backends!(peoples_addresses_are_not_shown_to_their_group);
hearth_testkit::both_backends_hub!(alerts_belong_to_their_group);

/// The API of a whole hub, through this file's HTTP client.
fn api_of(test_hub: &hearth_testkit::TestHub) -> Hub {
    Hub {
        address: test_hub.http(),
        store: test_hub.store(),
        registry: test_hub.registry().clone(),
        _shutdown: tokio::sync::oneshot::channel().0,
    }
}

/// A loopback port nothing listens on (deliveries there fail and are retried).
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// The alerts of `rule`, once there is one.
async fn raised(hub: &Hub, rule: &str) -> Alert {
    for _ in 0..600 {
        let filter = hearth_store::AlertFilter {
            rule: Some(rule.to_owned()),
            ..Default::default()
        };
        if let Some(alert) = hub.store.alerts(&filter).await.unwrap().pop() {
            return alert;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no alert of {rule}");
}

/// Who did what to an alert, from the audit log (`alert.*`), oldest first.
async fn audited(hub: &Hub, alert: &str) -> Vec<(String, String)> {
    let mut entries = hub
        .store
        .audit(&hearth_store::AuditFilter {
            target: Some(alert.to_owned()),
            action_prefixes: vec!["alert.".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    entries.reverse();
    entries
        .into_iter()
        .map(|entry| (entry.actor, entry.action))
        .collect()
}

/// Alerts in a whole hub: `home`'s freezer (a real MQTT device) raises one through a
/// rule with a webhook and a named webhook (hearth.toml); `elsewhere` has one stored
/// with a webhook notification. Each group's people list and read only their group's
/// (filters by another group's rule or device find nothing, `?group=` of another group
/// 404); a viewer (cookie or token), another group's owner, a cross-site request and no
/// login neither acknowledge nor clear (403, 404 in an unknown id's words, 403, 401)
/// and nothing is audited; a member does both (audited `alert.acknowledge`,
/// `alert.clear`); a cleared alert answers 409. No response contains a secret, and the
/// named webhook's URL (hearth.toml's, a credential for chat services) is not shown.
async fn alerts_belong_to_their_group(backend: Backend) {
    let port = closed_port().await;
    let named_url = format!("http://127.0.0.1:{port}/services/T0/B0/chat-capability");
    let test_hub = hearth_testkit::start_hub_with(backend, |config| {
        config.alerts.webhooks.insert(
            "family-chat".into(),
            hearth_services::alerts::NamedWebhook {
                url: named_url.clone(),
                secret: NAMED_SECRET.into(),
                groups: Vec::new(),
            },
        );
    })
    .await;
    let hub = api_of(&test_hub);
    // Before `elsewhere`'s application exists: it goes to the only one, `home`'s.
    let secrets = hearth_testkit::devices::add_devices(&test_hub, &["freezer"]).await;
    people(&hub).await;
    let admin = hub.login("admin", hearth_testkit::ADMIN_PASSWORD).await;
    let gina = hub.login("gina", "gina-password").await;
    let alice = hub.login("alice", "alice-password").await;
    let vera = hub.login("vera", "vera-password").await;
    let stranger = hub.login("stranger", "stranger-password").await;
    let vera_token = token_of(&hub, &vera).await;

    // `home`: a rule through the API, raised by the freezer.
    let hook = format!("http://127.0.0.1:{port}/home-hook");
    let mut document = freezer_rule("home", "freezer", &hook);
    document["notify"]
        .as_array_mut()
        .unwrap()
        .push(json!({"channel": "webhook", "name": "family-chat"}));
    let created = hub
        .call("POST", "/api/v1/alert-rules", &gina, Some(document))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let home_rule = created.json()["id"].as_str().unwrap().to_owned();
    let mut freezer =
        hearth_testkit::devices::TestDevice::connect(&test_hub, "freezer", &secrets["freezer"])
            .await;
    freezer.data(r#"{"temperature": 80}"#).await;
    let home = raised(&hub, &home_rule).await.id;

    // `elsewhere`: a rule and an alert stored with a webhook notification.
    let spec: hearth_model::AlertRuleSpec =
        serde_json::from_value(freezer_rule("elsewhere", "attic-sensor", &hook)).unwrap();
    let their_rule = hearth_services::alerts::Alerts::new(hub.store.clone())
        .create("cli:test", spec)
        .await
        .unwrap()
        .id;
    let now = hearth_model::now_millis();
    let their_alert = Alert {
        id: "al-elsewhere".into(),
        rule: their_rule.clone(),
        rule_name: "Freezer too warm".into(),
        group: ids::group("elsewhere"),
        device: ids::device("attic-sensor"),
        severity: Severity::Major,
        state: AlertState::Open,
        message: "attic-sensor temperature is 70".into(),
        value: Some(json!(70)),
        opened_at_ms: now,
        last_seen_at_ms: now,
        repeats: 0,
        notified_at_ms: Some(now),
        last_told_at_ms: Some(now),
        acknowledged_by: None,
        acknowledged_at_ms: None,
        cleared_at_ms: None,
        cleared_by: None,
    };
    let note = hearth_model::Notification {
        id: "n-elsewhere".into(),
        alert: their_alert.id.clone(),
        group: ids::group("elsewhere"),
        channel: "webhook".into(),
        target: json!({"url": hook, "secret": THEIR_SECRET}),
        event: "opened".into(),
        payload: json!({"event": "opened"}),
        state: hearth_model::NotificationState::Failed,
        attempts: Vec::new(),
        next_attempt_at_ms: now,
        created_at_ms: now,
    };
    hub.store.open_alert(&their_alert, &[note]).await.unwrap();
    let theirs = their_alert.id.clone();

    // The listing: each group's people see their group's alerts only.
    let listed = |who: &str, reply: Reply| -> Vec<Value> {
        let reply = without_secrets(who, reply);
        assert_eq!(reply.status, 200, "{who}: {:?}", reply.body);
        reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|alert| alert["id"].clone())
            .collect()
    };
    for (who, auth) in [
        ("alice", &alice),
        ("vera", &vera),
        ("vera's token", &vera_token),
    ] {
        assert_eq!(
            listed(who, hub.get("/api/v1/alerts", auth).await),
            [json!(home)],
            "{who}"
        );
        for query in [
            format!("rule={their_rule}"),
            "device=attic-sensor".into(),
            "state=open&severity=major".into(),
        ] {
            let found = listed(who, hub.get(&format!("/api/v1/alerts?{query}"), auth).await);
            let expected = if query.starts_with("state") {
                vec![json!(home)]
            } else {
                Vec::new()
            };
            assert_eq!(found, expected, "{who} ?{query}");
        }
        let by_group = hub.get("/api/v1/alerts?group=elsewhere", auth).await;
        assert_eq!(by_group.status, 404, "{who}: {:?}", by_group.body);
    }
    assert_eq!(
        listed("stranger", hub.get("/api/v1/alerts", &stranger).await),
        [json!(theirs)]
    );
    assert_eq!(
        hub.get("/api/v1/alerts?group=home", &stranger).await.status,
        404
    );
    let mut every = listed("admin", hub.get("/api/v1/alerts", &admin).await);
    every.sort_by_key(|id| id.to_string());
    let mut both = vec![json!(home), json!(theirs)];
    both.sort_by_key(|id| id.to_string());
    assert_eq!(every, both, "the hub's administrator sees every group's");

    // The detail: the group's people, with notifications whose secrets are removed.
    let alert = |id: &str| format!("/api/v1/alerts/{id}");
    let detail = without_secrets("vera's detail", hub.get(&alert(&home), &vera).await);
    assert_eq!(detail.status, 200, "{:?}", detail.body);
    let notifications = detail.json()["notifications"].clone();
    let mut targets: Vec<String> = notifications
        .as_array()
        .unwrap()
        .iter()
        .map(|note| note["target"].to_string())
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        [
            json!({"name": "family-chat"}).to_string(),
            json!({"url": hook}).to_string()
        ],
        "{notifications}"
    );
    assert!(
        !String::from_utf8_lossy(&detail.body).contains("chat-capability"),
        "the named webhook's URL is hearth.toml's"
    );
    let their_detail = without_secrets(
        "stranger's detail",
        hub.get(&alert(&theirs), &stranger).await,
    );
    assert_eq!(their_detail.status, 200, "{:?}", their_detail.body);
    assert_eq!(
        their_detail.json()["notifications"][0]["target"],
        json!({"url": hook})
    );
    let unknown = hub.get(&alert("al-doesnotexist"), &stranger).await;
    assert_eq!(unknown.status, 404);
    let hidden = hub.get(&alert(&home), &stranger).await;
    assert_eq!(hidden.status, 404, "{:?}", hidden.body);
    assert_eq!(
        words(&hidden, &home, "al-doesnotexist"),
        unknown.json()["error"]["message"]
    );
    assert_eq!(hub.get(&alert(&theirs), &alice).await.status, 404);
    assert_eq!(hub.get(&alert(&home), &Auth::None).await.status, 401);

    // Acknowledging and clearing: refused for all of these, and nothing happens.
    let act = |id: &str, action: &str| format!("/api/v1/alerts/{id}/{action}");
    for action in ["acknowledge", "clear"] {
        for (who, auth) in [("vera", &vera), ("vera's token", &vera_token)] {
            let refused = hub.call("POST", &act(&home, action), auth, None).await;
            assert_eq!(refused.status, 403, "{who} {action}: {:?}", refused.body);
        }
        let unknown = hub
            .call("POST", &act("al-doesnotexist", action), &stranger, None)
            .await;
        assert_eq!(unknown.status, 404);
        let hidden = hub.call("POST", &act(&home, action), &stranger, None).await;
        assert_eq!(hidden.status, 404, "stranger {action}: {:?}", hidden.body);
        assert_eq!(
            words(&hidden, &home, "al-doesnotexist"),
            unknown.json()["error"]["message"]
        );
        let hidden = hub.call("POST", &act(&theirs, action), &alice, None).await;
        assert_eq!(hidden.status, 404, "alice, elsewhere: {:?}", hidden.body);
        let other_origin = other_origin(&hub);
        for headers in [
            [("origin", other_origin.as_str())],
            [("sec-fetch-site", "cross-site")],
        ] {
            let forged = hub
                .send("POST", &act(&home, action), &alice, &headers, None)
                .await;
            assert_eq!(
                forged.status, 403,
                "{action} {headers:?}: {:?}",
                forged.body
            );
        }
        let anonymous = hub
            .call("POST", &act(&home, action), &Auth::None, None)
            .await;
        assert_eq!(anonymous.status, 401, "no login {action}");
    }
    let untouched = hub.store.alert(&home).await.unwrap();
    assert_eq!(untouched.state, AlertState::Open);
    assert_eq!(untouched.acknowledged_by, None);
    assert_eq!(hub.store.alert(&theirs).await.unwrap(), their_alert);
    assert_eq!(audited(&hub, &home).await, []);
    assert_eq!(audited(&hub, &theirs).await, []);

    // A member acknowledges and clears (audited); then it is settled (409).
    let acknowledged = without_secrets(
        "acknowledge",
        hub.call("POST", &act(&home, "acknowledge"), &alice, None)
            .await,
    );
    assert_eq!(acknowledged.status, 200, "{:?}", acknowledged.body);
    assert_eq!(acknowledged.json()["state"], "acknowledged");
    assert_eq!(acknowledged.json()["acknowledged_by"], "alice");
    let cleared = without_secrets(
        "clear",
        hub.call("POST", &act(&home, "clear"), &alice, None).await,
    );
    assert_eq!(cleared.status, 200, "{:?}", cleared.body);
    assert_eq!(cleared.json()["state"], "cleared");
    assert_eq!(cleared.json()["cleared_by"], "user:alice");
    assert_eq!(
        audited(&hub, &home).await,
        [
            ("user:alice".to_owned(), "alert.acknowledge".to_owned()),
            ("user:alice".to_owned(), "alert.clear".to_owned()),
        ]
    );
    for action in ["acknowledge", "clear"] {
        let late = hub.call("POST", &act(&home, action), &gina, None).await;
        assert_eq!(late.status, 409, "{action}: {:?}", late.body);
    }
    assert_eq!(audited(&hub, &home).await.len(), 2);
    freezer.disconnect().await;
    test_hub.shutdown().await;
}

/// An alert's notifications to people's own channels (from their preferences: alice's
/// e-mail address, her phone's push endpoint and keys) show the group whom they went to,
/// not where: a viewer, a member and alice herself read `{"user": "alice"}` only. A
/// destination the rule itself names (which its view shows) stays.
async fn peoples_addresses_are_not_shown_to_their_group(store: Arc<dyn Store>) {
    let hub = start(store).await;
    people(&hub).await;
    hub.add_device("freezer", "default").await;
    let spec: hearth_model::AlertRuleSpec = serde_json::from_value(json!({
        "group": "home", "name": "Freezer too warm",
        "condition": {"type": "reading", "device": "freezer", "metric": "temperature", "gt": 60},
        "notify": [{"channel": "email", "to": ["house@example.org"]}, {"channel": "push"}]}))
    .unwrap();
    let rule = hearth_services::alerts::Alerts::new(hub.store.clone())
        .create("cli:test", spec)
        .await
        .unwrap()
        .id;
    let now = hearth_model::now_millis();
    let alert = Alert {
        id: "al-home".into(),
        rule,
        rule_name: "Freezer too warm".into(),
        group: ids::group("home"),
        device: ids::device("freezer"),
        severity: Severity::Warning,
        state: AlertState::Open,
        message: "freezer temperature is 70".into(),
        value: Some(json!(70)),
        opened_at_ms: now,
        last_seen_at_ms: now,
        repeats: 0,
        notified_at_ms: Some(now),
        last_told_at_ms: Some(now),
        acknowledged_by: None,
        acknowledged_at_ms: None,
        cleared_at_ms: None,
        cleared_by: None,
    };
    let note = |id: &str, channel: &str, target: Value| hearth_model::Notification {
        id: id.into(),
        alert: alert.id.clone(),
        group: ids::group("home"),
        channel: channel.into(),
        target,
        event: "opened".into(),
        payload: json!({"event": "opened"}),
        state: hearth_model::NotificationState::Failed,
        attempts: Vec::new(),
        next_attempt_at_ms: now,
        created_at_ms: now,
    };
    let notes = [
        note(
            "n-1",
            "email",
            json!({"to": "alice.private@example.org", "user": "alice", "language": "en",
                "time_zone": "Europe/Berlin"}),
        ),
        note(
            "n-2",
            "push",
            json!({"endpoint": "https://push.example/alice-phone-token", "subscription": "ps-1",
                "keys": {"p256dh": "alice-p256dh", "auth": "alice-auth"}, "user": "alice",
                "language": "en", "time_zone": "Europe/Berlin"}),
        ),
        note(
            "n-3",
            "email",
            json!({"to": "house@example.org", "language": "en"}),
        ),
    ];
    hub.store.open_alert(&alert, &notes).await.unwrap();
    for who in ["vera", "gina", "alice"] {
        let login = hub.login(who, &format!("{who}-password")).await;
        let detail = hub.get("/api/v1/alerts/al-home", &login).await;
        assert_eq!(detail.status, 200, "{who}: {:?}", detail.body);
        let body = String::from_utf8_lossy(&detail.body);
        for private in [
            "alice.private@example.org",
            "alice-phone-token",
            "alice-p256dh",
            "alice-auth",
            "Europe/Berlin",
        ] {
            assert!(!body.contains(private), "{who} reads {private}: {body}");
        }
        let targets: Vec<(Value, Value)> = detail.json()["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .map(|note| (note["id"].clone(), note["target"].clone()))
            .collect();
        assert_eq!(
            targets,
            [
                (json!("n-1"), json!({"user": "alice"})),
                (json!("n-2"), json!({"user": "alice"})),
                (
                    json!("n-3"),
                    json!({"to": "house@example.org", "language": "en"})
                ),
            ],
            "{who}"
        );
    }
}
