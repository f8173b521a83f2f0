//! The registry mirrored from the cloud to the home hub (docs/bridge.md "Registry
//! mirror"): a device and a person defined in the cloud log in at home, also with the
//! cloud stopped; a device removed in the cloud is refused at home; a device added at
//! home while the link is down goes up when it returns; one whose id the cloud already
//! uses is not taken, and the conflict shows on both hubs.

use crate::harness::*;
use crate::proxy::Proxy;
use hearth_model::{Role, SiteId};
use hearth_services::registry::NewUser;
use hearth_testkit::client::{Api, eventually};
use hearth_testkit::{TestHub, ids};
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, Packet};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, MqttOptions};

const CAROL_PASSWORD: &str = "carol-cloud-password";

/// What the hub answers a device's CONNECT with.
async fn connect_code(hub: &TestHub, id: &str, secret: &str) -> ConnectReturnCode {
    let mut options = MqttOptions::new(id, "127.0.0.1", hub.mqtt().port());
    options.set_credentials(id, secret);
    let (client, mut events) = AsyncClient::new(options, 8);
    let code = tokio::time::timeout(DEADLINE, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => return ack.code,
                Ok(_) => {}
                Err(ConnectionError::ConnectionRefused(code)) => return code,
                Err(error) => panic!("{id}: {error:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{id}: no CONNACK"));
    let _ = client.try_disconnect();
    code
}

/// Registers `devices` in the cloud, in the site; their secrets.
async fn cloud_site_devices(
    cloud: &TestHub,
    devices: &[&str],
) -> std::collections::HashMap<String, String> {
    let secrets = hearth_testkit::devices::add_devices(cloud, devices).await;
    let site = SiteId::new(SITE).unwrap();
    for device in devices {
        cloud
            .registry()
            .set_device_site("test", &ids::device(device), Some(&site))
            .await
            .unwrap();
    }
    secrets
}

async fn has_device(hub: &TestHub, id: &str) -> bool {
    hub.store().device(&ids::device(id)).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cloud_registry_is_mirrored_at_home_and_home_devices_go_up() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_addr = free_port();
    let mut cloud = start_cloud(cloud_addr, dir.path()).await;
    // In the cloud: carol of group `home`, `lamp` and `gone` in the site, `plug` in none.
    let carol = ids::user("carol");
    let mut new_carol = NewUser::new(carol.clone());
    new_carol.password = Some(CAROL_PASSWORD.to_owned());
    cloud.registry().add_user("test", new_carol).await.unwrap();
    cloud
        .registry()
        .set_member("test", &ids::group("home"), &carol, Role::Member)
        .await
        .unwrap();
    let secrets = cloud_site_devices(&cloud, &["lamp", "gone"]).await;
    hearth_testkit::devices::add_devices(&cloud, &["plug"]).await;

    let proxy = Proxy::start(Some(cloud_addr)).await;
    let home = start_home(bridge_config(proxy.addr)).await;
    eventually("lamp and gone mirrored at home", || async {
        (has_device(&home, "lamp").await && has_device(&home, "gone").await).then_some(())
    })
    .await;
    assert!(
        !has_device(&home, "plug").await,
        "a device of no site stays in the cloud"
    );
    // A real device and a real person log in at home with what the cloud gave them.
    assert_eq!(
        connect_code(&home, "lamp", &secrets["lamp"]).await,
        ConnectReturnCode::Success
    );
    assert_ne!(
        connect_code(&home, "lamp", "not-the-secret").await,
        ConnectReturnCode::Success
    );
    Api::login_as(&home, "carol", CAROL_PASSWORD).await;
    let status = home.bridge_status().unwrap();
    let mirror = status.mirror.expect("the home mirrors");
    assert!(mirror.revision.is_some() && mirror.last_sync_ms.is_some());
    // The cloud's `admin` (owner of `home` there) is not the home's: the home's own
    // administrator is kept, and the clash is listed.
    assert!(
        mirror.conflicts.iter().any(|c| c.device == "user:admin"),
        "{mirror:?}"
    );
    let admin = home.store().user(&ids::user("admin")).await.unwrap();
    assert!(admin.is_admin);
    assert!(!home.store().user(&carol).await.unwrap().is_admin);

    // Live state is the home's: what the lamp's login left survives the next snapshot.
    let seen = eventually("the lamp seen at home", || async {
        let lamp = home.store().device(&ids::device("lamp")).await.ok()?;
        lamp.live.last_seen_ms
    })
    .await;
    let revision = mirror.revision;

    // Removed in the cloud: gone at home, refused.
    cloud
        .registry()
        .remove_device("test", &ids::device("gone"))
        .await
        .unwrap();
    eventually("gone removed at home", || async {
        (!has_device(&home, "gone").await).then_some(())
    })
    .await;
    assert_ne!(
        connect_code(&home, "gone", &secrets["gone"]).await,
        ConnectReturnCode::Success
    );
    let mirror = home.bridge_status().unwrap().mirror.unwrap();
    assert!(mirror.revision > revision, "{mirror:?}");
    let lamp = home.store().device(&ids::device("lamp")).await.unwrap();
    assert!(lamp.live.last_seen_ms >= Some(seen), "{lamp:?}");

    // The link down: `fan` (a free id) and `plug` (the cloud's) added at home.
    proxy.set_target(None);
    proxy.cut();
    wait_status(&home, "down", |status| !status.up).await;
    let home_secrets = hearth_testkit::devices::add_devices(&home, &["fan", "plug"]).await;
    assert_eq!(
        connect_code(&home, "fan", &home_secrets["fan"]).await,
        ConnectReturnCode::Success
    );
    assert!(
        !has_device(&cloud, "fan").await,
        "nothing goes up while the link is down"
    );
    proxy.set_target(Some(cloud_addr));

    // Back up: `fan` is created in the cloud, in the site, with the home's secret.
    let fan = eventually("fan in the cloud", || async {
        cloud.store().device(&ids::device("fan")).await.ok()
    })
    .await;
    assert_eq!(fan.site.as_ref().map(|site| site.as_str()), Some(SITE));
    assert_eq!(
        connect_code(&cloud, "fan", &home_secrets["fan"]).await,
        ConnectReturnCode::Success
    );
    // `plug` is not: the cloud's stays as it was, and the conflict shows in the cloud...
    let site = SiteId::new(SITE).unwrap();
    eventually("the plug conflict in the cloud", || async {
        let conflicts = cloud.store().site_conflicts(&site).await.unwrap();
        conflicts.iter().any(|c| c.device == "plug").then_some(())
    })
    .await;
    let plug = cloud.store().device(&ids::device("plug")).await.unwrap();
    assert_eq!(plug.site, None);
    let cloud_api = Api::login(&cloud).await;
    let (code, _, body) = cloud_api
        .send("GET", &format!("/api/v1/sites/{SITE}"), None)
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["device"] == "plug"),
        "{body}"
    );
    // ...and at home (the bridge status and its API).
    wait_status(&home, "the plug conflict at home", |status| {
        status
            .mirror
            .as_ref()
            .is_some_and(|mirror| mirror.conflicts.iter().any(|c| c.device == "plug"))
    })
    .await;
    let home_api = Api::login(&home).await;
    let (code, _, body) = home_api.send("GET", "/api/v1/bridge", None).await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body["mirror"]["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["device"] == "plug"),
        "{body}"
    );
    // Once mirrored back, `fan` is the cloud's at home too.
    eventually("fan mirrored back", || async {
        let up = home.store().unmirrored_devices().await.unwrap();
        (!up.iter().any(|d| d.id == "fan")).then_some(())
    })
    .await;

    // The cloud stopped: the device and the person still log in at home.
    cloud.shutdown_keeping_data().await;
    wait_status(&home, "down", |status| !status.up).await;
    assert_eq!(
        connect_code(&home, "lamp", &secrets["lamp"]).await,
        ConnectReturnCode::Success
    );
    assert_eq!(
        connect_code(&home, "fan", &home_secrets["fan"]).await,
        ConnectReturnCode::Success
    );
    Api::login_as(&home, "carol", CAROL_PASSWORD).await;
    home.shutdown().await;
}
