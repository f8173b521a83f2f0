//! Confirmation requests against the people they do not ask.

use super::*;

both_backends!(another_groups_requests_cannot_crowd_out_the_listing);
hearth_testkit::both_backends_hub!(
    confirmation_requests_belong_to_their_group,
    only_the_people_a_request_asks_may_answer_it,
);

/// The API of a whole hub (`hearth_testkit::start_hub`, whose engine counts answers),
/// through this file's HTTP client.
fn api_of(test_hub: &hearth_testkit::TestHub) -> Hub {
    Hub {
        address: test_hub.http(),
        store: test_hub.store(),
        registry: test_hub.registry().clone(),
        _shutdown: tokio::sync::oneshot::channel().0,
    }
}

/// Creates a `manual` automation in `group` whose run asks for confirmation with `rule`
/// (merged into `{"type": "confirm", "within_secs": 600}`) and then notifies; runs it and
/// returns the automation's id and the request's id once it is stored.
async fn ask(test_hub: &hearth_testkit::TestHub, group: &str, rule: Value) -> (String, String) {
    let mut confirm = json!({"type": "confirm", "within_secs": 600});
    for (key, value) in rule.as_object().unwrap() {
        confirm[key] = value.clone();
    }
    let spec: hearth_model::AutomationSpec = serde_json::from_value(json!({
        "group": group, "name": "Front door",
        "triggers": [{"type": "manual"}],
        "actions": [confirm, {"type": "notify", "message": "opened"}]}))
    .unwrap();
    let automation = hearth_services::automations::Automations::new(test_hub.store())
        .create("cli:test", spec)
        .await
        .unwrap();
    test_hub.engine().reload().await.unwrap();
    test_hub
        .engine()
        .run_now(&automation.id, "user:admin")
        .await
        .unwrap();
    for _ in 0..600 {
        let requests = test_hub.store().confirmations(None, 0, 100).await.unwrap();
        if let Some(request) = requests
            .iter()
            .find(|request| request.automation == automation.id)
        {
            return (automation.id, request.id.clone());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no confirmation request for {}", automation.id);
}

/// The automation's finished run (waits for it).
async fn finished_run(
    test_hub: &hearth_testkit::TestHub,
    automation: &str,
) -> hearth_store::AutomationRun {
    let automations = hearth_services::automations::Automations::new(test_hub.store());
    for _ in 0..600 {
        let runs = automations.runs(automation, 10).await.unwrap();
        if let Some(run) = runs.into_iter().find(|run| run.finished_at_ms.is_some()) {
            return run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the run of {automation} did not finish");
}

/// Who answered a request how, from the audit log (`confirmation.confirm|refuse`).
async fn answers_audited(hub: &Hub, request: &str) -> Vec<(String, String)> {
    let mut entries = hub
        .store
        .audit(&hearth_store::AuditFilter {
            target: Some(request.to_owned()),
            action_prefixes: vec!["confirmation.confirm".into(), "confirmation.refuse".into()],
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

/// People of `home`: alice and bob (members), vera (viewer); root, a hub administrator
/// in no group; stranger, the owner of `elsewhere`.
async fn people(hub: &Hub) {
    member(hub, "alice", Role::Member).await;
    member(hub, "bob", Role::Member).await;
    member(hub, "vera", Role::Viewer).await;
    hub.registry
        .add_user(
            "cli:test",
            NewUser {
                password: Some("root-password".into()),
                is_admin: true,
                ..NewUser::new(ids::user("root"))
            },
        )
        .await
        .unwrap();
    stranger(hub, "stranger").await;
}

/// Listing and answering across groups: each group's people see only its requests
/// (the listing included); another group's owner answering gets the 404 of an unknown
/// id; a hub administrator outside the group sees it but may not answer (403), nor may
/// a viewer; a cross-site answer is refused. None of those is counted; two members'
/// confirmations are (audited), the run goes on, and a settled request takes no more
/// answers (409).
async fn confirmation_requests_belong_to_their_group(backend: Backend) {
    let test_hub = hearth_testkit::start_hub(backend).await;
    let hub = api_of(&test_hub);
    people(&hub).await;
    let (door, home) = ask(&test_hub, "home", json!({"people": 2})).await;
    let (_, theirs) = ask(&test_hub, "elsewhere", json!({"people": 1})).await;
    let confirm = |id: &str| format!("/api/v1/confirmations/{id}/confirm");
    let refuse = |id: &str| format!("/api/v1/confirmations/{id}/refuse");
    let admin = hub.login("admin", hearth_testkit::ADMIN_PASSWORD).await;
    let alice = hub.login("alice", "alice-password").await;
    let bob = hub.login("bob", "bob-password").await;
    let vera = hub.login("vera", "vera-password").await;
    let root = hub.login("root", "root-password").await;
    let stranger = hub.login("stranger", "stranger-password").await;

    // The listing: each sees their own group's request, and whether they may answer.
    let listed = |reply: Reply| -> Vec<(String, bool)> {
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|request| {
                (
                    request["id"].as_str().unwrap().to_owned(),
                    request["eligible"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let confirmations = "/api/v1/confirmations";
    assert_eq!(
        listed(hub.get(confirmations, &alice).await),
        [(home.clone(), true)]
    );
    assert_eq!(
        listed(hub.get(confirmations, &vera).await),
        [(home.clone(), false)]
    );
    assert_eq!(
        listed(hub.get(confirmations, &stranger).await),
        [(theirs.clone(), true)]
    );
    let by_group = hub
        .get(&format!("{confirmations}?group=elsewhere"), &alice)
        .await;
    assert_eq!(by_group.status, 404, "{:?}", by_group.body);
    // A hub administrator sees every group's, and is asked by none he is not in.
    let mut seen = listed(hub.get(confirmations, &root).await);
    seen.sort();
    let mut every = vec![(home.clone(), false), (theirs.clone(), false)];
    every.sort();
    assert_eq!(seen, every);

    // Another group's owner: the words of an id that does not exist.
    let unknown = hub
        .call("POST", &confirm("c-doesnotexist"), &stranger, None)
        .await;
    assert_eq!(unknown.status, 404);
    for path in [confirm(&home), refuse(&home)] {
        let hidden = hub.call("POST", &path, &stranger, None).await;
        assert_eq!(hidden.status, 404, "stranger: {:?}", hidden.body);
        assert_eq!(
            hidden.json()["error"]["message"],
            unknown.json()["error"]["message"]
                .as_str()
                .unwrap()
                .replace("c-doesnotexist", &home),
        );
    }
    let hidden = hub.call("POST", &confirm(&theirs), &alice, None).await;
    assert_eq!(hidden.status, 404, "alice, elsewhere: {:?}", hidden.body);
    // Seen but not asked: a viewer, and the hub's administrator outside the group.
    for (who, auth) in [("vera", &vera), ("root", &root)] {
        for path in [confirm(&home), refuse(&home)] {
            let refused = hub.call("POST", &path, auth, None).await;
            assert_eq!(refused.status, 403, "{who} {path}: {:?}", refused.body);
        }
    }
    // A page elsewhere cannot answer with alice's cookie.
    let other_origin = other_origin(&hub);
    let forged = hub
        .send(
            "POST",
            &confirm(&home),
            &alice,
            &[("origin", &other_origin)],
            None,
        )
        .await;
    assert_eq!(forged.status, 403, "cross-site: {:?}", forged.body);
    let forged = hub
        .send(
            "POST",
            &refuse(&home),
            &alice,
            &[("sec-fetch-site", "cross-site")],
            None,
        )
        .await;
    assert_eq!(forged.status, 403, "cross-site: {:?}", forged.body);
    assert_eq!(
        hub.call("POST", &confirm(&home), &Auth::None, None)
            .await
            .status,
        401
    );
    let stored = hub.store.confirmation(&home).await.unwrap();
    assert_eq!(stored.answers, [], "no refused answer was counted");
    assert_eq!(answers_audited(&hub, &home).await, []);

    // Two members confirm: counted, audited, and the run goes on.
    let first = hub.call("POST", &confirm(&home), &alice, None).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.json()["state"], "pending");
    assert_eq!(first.json()["confirmed_by"], json!(["alice"]));
    let second = hub.call("POST", &confirm(&home), &bob, None).await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_eq!(second.json()["state"], "confirmed");
    assert_eq!(second.json()["confirmed_by"], json!(["alice", "bob"]));
    let run = finished_run(&test_hub, &door).await;
    assert_eq!(run.status, "done", "{run:?}");
    assert_eq!(run.trace["actions"][0]["result"], "confirmed");
    assert_eq!(
        answers_audited(&hub, &home).await,
        [
            ("user:alice".to_owned(), "confirmation.confirm".to_owned()),
            ("user:bob".to_owned(), "confirmation.confirm".to_owned()),
        ]
    );
    // Settled: no more answers, even from someone it asks.
    for (path, auth) in [(confirm(&home), &admin), (refuse(&home), &alice)] {
        let late = hub.call("POST", &path, auth, None).await;
        assert_eq!(late.status, 409, "{path}: {:?}", late.body);
    }
    assert_eq!(
        hub.store.confirmation(&home).await.unwrap().state,
        hearth_model::ConfirmationState::Confirmed
    );
    test_hub.shutdown().await;
}

/// A request naming its people (`users`) or roles (`roles`) is answered by them alone:
/// another member, a viewer or the group's owner is refused (403) while it waits and
/// nothing is counted; a named person's refusal settles it (audited) and stops the run.
async fn only_the_people_a_request_asks_may_answer_it(backend: Backend) {
    let test_hub = hearth_testkit::start_hub(backend).await;
    let hub = api_of(&test_hub);
    people(&hub).await;
    let confirm = |id: &str| format!("/api/v1/confirmations/{id}/confirm");
    let refuse = |id: &str| format!("/api/v1/confirmations/{id}/refuse");
    let admin = hub.login("admin", hearth_testkit::ADMIN_PASSWORD).await;
    let alice = hub.login("alice", "alice-password").await;
    let bob = hub.login("bob", "bob-password").await;
    let vera = hub.login("vera", "vera-password").await;
    let root = hub.login("root", "root-password").await;

    let (door, named) = ask(&test_hub, "home", json!({"people": 1, "users": ["bob"]})).await;
    for (who, auth) in [
        ("alice", &alice),
        ("vera", &vera),
        ("admin (owner)", &admin),
        ("root", &root),
    ] {
        for path in [confirm(&named), refuse(&named)] {
            let refused = hub.call("POST", &path, auth, None).await;
            assert_eq!(refused.status, 403, "{who} {path}: {:?}", refused.body);
        }
    }
    assert_eq!(hub.store.confirmation(&named).await.unwrap().answers, []);
    let refused = hub.call("POST", &refuse(&named), &bob, None).await;
    assert_eq!(refused.status, 200, "{:?}", refused.body);
    assert_eq!(refused.json()["state"], "refused");
    assert_eq!(refused.json()["refused_by"], json!(["bob"]));
    let run = finished_run(&test_hub, &door).await;
    assert_ne!(run.status, "done", "{run:?}");
    assert_eq!(run.trace["actions"][0]["result"], "refused");
    assert_eq!(run.trace["actions"].as_array().unwrap().len(), 1);
    assert_eq!(
        answers_audited(&hub, &named).await,
        [("user:bob".to_owned(), "confirmation.refuse".to_owned())]
    );
    let late = hub.call("POST", &confirm(&named), &bob, None).await;
    assert_eq!(late.status, 409, "{:?}", late.body);

    // By role: only the group's owners; members are refused.
    let (_, owners) = ask(&test_hub, "home", json!({"people": 1, "roles": ["owner"]})).await;
    let refused = hub.call("POST", &confirm(&owners), &alice, None).await;
    assert_eq!(refused.status, 403, "member: {:?}", refused.body);
    let confirmed = hub.call("POST", &confirm(&owners), &admin, None).await;
    assert_eq!(confirmed.status, 200, "owner: {:?}", confirmed.body);
    assert_eq!(confirmed.json()["state"], "confirmed");
    test_hub.shutdown().await;
}

/// A stored pending request of `automation` in `group`, created at `created_at_ms`, as
/// the engine's `confirm` action writes it.
async fn stored_request(hub: &Hub, id: &str, group: &str, automation: &str, created_at_ms: i64) {
    let request = hearth_model::Confirmation {
        id: id.to_owned(),
        group: ids::group(group),
        automation: automation.to_owned(),
        automation_name: "Front door".into(),
        run: format!("r-{id}"),
        prompt: "Open the front door?".into(),
        people: 2,
        users: Vec::new(),
        roles: Vec::new(),
        within_secs: 3_600,
        created_at_ms,
        expires_at_ms: created_at_ms + 3_600_000,
        state: hearth_model::ConfirmationState::Pending,
        answers: Vec::new(),
    };
    let audit = hearth_model::NewAuditEntry::new(
        &format!("automation:{automation}"),
        "confirmation.request",
        id,
    );
    hub.store.put_confirmation(&request, &audit).await.unwrap();
}

/// The listing of every group's requests (`GET /confirmations`, what the web app asks)
/// must show a member her group's pending request however many newer ones another
/// group has: the owner of `elsewhere` keeping 100 requests pending must not hide
/// `home`'s from `home`'s people (the hub administrator among them). Without an engine, an answer is 503 for those who
/// may see the request and still 404 for others.
async fn another_groups_requests_cannot_crowd_out_the_listing(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    member(&hub, "alice", Role::Member).await;
    stranger(&hub, "stranger").await;
    let mut automations = Vec::new();
    for group in ["home", "elsewhere"] {
        let created = hub
            .call(
                "POST",
                "/api/v1/automations",
                &admin,
                Some(json!({"group": group, "name": "Front door",
                    "triggers": [{"type": "manual"}],
                    "actions": [{"type": "confirm", "people": 2}]})),
            )
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        automations.push(created.json()["id"].as_str().unwrap().to_owned());
    }
    let now = hearth_model::now_millis();
    stored_request(&hub, "c-home", "home", &automations[0], now - 60_000).await;
    for index in 0..100 {
        let id = format!("c-elsewhere-{index:03}");
        stored_request(&hub, &id, "elsewhere", &automations[1], now - 1_000 + index).await;
    }
    let alice = hub.login("alice", "alice-password").await;
    let listed = hub.get("/api/v1/confirmations", &alice).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let ids: Vec<Value> = listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|request| request["id"].clone())
        .collect();
    assert_eq!(ids, [json!("c-home")], "her group's request is listed");
    // The hub's administrator, who is also `home`'s owner, sees it among all of them.
    let every = hub.get("/api/v1/confirmations", &admin).await.json();
    let every = every.as_array().unwrap();
    assert_eq!(every.len(), 101);
    assert!(every.iter().any(|request| request["id"] == "c-home"));
    let stranger = hub.login("stranger", "stranger-password").await;
    let theirs = hub.get("/api/v1/confirmations", &stranger).await.json();
    assert_eq!(theirs.as_array().unwrap().len(), 100);

    let unavailable = hub
        .call("POST", "/api/v1/confirmations/c-home/confirm", &alice, None)
        .await;
    assert_eq!(unavailable.status, 503, "{:?}", unavailable.body);
    let hidden = hub
        .call(
            "POST",
            "/api/v1/confirmations/c-home/confirm",
            &stranger,
            None,
        )
        .await;
    assert_eq!(hidden.status, 404, "{:?}", hidden.body);
}
