//! Sites' MQTT logins and ACL (issue 20, docs/sites.md), as real clients see them: a
//! site (user name = its id, client id `site:{id}`, its secret) publishes only its own
//! devices' reports and answers under `sites/{site}/devices/`, subscribes only to its
//! own devices' commands; devices, applications and other sites are refused there;
//! wrong client ids, secrets and disabled sites are refused at CONNECT; removing,
//! disabling or rotating a site cuts its live link. Raw-socket sessions (exact reason
//! codes, an administrator observing `#`) and rumqttc; SQLite and PostgreSQL.

mod acl_hub;

use acl_hub::*;
use hearth_model::SiteId;
use hearth_testkit::{Backend, ids};
use serde_json::json;
use std::time::Duration;

/// Sites `home-1` (holding d1) and `home-2` (holding d2) in group `home`; d3 in none.
/// Returns their secrets.
async fn with_sites(hub: &AclHub) -> (String, String) {
    let registry = hub.registry();
    let (_, one) = registry
        .add_site("test", &site("home-1"), &ids::group("home"), None)
        .await
        .unwrap();
    let (_, two) = registry
        .add_site("test", &site("home-2"), &ids::group("home"), None)
        .await
        .unwrap();
    registry
        .set_device_site("test", &ids::device("d1"), Some(&site("home-1")))
        .await
        .unwrap();
    registry
        .set_device_site("test", &ids::device("d2"), Some(&site("home-2")))
        .await
        .unwrap();
    hub.authorizer()
        .refresh(hub.bus().as_ref())
        .await
        .expect("snapshot reloaded");
    (one, two)
}

fn site(id: &str) -> SiteId {
    SiteId::new(id).unwrap()
}

async fn a_site_speaks_only_for_its_own_devices(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let (secret, _) = with_sites(&hub).await;
    let result = hub
        .session(
            5,
            "site:home-1",
            Some(("home-1", &secret)),
            &[
                "sites/home-1/devices/+/commands/#",
                "sites/home-1/devices/d1/commands/relay",
                "sites/home-2/devices/+/commands/#",
                "sites/+/devices/+/commands/#",
                "sites/#",
                "sites/home-1/devices/+/data",
                "devices/+/commands/#",
                "#",
                "$SYS/#",
            ],
            &[
                "sites/home-1/devices/d1/data",
                "sites/home-1/devices/d1/status",
                "sites/home-1/devices/d1/commands/relay/ack",
                // Another site's device, a device of no site, through another site.
                "sites/home-1/devices/d2/data",
                "sites/home-1/devices/d3/data",
                "sites/home-2/devices/d2/data",
                "sites/home-2/devices/d1/data",
                // The hub's words and the plain device namespace.
                "sites/home-1/devices/d1/commands/relay",
                "sites/home-1/devices/d1/command-status",
                "devices/d1/data",
                "hearth/alerts/home",
            ],
        )
        .await;
    assert_eq!(result["connack"], 0, "{result}");
    assert_eq!(
        codes(&result, "suback"),
        json!({
            "sites/home-1/devices/+/commands/#": GRANTED_QOS1,
            "sites/home-1/devices/d1/commands/relay": GRANTED_QOS1,
            "sites/home-2/devices/+/commands/#": NOT_AUTHORIZED,
            "sites/+/devices/+/commands/#": NOT_AUTHORIZED,
            "sites/#": NOT_AUTHORIZED,
            "sites/home-1/devices/+/data": NOT_AUTHORIZED,
            "devices/+/commands/#": NOT_AUTHORIZED,
            "#": NOT_AUTHORIZED,
            "$SYS/#": NOT_AUTHORIZED,
        })
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({
            "sites/home-1/devices/d1/data": 0,
            "sites/home-1/devices/d1/status": 0,
            "sites/home-1/devices/d1/commands/relay/ack": 0,
            "sites/home-1/devices/d2/data": NOT_AUTHORIZED,
            "sites/home-1/devices/d3/data": NOT_AUTHORIZED,
            "sites/home-2/devices/d2/data": NOT_AUTHORIZED,
            "sites/home-2/devices/d1/data": NOT_AUTHORIZED,
            "sites/home-1/devices/d1/commands/relay": NOT_AUTHORIZED,
            "sites/home-1/devices/d1/command-status": NOT_AUTHORIZED,
            "devices/d1/data": NOT_AUTHORIZED,
            "hearth/alerts/home": NOT_AUTHORIZED,
        })
    );
    // What the site may say, in order; and the cloud's live copies of the device's
    // readings (the sites relay republishes them on devices/{id}/... once stored), only
    // of what was allowed.
    let got: Vec<&str> = result["observer_got"]
        .as_array()
        .unwrap()
        .iter()
        .map(|topic| topic.as_str().unwrap())
        .collect();
    let (from_site, live): (Vec<&str>, Vec<&str>) =
        got.iter().partition(|topic| topic.starts_with("sites/"));
    assert_eq!(
        from_site,
        [
            "sites/home-1/devices/d1/data",
            "sites/home-1/devices/d1/status",
            "sites/home-1/devices/d1/commands/relay/ack"
        ],
        "{result}"
    );
    let mut live = live;
    live.sort_unstable();
    assert_eq!(live, ["devices/d1/data", "devices/d1/status"], "{result}");

    // A device moved out of the site is no longer the site's to speak for.
    hub.registry()
        .set_device_site("test", &ids::device("d1"), None)
        .await
        .unwrap();
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    let result = hub
        .session(
            5,
            "site:home-1",
            Some(("home-1", &secret)),
            &[],
            &["sites/home-1/devices/d1/data"],
        )
        .await;
    assert_eq!(
        codes(&result, "puback"),
        json!({"sites/home-1/devices/d1/data": NOT_AUTHORIZED})
    );
}

async fn devices_and_applications_stay_out_of_sites(backend: Backend) {
    let hub = AclHub::start(backend).await;
    with_sites(&hub).await;
    // d1 belongs to home-1, but speaks only as itself, never under `sites/`.
    let result = hub
        .session(
            5,
            "d1",
            Some(("d1", hub.secret("d1"))),
            &["sites/home-1/devices/+/commands/#", "sites/#"],
            &[
                "sites/home-1/devices/d1/data",
                "sites/home-1/devices/d1/commands/relay/ack",
            ],
        )
        .await;
    assert_eq!(result["connack"], 0, "{result}");
    assert_eq!(
        codes(&result, "suback"),
        json!({
            "sites/home-1/devices/+/commands/#": NOT_AUTHORIZED,
            "sites/#": NOT_AUTHORIZED,
        })
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({
            "sites/home-1/devices/d1/data": NOT_AUTHORIZED,
            "sites/home-1/devices/d1/commands/relay/ack": NOT_AUTHORIZED,
        })
    );
    // The application holding d1 commands it on `devices/`, never under `sites/`.
    let (key, secret) = &hub.default_app;
    let result = hub
        .session(
            5,
            key,
            Some((key, secret)),
            &["sites/home-1/devices/+/commands/#", "sites/#"],
            &[
                "sites/home-1/devices/d1/commands/relay",
                "sites/home-1/devices/d1/data",
            ],
        )
        .await;
    assert_eq!(result["connack"], 0, "{result}");
    assert_eq!(
        codes(&result, "suback"),
        json!({
            "sites/home-1/devices/+/commands/#": NOT_AUTHORIZED,
            "sites/#": NOT_AUTHORIZED,
        })
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({
            "sites/home-1/devices/d1/commands/relay": NOT_AUTHORIZED,
            "sites/home-1/devices/d1/data": NOT_AUTHORIZED,
        })
    );
    assert_eq!(result["observer_got"], json!([]));
}

async fn site_logins_are_bound_to_their_client_id_and_secret(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let (one, two) = with_sites(&hub).await;
    let connack = async |client_id: &str, username: &str, password: &str| {
        hub.session(5, client_id, Some((username, password)), &[], &[])
            .await["connack"]
            .clone()
    };
    assert_eq!(connack("site:home-1", "home-1", &one).await, 0);
    // Another site's client id, a plain client id, another site's secret.
    assert_eq!(connack("site:home-2", "home-1", &one).await, NOT_AUTHORIZED);
    assert_eq!(connack("home-1", "home-1", &one).await, 0x86);
    assert_eq!(connack("site:home-1", "home-1", &two).await, 0x86);
    // A device or application may not take a site's client id (its link's session): a
    // device connects only with its own id (0x87), an application gets 0x85.
    assert_eq!(
        connack("site:home-1", "d1", hub.secret("d1")).await,
        NOT_AUTHORIZED
    );
    let (key, secret) = &hub.default_app;
    assert_eq!(connack("site:home-1", key, secret).await, 0x85);
    // Disabled: refused even with the right secret.
    hub.registry()
        .set_site_enabled("test", &site("home-2"), false)
        .await
        .unwrap();
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    assert_eq!(connack("site:home-2", "home-2", &two).await, NOT_AUTHORIZED);
}

/// A v5 client logged in as a site; returns once its CONNACK arrived.
async fn connected_site(
    hub: &AclHub,
    id: &str,
    secret: &str,
) -> (rumqttc::v5::AsyncClient, rumqttc::v5::EventLoop) {
    let mut options = rumqttc::v5::MqttOptions::new(format!("site:{id}"), "127.0.0.1", hub.port());
    options.set_credentials(id, secret);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 16);
    loop {
        match eventloop.poll().await {
            Ok(rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::ConnAck(ack))) => {
                assert_eq!(
                    ack.code,
                    rumqttc::v5::mqttbytes::v5::ConnectReturnCode::Success
                );
                return (client, eventloop);
            }
            Ok(_) => {}
            Err(error) => panic!("site {id} could not connect: {error:?}"),
        }
    }
}

async fn revoking_a_site_cuts_its_link(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let (one, two) = with_sites(&hub).await;
    // Rotating: cut, the old secret refused, the new one works.
    let (_client, mut eventloop) = connected_site(&hub, "home-1", &one).await;
    let new_secret = hub
        .registry()
        .rotate_site_secret("test", &site("home-1"))
        .await
        .unwrap();
    wait_until_kicked(&hub, &mut eventloop, 1).await;
    let old = hub
        .session(5, "site:home-1", Some(("home-1", &one)), &[], &[])
        .await;
    assert_eq!(old["connack"], 0x86, "{old}");
    // Disabling.
    let (_client, mut eventloop) = connected_site(&hub, "home-1", &new_secret).await;
    hub.registry()
        .set_site_enabled("test", &site("home-1"), false)
        .await
        .unwrap();
    wait_until_kicked(&hub, &mut eventloop, 2).await;
    // Removing; its device stays, in no site.
    let (_client, mut eventloop) = connected_site(&hub, "home-2", &two).await;
    hub.registry()
        .remove_site("test", &site("home-2"))
        .await
        .unwrap();
    wait_until_kicked(&hub, &mut eventloop, 3).await;
    let gone = hub
        .session(5, "site:home-2", Some(("home-2", &two)), &[], &[])
        .await;
    assert_eq!(gone["connack"], 0x86, "{gone}");
    assert_eq!(
        hub.store().device(&ids::device("d2")).await.unwrap().site,
        None
    );
    // The link's last connection was recorded.
    let seen = hub
        .store()
        .site(&site("home-1"))
        .await
        .unwrap()
        .last_seen_ms;
    assert!(seen.is_some(), "{seen:?}");
}

hearth_testkit::both_backends_hub!(
    a_site_speaks_only_for_its_own_devices,
    devices_and_applications_stay_out_of_sites,
    site_logins_are_bound_to_their_client_id_and_secret,
    revoking_a_site_cuts_its_link,
);
