//! The cloud's view of a site's link (docs/sites.md "Visible"): `GET /api/v1/sites/{id}`
//! `link` and the per-site `/metrics` follow the real link through a cut: connected and
//! since when, the messages relayed, the home time of the newest one (the lag's base),
//! and the link down from the cut on.

use crate::harness::*;
use crate::proxy::Proxy;
use hearth_testkit::client::Api;
use hearth_testkit::devices::TestDevice;
use std::time::Duration;

/// Asks the cloud for the site until `done(link)`.
async fn link_until(
    api: &Api,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = std::time::Instant::now();
    loop {
        let (status, _, body) = api
            .send("GET", &format!("/api/v1/sites/{SITE}"), None)
            .await;
        assert_eq!(status, 200, "{body}");
        if done(&body["link"]) {
            return body;
        }
        assert!(start.elapsed() < DEADLINE, "never {what}: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The value of the sample `name{site="home-1"}` in `/metrics`.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    let prefix = format!("{name}{{site=\"{SITE}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|value| value.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloud_shows_each_sites_link_and_exports_it() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_addr = free_port();
    let cloud = start_cloud(cloud_addr, dir.path()).await;
    let admin = Api::login(&cloud).await;
    let proxy = Proxy::start(Some(cloud_addr)).await;
    let mut watcher = Watcher::start(cloud_addr).await;
    let before_link = hearth_model::now_millis();
    let home = start_home(bridge_config(proxy.addr)).await;
    let secrets = add_site_devices(&cloud, &home, &["d1"]).await;

    let site = link_until(&admin, "connected", |link| link["connected"] == true).await;
    let since = site["link"]["since_ms"].as_i64().unwrap();
    assert!(since >= before_link, "{site}");
    assert_eq!(site["devices"], serde_json::json!(["d1"]));

    let mut device = TestDevice::connect(&home, "d1", &secrets["d1"]).await;
    for n in 0..10 {
        publish(&mut device, n).await;
    }
    wait_status(&home, "all acknowledged", |status| {
        status.queued_messages == 0 && status.acked_total >= 10
    })
    .await;
    watcher
        .until("the ten at the cloud", |seen| {
            seen.iter().filter(|m| m.topic.ends_with("/data")).count() >= 10
        })
        .await;
    let acked = home.bridge_status().unwrap().acked_total;
    let site = link_until(&admin, "all relayed", |link| {
        link["messages_total"].as_u64() >= Some(acked)
    })
    .await;
    let link = &site["link"];
    assert_eq!(link["connected"], true);
    assert_eq!(link["since_ms"].as_i64(), Some(since), "one connection");
    // The newest relayed message's home time is the newest the link carried.
    let newest_home = watcher
        .seen
        .iter()
        .filter_map(|m| m.received_at)
        .max()
        .unwrap();
    assert_eq!(link["last_home_ms"].as_i64(), Some(newest_home), "{site}");
    let last_message = link["last_message_ms"].as_i64().unwrap();
    assert!(last_message >= newest_home, "{site}");
    assert!(link["lag_ms"].as_i64().unwrap() >= 0, "{site}");

    let metrics = admin.text("/metrics").await;
    assert_eq!(
        sample(&metrics, "hearth_site_link_up"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "hearth_site_messages_total"),
        Some(link["messages_total"].as_u64().unwrap() as f64)
    );
    assert!(sample(&metrics, "hearth_site_lag_seconds").is_some_and(|lag| lag >= 0.0));

    // The link cut (and kept out): down, since the cut.
    let cut_at = hearth_model::now_millis();
    proxy.set_target(None);
    proxy.cut();
    let site = link_until(&admin, "down", |link| link["connected"] == false).await;
    assert!(
        site["link"]["since_ms"].as_i64().unwrap() >= cut_at,
        "{site}"
    );
    let metrics = admin.text("/metrics").await;
    assert_eq!(
        sample(&metrics, "hearth_site_link_up"),
        Some(0.0),
        "{metrics}"
    );

    // Back: connected again, since the new connection, and the count goes on.
    proxy.set_target(Some(cloud_addr));
    publish(&mut device, 10).await;
    let total = site["link"]["messages_total"].as_u64().unwrap();
    let site = link_until(&admin, "relaying again", |link| {
        link["connected"] == true && link["messages_total"].as_u64() > Some(total)
    })
    .await;
    assert!(
        site["link"]["since_ms"].as_i64().unwrap() >= cut_at,
        "{site}"
    );

    home.shutdown().await;
    cloud.shutdown().await;
}
