//! The OpenAPI document against the router, `/api/docs`, `/healthz` and `/metrics`.

use super::*;
use std::collections::BTreeSet;

both_backends!(openapi_document_matches_the_routes, health_and_metrics);

/// Every route the API promises (the closing note of issue 7 lists the same).
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/auth/me"),
    ("patch", "/api/v1/auth/me"),
    ("post", "/api/v1/auth/password"),
    ("post", "/api/v1/auth/register"),
    ("get", "/api/v1/auth/oidc/providers"),
    ("get", "/api/v1/auth/oidc/{provider}/start"),
    ("get", "/api/v1/auth/oidc/{provider}/callback"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{id}"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("delete", "/api/v1/users/{name}"),
    ("get", "/api/v1/groups"),
    ("post", "/api/v1/groups"),
    ("get", "/api/v1/groups/{id}"),
    ("delete", "/api/v1/groups/{id}"),
    ("get", "/api/v1/groups/{id}/members"),
    ("put", "/api/v1/groups/{id}/members/{user}"),
    ("delete", "/api/v1/groups/{id}/members/{user}"),
    ("get", "/api/v1/apps"),
    ("post", "/api/v1/apps"),
    ("get", "/api/v1/apps/{id}"),
    ("patch", "/api/v1/apps/{id}"),
    ("delete", "/api/v1/apps/{id}"),
    ("post", "/api/v1/apps/{id}/rotate-secret"),
    ("get", "/api/v1/apps/{id}/grants"),
    ("put", "/api/v1/apps/{id}/grants/{user}"),
    ("delete", "/api/v1/apps/{id}/grants/{user}"),
    ("get", "/api/v1/apps/{id}/layout"),
    ("put", "/api/v1/apps/{id}/layout"),
    ("delete", "/api/v1/apps/{id}/layout"),
    ("get", "/api/v1/devices/{id}/layout"),
    ("put", "/api/v1/devices/{id}/layout"),
    ("delete", "/api/v1/devices/{id}/layout"),
    ("get", "/api/v1/discovered"),
    ("post", "/api/v1/discovered/{app}/{id}/adopt"),
    ("delete", "/api/v1/discovered/{app}/{id}"),
    ("get", "/api/v1/devices"),
    ("post", "/api/v1/devices"),
    ("get", "/api/v1/devices/{id}"),
    ("patch", "/api/v1/devices/{id}"),
    ("delete", "/api/v1/devices/{id}"),
    ("get", "/api/v1/devices/{id}/live"),
    ("post", "/api/v1/devices/{id}/enable"),
    ("post", "/api/v1/devices/{id}/disable"),
    ("post", "/api/v1/devices/{id}/rotate-secret"),
    // Claiming devices (issue 23, routes/claims.rs).
    ("post", "/api/v1/unclaimed-devices"),
    ("post", "/api/v1/devices/{id}/claim-code"),
    ("get", "/api/v1/devices/{id}/label.svg"),
    ("post", "/api/v1/claims"),
    ("get", "/api/v1/devices/{id}/claim"),
    ("post", "/api/v1/devices/{id}/unclaim"),
    ("get", "/api/v1/devices/{id}/messages"),
    ("get", "/api/v1/devices/{id}/points"),
    ("get", "/api/v1/devices/{id}/aggregates"),
    ("get", "/api/v1/devices/{id}/latest"),
    ("get", "/api/v1/devices/{id}/status-history"),
    ("get", "/api/v1/devices/{id}/export.csv"),
    ("get", "/api/v1/devices/{id}/commands"),
    ("post", "/api/v1/devices/{id}/commands"),
    ("get", "/api/v1/commands/{id}"),
    ("post", "/api/v1/mqtt/credentials"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/automations"),
    ("post", "/api/v1/automations"),
    ("get", "/api/v1/automations/{id}"),
    ("put", "/api/v1/automations/{id}"),
    ("delete", "/api/v1/automations/{id}"),
    ("post", "/api/v1/automations/{id}/enable"),
    ("post", "/api/v1/automations/{id}/disable"),
    ("get", "/api/v1/automations/{id}/runs"),
    ("post", "/api/v1/automations/{id}/run"),
    ("post", "/api/v1/automations/{id}/webhook"),
    ("delete", "/api/v1/automations/{id}/webhook"),
    ("post", "/api/v1/hooks/{id}/{secret}"),
    ("get", "/api/v1/confirmations"),
    ("post", "/api/v1/confirmations/{id}/confirm"),
    ("post", "/api/v1/confirmations/{id}/refuse"),
    ("get", "/api/v1/groups/{id}/place"),
    ("put", "/api/v1/groups/{id}/place"),
    ("get", "/api/v1/scenes"),
    ("post", "/api/v1/scenes"),
    ("get", "/api/v1/scenes/{id}"),
    ("put", "/api/v1/scenes/{id}"),
    ("delete", "/api/v1/scenes/{id}"),
    ("post", "/api/v1/scenes/{id}/apply"),
    ("get", "/api/v1/sites"),
    ("post", "/api/v1/sites"),
    ("get", "/api/v1/sites/{id}"),
    ("patch", "/api/v1/sites/{id}"),
    ("delete", "/api/v1/sites/{id}"),
    ("post", "/api/v1/sites/{id}/rotate-secret"),
    ("get", "/api/v1/alert-rules"),
    ("post", "/api/v1/alert-rules"),
    ("get", "/api/v1/alert-rules/{id}"),
    ("put", "/api/v1/alert-rules/{id}"),
    ("delete", "/api/v1/alert-rules/{id}"),
    ("get", "/api/v1/alerts"),
    ("get", "/api/v1/alerts/{id}"),
    ("post", "/api/v1/alerts/{id}/acknowledge"),
    ("post", "/api/v1/alerts/{id}/clear"),
    ("get", "/api/v1/profile/notifications"),
    ("put", "/api/v1/profile/notifications"),
    ("get", "/api/v1/push/key"),
    ("get", "/api/v1/push/subscriptions"),
    ("post", "/api/v1/push/subscriptions"),
    ("delete", "/api/v1/push/subscriptions"),
    ("get", "/api/v1/admin/log-level"),
    ("put", "/api/v1/admin/log-level"),
    ("get", "/api/v1/bridge"),
    ("post", "/api/v1/broker/emqx/authn"),
    ("post", "/api/v1/broker/emqx/authz"),
    ("post", "/api/v1/broker/vernemq/{hook}"),
    ("post", "/api/v1/broker/go-auth/user"),
    ("post", "/api/v1/broker/go-auth/superuser"),
    ("post", "/api/v1/broker/go-auth/acl"),
    ("get", "/api/v1/firmware"),
    ("post", "/api/v1/firmware"),
    ("get", "/api/v1/firmware/{id}"),
    ("delete", "/api/v1/firmware/{id}"),
    ("get", "/api/v1/firmware/download/{token}"),
    ("get", "/api/v1/rollouts"),
    ("post", "/api/v1/rollouts"),
    ("get", "/api/v1/rollouts/{id}"),
    ("post", "/api/v1/rollouts/{id}/continue"),
    ("post", "/api/v1/rollouts/{id}/stop"),
    ("post", "/api/v1/rollouts/{id}/retry"),
    ("get", "/healthz"),
    ("get", "/metrics"),
];

async fn openapi_document_matches_the_routes(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let reply = hub.get("/api/openapi.json", &Auth::None).await;
    assert_eq!(reply.status, 200);
    let doc = reply.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if let Some(operation) = item.get(method) {
                assert!(operation["responses"].is_object(), "{method} {path}");
                documented.insert((method.to_owned(), path.clone()));
            }
        }
    }
    let promised: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(
        documented, promised,
        "the document lists exactly the promised routes"
    );

    // Every documented operation is served (not the router's 404 nor a 405).
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "x")
            .replace("{user}", "x")
            .replace("{name}", "x");
        let reply = hub
            .call(&method.to_uppercase(), &concrete, &Auth::None, None)
            .await;
        assert_ne!(reply.status, 405, "{method} {path}");
        if reply.status == 404 {
            assert_ne!(
                reply.code(),
                "no_route",
                "{method} {path} is documented but not routed"
            );
        }
    }
    // And a route that is not documented is not served.
    let stray = hub.get("/api/v1/devices/x/nothing", &Auth::None).await;
    assert_eq!(stray.code(), "no_route");
    let wrong_method = hub.call("PUT", "/api/v1/tokens", &Auth::None, None).await;
    assert_eq!(wrong_method.status, 405);

    // Every schema a reference points at exists.
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "missing schema {name}"
        );
    }
    let docs = hub.get("/api/docs/", &Auth::None).await;
    assert_eq!(docs.status, 200);
    assert!(String::from_utf8_lossy(&docs.body).contains("swagger"));
}

async fn health_and_metrics(store: Arc<dyn Store>) {
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = ready.clone();
    let hub = start_with(store, move |state| {
        state.metrics().add_collector(|writer| {
            writer.gauge(
                "hearth_mqtt_connections",
                "Open MQTT connections.",
                &[],
                2.0,
            );
        });
        state.with_broker_ready(Arc::new(move || {
            flag.load(std::sync::atomic::Ordering::Relaxed)
        }))
    })
    .await;
    let health = hub.get("/healthz", &Auth::None).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    ready.store(false, std::sync::atomic::Ordering::Relaxed);
    let down = hub.get("/healthz", &Auth::None).await;
    assert_eq!(down.status, 503);
    assert_eq!(
        (
            down.json()["broker"].as_str(),
            down.json()["store"].as_str()
        ),
        (Some("down"), Some("ok"))
    );

    let admin = hub.admin().await;
    hub.get("/api/v1/devices/ghost", &admin).await;
    let metrics = hub.get("/metrics", &Auth::None).await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        text.contains(r#"hearth_http_requests_total{method="GET",route="/api/v1/devices/{id}",status="404"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"hearth_http_request_duration_seconds_bucket{method="POST",route="/api/v1/auth/login",le="+Inf"} 1"#), "{text}");
    assert!(text.contains("hearth_mqtt_connections 2"));
}
