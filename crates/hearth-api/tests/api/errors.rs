//! Bad input gets `{"error": {"code", "message", "field"?}}` with the right status, and
//! never a crash.

use super::*;

both_backends!(bad_input_gets_the_error_shape);
both_backends!(malformed_ids_stop_at_the_edge_with_the_field_named);
both_backends!(declared_capabilities_are_kept_as_given);

/// (what, method, path, raw body, status, code, field).
type Case = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    u16,
    &'static str,
    Option<&'static str>,
);

async fn bad_input_gets_the_error_shape(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    hub.add_device("lamp", "default").await;

    // (what, method, path, raw body, status, code, field)
    let cases: Vec<Case> = vec![
        (
            "missing field",
            "POST",
            "/api/v1/auth/login",
            Some(r#"{"username":"admin"}"#),
            400,
            "bad_request",
            Some("password"),
        ),
        (
            "wrong type",
            "POST",
            "/api/v1/devices",
            Some(r#"{"id":"x","app":"default","heartbeat_timeout_secs":"soon"}"#),
            400,
            "bad_request",
            Some("heartbeat_timeout_secs"),
        ),
        (
            "unknown field",
            "POST",
            "/api/v1/groups",
            Some(r#"{"id":"g","colour":"red"}"#),
            400,
            "bad_request",
            Some("colour"),
        ),
        (
            "not JSON",
            "POST",
            "/api/v1/groups",
            Some("{nope"),
            400,
            "bad_request",
            Some("body"),
        ),
        (
            "empty body",
            "POST",
            "/api/v1/groups",
            Some(""),
            400,
            "bad_request",
            Some("body"),
        ),
        (
            "invalid id in path",
            "GET",
            "/api/v1/devices/bad.id!",
            None,
            400,
            "bad_request",
            Some("id"),
        ),
        (
            "invalid id in body",
            "POST",
            "/api/v1/devices",
            Some(r#"{"id":"a b","app":"default"}"#),
            422,
            "invalid",
            Some("id"),
        ),
        (
            "rule broken",
            "POST",
            "/api/v1/devices",
            Some(r#"{"id":"ok","app":"default","kind":"BAD KIND"}"#),
            422,
            "invalid",
            Some("kind"),
        ),
        (
            "out of range",
            "PATCH",
            "/api/v1/devices/lamp",
            Some(r#"{"heartbeat_timeout_secs":1}"#),
            422,
            "invalid",
            Some("heartbeat_timeout_secs"),
        ),
        (
            "unknown capability",
            "POST",
            "/api/v1/devices",
            Some(
                r#"{"id":"c1","app":"default","metadata":{"capabilities":[{"type":"switch"},{"type":"dimmer"},{"type":"toaster"}]}}"#,
            ),
            422,
            "invalid",
            Some("metadata.capabilities[2].type"),
        ),
        (
            "capability out of range",
            "PATCH",
            "/api/v1/devices/lamp",
            Some(r#"{"metadata":{"capabilities":[{"type":"thermostat","min":30,"max":5}]}}"#),
            422,
            "invalid",
            Some("metadata.capabilities[0].max"),
        ),
        (
            "unknown device",
            "GET",
            "/api/v1/devices/ghost",
            None,
            404,
            "not_found",
            None,
        ),
        (
            "unknown app",
            "POST",
            "/api/v1/devices",
            Some(r#"{"id":"x","app":"ghost"}"#),
            404,
            "not_found",
            None,
        ),
        (
            "duplicate device",
            "POST",
            "/api/v1/devices",
            Some(r#"{"id":"lamp","app":"default"}"#),
            409,
            "conflict",
            None,
        ),
        (
            "duplicate group",
            "POST",
            "/api/v1/groups",
            Some(r#"{"id":"home"}"#),
            409,
            "conflict",
            None,
        ),
        (
            "group not empty",
            "DELETE",
            "/api/v1/groups/home",
            None,
            409,
            "conflict",
            None,
        ),
        (
            "bad query type",
            "GET",
            "/api/v1/devices?limit=many",
            None,
            400,
            "bad_request",
            Some("limit"),
        ),
        (
            "bad query value",
            "GET",
            "/api/v1/devices?limit=100000",
            None,
            400,
            "bad_request",
            Some("limit"),
        ),
        (
            "unknown query",
            "GET",
            "/api/v1/devices?colour=red",
            None,
            400,
            "bad_request",
            Some("colour"),
        ),
        (
            "bad sort",
            "GET",
            "/api/v1/devices?sort=random",
            None,
            400,
            "bad_request",
            Some("sort"),
        ),
        (
            "bad bool",
            "GET",
            "/api/v1/devices?online=maybe",
            None,
            400,
            "bad_request",
            Some("online"),
        ),
        (
            "missing metric",
            "GET",
            "/api/v1/devices/lamp/points",
            None,
            400,
            "bad_request",
            Some("metric"),
        ),
        (
            "bad range",
            "GET",
            "/api/v1/devices/lamp/points?metric=t&from=10&to=5",
            None,
            400,
            "bad_request",
            Some("from"),
        ),
        (
            "bad bucket",
            "GET",
            "/api/v1/devices/lamp/aggregates?metric=t&bucket=1w",
            None,
            400,
            "bad_request",
            Some("bucket"),
        ),
        (
            "no route",
            "GET",
            "/api/v1/nothing-here",
            None,
            404,
            "no_route",
            None,
        ),
        (
            "wrong role",
            "PUT",
            "/api/v1/groups/home/members/admin",
            Some(r#"{"role":"boss"}"#),
            400,
            "bad_request",
            Some("role"),
        ),
        (
            "huge number",
            "GET",
            "/api/v1/devices/lamp/messages?from=99999999999999999999",
            None,
            400,
            "bad_request",
            Some("from"),
        ),
        (
            "no commands service",
            "POST",
            "/api/v1/devices/lamp/commands",
            Some(r#"{"name":"switch"}"#),
            503,
            "unavailable",
            None,
        ),
    ];
    let mut failures = Vec::new();
    for (what, method, path, body, status, code, field) in cases {
        let reply = hub
            .raw(
                method,
                path,
                &admin,
                body.map(|body| body.as_bytes().to_vec()),
            )
            .await;
        let json: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        let got = (
            reply.status,
            json["error"]["code"].as_str().unwrap_or("?"),
            json["error"]["field"].as_str(),
        );
        if got != (status, code, field) {
            failures.push(format!(
                "{what}: got {got:?}, want {:?}: {}",
                (status, code, field),
                String::from_utf8_lossy(&reply.body)
            ));
        }
        if json["error"]["message"].as_str().is_none_or(str::is_empty) {
            failures.push(format!("{what}: no message"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert_eq!(
        hub.get("/healthz", &Auth::None).await.status,
        200,
        "still up"
    );
}

/// The registry takes typed ids (`&DeviceId`, `&AppId`...), so a malformed one must be
/// refused by the route that read it: with the status, field and wording the registry
/// gave when it parsed strings itself (422 naming the body property, 400 naming the path
/// segment), and before anything reaches the store, whose audit log stays as it was.
async fn malformed_ids_stop_at_the_edge_with_the_field_named(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    let audit_before = hub
        .store
        .audit(&hearth_store::AuditFilter::default())
        .await
        .unwrap()
        .len();
    // (method, path, body, status, field, message)
    let cases = [
        (
            "POST",
            "/api/v1/devices",
            Some(json!({ "id": "a/b", "app": "default" })),
            422,
            "id",
            "id: a/b: use only letters, digits, '-' and '_'",
        ),
        (
            "POST",
            "/api/v1/apps",
            Some(json!({ "id": "-lights", "group": "home" })),
            422,
            "id",
            "id: -lights: it must not start with '-' or '.'",
        ),
        (
            "POST",
            "/api/v1/groups",
            Some(json!({ "id": "" })),
            422,
            "id",
            "id: : it is empty",
        ),
        (
            "POST",
            "/api/v1/users",
            Some(json!({ "name": "jane doe" })),
            422,
            "name",
            "name: jane doe: use only letters, digits, '-', '_' and '.'",
        ),
        (
            "POST",
            "/api/v1/devices/bad.id/disable",
            None,
            400,
            "id",
            "id: invalid device id \"bad.id\": use only letters, digits, '-' and '_'",
        ),
        (
            "PUT",
            "/api/v1/groups/home/members/-eve",
            Some(json!({ "role": "member" })),
            400,
            "user",
            "user: invalid user name \"-eve\": it must not start with '-' or '.'",
        ),
    ];
    for (method, path, body, status, field, message) in cases {
        let reply = hub.call(method, path, &admin, body).await;
        let json = reply.json();
        assert_eq!(reply.status, status, "{method} {path}: {json}");
        assert_eq!(reply.field().as_deref(), Some(field), "{method} {path}");
        assert_eq!(json["error"]["message"], message, "{method} {path}");
    }
    let audit_after = hub
        .store
        .audit(&hearth_store::AuditFilter::default())
        .await
        .unwrap()
        .len();
    assert_eq!(audit_after, audit_before, "nothing reached the registry");
}

/// A valid `metadata.capabilities` is stored as given (the web app draws controls from
/// it); a later bad one is refused and leaves it as it was.
async fn declared_capabilities_are_kept_as_given(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    let capabilities = json!([
        {"type": "switch"},
        {"type": "color", "modes": ["rgb", "temp"]},
        {"type": "sensor", "key": "power_w", "unit": "W", "device_class": "power"},
    ]);
    let created = hub
        .call(
            "POST",
            "/api/v1/devices",
            &admin,
            Some(json!({"id": "bulb", "app": "default", "kind": "light", "metadata": {"capabilities": capabilities}})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json());
    let device = hub.get("/api/v1/devices/bulb", &admin).await.json();
    assert_eq!(device["metadata"]["capabilities"], capabilities);
    let refused = hub
        .call(
            "PATCH",
            "/api/v1/devices/bulb",
            &admin,
            Some(json!({"metadata": {"capabilities": "switch"}})),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.json()["error"]["field"], "metadata.capabilities");
    let device = hub.get("/api/v1/devices/bulb", &admin).await.json();
    assert_eq!(device["metadata"]["capabilities"], capabilities);
}
