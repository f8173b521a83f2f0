//! `GET /api/v1/bridge` (hub administrators only) and the bridge's `/metrics`.

use crate::harness::*;
use crate::proxy::Proxy;
use hearth_model::UserName;
use hearth_testkit::client::Api;
use hearth_testkit::ids;
use hearth_testkit::{Backend, start_hub};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bridge_status_is_for_hub_administrators_and_in_metrics() {
    let proxy = Proxy::start(None).await;
    let home = start_home(bridge_config(proxy.addr)).await;

    let admin = Api::login(&home).await;
    let (status, _, body) = admin.send("GET", "/api/v1/bridge", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["site"], SITE);
    assert_eq!(body["up"], false);
    assert!(body["down_since_ms"].as_i64().is_some(), "{body}");
    assert_eq!(body["queued_messages"], 0);
    assert_eq!(body["overflow"], "drop-oldest");
    assert_eq!(body["url"], format!("mqtt://{}", proxy.addr));
    assert!(
        !body.to_string().contains(SITE_SECRET),
        "the secret is never shown"
    );

    // The household's own administrator is not the hub's: 403, and nothing of it.
    let eve = UserName::new("eve").unwrap();
    let registry = home.registry();
    registry
        .add_user(
            "test",
            hearth_services::registry::NewUser {
                password: Some("eve-password-1".into()),
                ..hearth_services::registry::NewUser::new(eve.clone())
            },
        )
        .await
        .unwrap();
    registry
        .set_member("test", &ids::group("home"), &eve, hearth_model::Role::Admin)
        .await
        .unwrap();
    let eve_api = Api::login_as(&home, "eve", "eve-password-1").await;
    let (status, _, body) = eve_api.send("GET", "/api/v1/bridge", None).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body.get("site").is_none() && body.get("url").is_none(),
        "{body}"
    );

    let metrics = admin.text("/metrics").await;
    for line in [
        "hearth_bridge_up 0",
        "hearth_bridge_queued_messages 0",
        "hearth_bridge_messages_total{outcome=\"dropped\"} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in /metrics"
        );
    }
    home.shutdown().await;

    // A hub without [bridge]: 404.
    let plain = start_hub(Backend::Sqlite).await;
    let (status, _, _) = Api::login(&plain)
        .await
        .send("GET", "/api/v1/bridge", None)
        .await;
    assert_eq!(status, 404);
    plain.shutdown().await;
}
