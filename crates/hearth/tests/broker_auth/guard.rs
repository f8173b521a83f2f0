//! What keeps the endpoints from being an oracle for strangers: they exist only with
//! `[broker_auth] secret`, every call must carry it (a missing or wrong one is refused
//! and counted per address, then even the right one waits), and a password guessed
//! through a broker is limited as the built-in broker limits it.

use super::{Fixture, SECRET, post};
use hearth::config::HearthConfig;
use hearth_testkit::Backend;
use serde_json::json;

const ENDPOINTS: [&str; 6] = [
    "/api/v1/broker/emqx/authn",
    "/api/v1/broker/emqx/authz",
    "/api/v1/broker/vernemq/auth_on_register",
    "/api/v1/broker/go-auth/user",
    "/api/v1/broker/go-auth/superuser",
    "/api/v1/broker/go-auth/acl",
];

/// d1's login as EMQX's template sends it, from `peerhost`.
fn login(password: &str, peerhost: &str) -> serde_json::Value {
    json!({"username": "d1", "password": password, "clientid": "d1", "peerhost": peerhost})
}

#[tokio::test]
async fn strangers_without_the_secret_are_refused_then_slowed() {
    let fixture = Fixture::start(Backend::Sqlite).await;
    let body = login(fixture.secret("d1"), "10.0.0.1").to_string();
    let call = |path: &'static str, headers: Vec<(&'static str, String)>| {
        let body = body.clone();
        let hub = &fixture.hub;
        async move {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(name, value)| (*name, value.as_str()))
                .collect();
            post(hub, path, &headers, "application/json", &body).await
        }
    };
    let path = "/api/v1/broker/emqx/authn";
    // No secret, a wrong bearer, a wrong query secret: 401, and nothing is answered.
    let (status, text) = call(path, vec![]).await;
    assert_eq!(status, 401, "{text}");
    assert!(!text.contains("allow"), "{text}");
    let (status, _) = call(
        path,
        vec![("Authorization", "Bearer not-the-secret".into())],
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = call(
        "/api/v1/broker/emqx/authn?secret=guess-guess-guess-guess-1",
        vec![],
    )
    .await;
    assert_eq!(status, 401);
    // The right one, as a header or in the query.
    let (status, text) = call(path, vec![("Authorization", format!("Bearer {SECRET}"))]).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"allow\""), "{text}");
    let query = Box::leak(format!("{path}?secret={SECRET}").into_boxed_str());
    assert_eq!(call(query, vec![]).await.0, 200);
    // Five wrong ones in the minute from this address: now even the right secret waits
    // (429) here, on every endpoint.
    for _ in 0..5 {
        assert_eq!(
            call(path, vec![("Authorization", "Bearer nope".into())])
                .await
                .0,
            401
        );
    }
    let (status, text) = call(path, vec![("Authorization", format!("Bearer {SECRET}"))]).await;
    assert_eq!(status, 429, "{text}");
    assert_eq!(
        call(
            "/api/v1/broker/go-auth/acl",
            vec![("Authorization", format!("Bearer {SECRET}"))]
        )
        .await
        .0,
        429
    );
    fixture.hub.shutdown().await;
}

/// Guessers on many addresses (behind a proxy the hub trusts, so `X-Forwarded-For` is
/// the client's address) fill the per-name ceiling; the broker, whose address the right
/// secret made known, is not locked out, while an unknown address waits.
#[tokio::test]
async fn guessers_elsewhere_do_not_lock_the_broker_out() {
    let hub = hearth_testkit::start_hub_with(Backend::Sqlite, |config| {
        config.broker_auth = Some(hearth_api::BrokerAuthConfig::new(SECRET).unwrap());
        config.api.trust_forwarded_for = true;
    })
    .await;
    let path = "/api/v1/broker/emqx/authz";
    let body = json!({"username": "nobody", "clientid": "x", "action": "publish", "topic": "t"})
        .to_string();
    let from = |address: String, secret: &'static str| {
        let body = body.clone();
        let hub = &hub;
        async move {
            let bearer = format!("Bearer {secret}");
            let headers = [
                ("X-Forwarded-For", address.as_str()),
                ("Authorization", bearer.as_str()),
            ];
            post(hub, path, &headers, "application/json", &body).await.0
        }
    };
    assert_eq!(from("10.0.0.1".into(), SECRET).await, 200);
    // Four tries from each of 15 addresses: under the per-address limit, over the
    // name's ceiling (10 × 5) in all, so the last ones already wait.
    let mut statuses = Vec::new();
    for guesser in 0..15 {
        for _ in 0..4 {
            let wrong = "wrong-wrong-wrong-wrong-wrong";
            statuses.push(from(format!("192.0.2.{guesser}"), wrong).await);
        }
    }
    assert!(
        statuses
            .iter()
            .all(|status| *status == 401 || *status == 429),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|status| **status == 401).count(),
        50,
        "{statuses:?}"
    );
    assert_eq!(from("10.0.0.1".into(), SECRET).await, 200);
    assert_eq!(from("10.0.0.99".into(), SECRET).await, 429);
    hub.shutdown().await;
}

#[tokio::test]
async fn without_broker_auth_the_endpoints_answer_nothing() {
    let hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let bearer = format!("Bearer {SECRET}");
    for path in ENDPOINTS {
        let (status, text) = post(
            &hub,
            path,
            &[("Authorization", &bearer)],
            "application/json",
            "{}",
        )
        .await;
        assert_eq!(status, 404, "{path}: {text}");
        assert!(text.contains("[broker_auth]"), "{path}: {text}");
        assert!(
            !text.contains("allow") && !text.contains("\"ok\""),
            "{path}: {text}"
        );
    }
    hub.shutdown().await;
}

#[tokio::test]
async fn password_guessing_through_a_broker_is_limited_like_mqtt_logins() {
    let fixture = Fixture::start(Backend::Sqlite).await;
    let path = format!("/api/v1/broker/emqx/authn?secret={SECRET}");
    let result = |body: serde_json::Value| {
        let path = path.clone();
        let hub = &fixture.hub;
        async move {
            let (status, text) = post(hub, &path, &[], "application/json", &body.to_string()).await;
            assert_eq!(status, 200, "{text}");
            serde_json::from_str::<serde_json::Value>(&text).unwrap()["result"].clone()
        }
    };
    for guess in 0..5 {
        let answer = result(login(&format!("guess-{guess}"), "10.9.9.9")).await;
        assert_eq!(answer, "deny");
    }
    // From the guesser's address even the right secret is refused now (the limiter the
    // HTTP and MQTT logins share), while the device itself, elsewhere, still gets in.
    assert_eq!(
        result(login(fixture.secret("d1"), "10.9.9.9")).await,
        "deny"
    );
    assert_eq!(
        result(login(fixture.secret("d1"), "10.0.0.2")).await,
        "allow"
    );
    fixture.hub.shutdown().await;
}

#[test]
fn configuration_errors_name_their_line() {
    let error = HearthConfig::from_toml("data_dir = \"d\"\n\n[broker_auth]\nsecret = \"short\"\n")
        .unwrap_err();
    assert!(error.starts_with("line 4,"), "{error}");
    assert!(error.contains("broker_auth.secret"), "{error}");
    let error = HearthConfig::from_toml(&format!(
        "[broker_auth]\nsecret = \"{SECRET}\"\nsecrte = 1\n"
    ))
    .unwrap_err();
    assert!(
        error.starts_with("line 3,") && error.contains("secrte"),
        "{error}"
    );
    let config =
        HearthConfig::from_toml(&format!("[broker_auth]\nsecret = \"{SECRET}\"\n")).unwrap();
    assert_eq!(config.broker_auth.unwrap().secret, SECRET);
    assert!(HearthConfig::from_toml("").unwrap().broker_auth.is_none());
}
