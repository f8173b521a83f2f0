//! The registry mirror's topics as intruders try them (issue 20, docs/security.md):
//! `sites/{site}/registry/snapshot` carries a site's secret and password hashes, so only
//! that site's own link may subscribe to it; `.../registry/request` and
//! `.../registry/devices/{id}` only it may publish. Another site, a device, an
//! application and a person's browser are refused (exact reason codes, raw sockets); a
//! pushed device lands only in the pushing site, never in another group's application,
//! another site or over a device the cloud already has (rumqttc, as the link speaks).
//! SQLite and PostgreSQL.

mod acl_hub;

use acl_hub::*;
use hearth_model::{NewAuditEntry, SiteId};
use hearth_store::{MirrorDevice, MirrorSnapshot};
use hearth_testkit::client::eventually;
use hearth_testkit::{Backend, ids};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use serde_json::json;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);

/// Sites `home-1` (holding d1) and `home-2` (holding d2) in group `home`; d3 in none.
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
    for (device, site_id) in [("d1", "home-1"), ("d2", "home-2")] {
        registry
            .set_device_site("test", &ids::device(device), Some(&site(site_id)))
            .await
            .unwrap();
    }
    hub.authorizer()
        .refresh(hub.bus().as_ref())
        .await
        .expect("snapshot reloaded");
    (one, two)
}

fn site(id: &str) -> SiteId {
    SiteId::new(id).unwrap()
}

async fn only_the_site_itself_reads_and_writes_its_registry(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let (_, two) = with_sites(&hub).await;
    let others = [
        "sites/home-1/registry/snapshot",
        "sites/+/registry/snapshot",
        "sites/home-1/registry/#",
        "sites/#",
    ];
    let forged = [
        "sites/home-1/registry/request",
        "sites/home-1/registry/devices/evil",
    ];
    // Another site: its own mirror only.
    let mut subscribe = others.to_vec();
    subscribe.push("sites/home-2/registry/snapshot");
    let mut publish = forged.to_vec();
    publish.push("sites/home-2/registry/request");
    let result = hub
        .session(
            5,
            "site:home-2",
            Some(("home-2", &two)),
            &subscribe,
            &publish,
        )
        .await;
    assert_eq!(result["connack"], 0, "{result}");
    assert_eq!(
        codes(&result, "suback"),
        json!({
            "sites/home-1/registry/snapshot": NOT_AUTHORIZED,
            "sites/+/registry/snapshot": NOT_AUTHORIZED,
            "sites/home-1/registry/#": NOT_AUTHORIZED,
            "sites/#": NOT_AUTHORIZED,
            "sites/home-2/registry/snapshot": GRANTED_QOS1,
        })
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({
            "sites/home-1/registry/request": NOT_AUTHORIZED,
            "sites/home-1/registry/devices/evil": NOT_AUTHORIZED,
            "sites/home-2/registry/request": 0,
        })
    );
    // The hub administrator observing `#` got none of it: a registry mirror reaches only
    // its site's own subscription.
    let observed = result["observer_got"].as_array().unwrap();
    assert!(
        !observed
            .iter()
            .any(|topic| topic.as_str().unwrap().contains("/registry/")),
        "{result}"
    );
    // A device of the site, an application, a person's browser: nothing of it.
    let (key, secret) = hub.default_app.clone();
    add_person(&hub, "alice", Some(hearth_model::Role::Admin), None).await;
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    let (token, _) = hub.authorizer().issue_user_token("alice", "tab", 600_000);
    let logins = [
        (
            "d1".to_owned(),
            ("d1".to_owned(), hub.secret("d1").to_owned()),
        ),
        (key.clone(), (key, secret)),
        ("web:alice:tab".to_owned(), ("alice".to_owned(), token)),
    ];
    for (client_id, (user, password)) in logins {
        let result = hub
            .session(5, &client_id, Some((&user, &password)), &others, &forged)
            .await;
        assert_eq!(result["connack"], 0, "{client_id}: {result}");
        for filter in others {
            assert_eq!(
                result["suback"][filter], NOT_AUTHORIZED,
                "{client_id} {filter}: {result}"
            );
        }
        for topic in forged {
            assert_eq!(
                result["puback"][topic], NOT_AUTHORIZED,
                "{client_id} {topic}: {result}"
            );
        }
    }
    assert!(hub.store().device(&ids::device("evil")).await.is_err());
}

/// The link as the home hub runs it: `site:{id}`, a large maximum packet size.
async fn site_link(hub: &AclHub, id: &str, secret: &str) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(format!("site:{id}"), "127.0.0.1", hub.port());
    options
        .set_credentials(id, secret)
        .set_max_packet_size(Some(16 * 1024 * 1024));
    let (client, mut events) = AsyncClient::new(options, 16);
    next(&mut events, |packet| matches!(packet, Packet::ConnAck(_))).await;
    (client, events)
}

async fn next(events: &mut EventLoop, wanted: impl Fn(&Packet) -> bool) -> Packet {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(packet)) if wanted(&packet) => return packet,
                Ok(_) => {}
                Err(error) => panic!("the site's link: {error:?}"),
            }
        }
    })
    .await
    .expect("in time")
}

fn pushed(id: &str, app: &str) -> MirrorDevice {
    MirrorDevice {
        id: id.into(),
        app: app.into(),
        name: format!("home {id}"),
        kind: "sensor".into(),
        room: None,
        firmware: None,
        metadata: json!({}),
        enabled: true,
        heartbeat_timeout_secs: None,
        secret_hash: "forged-hash".into(),
        cert_sha256: None,
    }
}

async fn a_pushed_device_lands_only_in_its_own_site(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let (one, _) = with_sites(&hub).await;
    // Another group with an application of its own.
    let store = hub.store();
    store
        .create_group(
            &hearth_model::Group {
                id: ids::group("work"),
                name: "Work".into(),
                created_at_ms: 1,
            },
            &NewAuditEntry::new("test", "group.create", "work"),
        )
        .await
        .unwrap();
    hub.registry()
        .add_app("test", &ids::app("desk"), &ids::group("work"), None, None)
        .await
        .unwrap();
    let (client, mut events) = site_link(&hub, "home-1", &one).await;
    // Its snapshot: its own devices only.
    client
        .subscribe("sites/home-1/registry/snapshot", QoS::AtLeastOnce)
        .await
        .unwrap();
    next(&mut events, |packet| matches!(packet, Packet::SubAck(_))).await;
    client
        .publish(
            "sites/home-1/registry/request",
            QoS::AtMostOnce,
            false,
            "{}",
        )
        .await
        .unwrap();
    let Packet::Publish(publish) =
        next(&mut events, |packet| matches!(packet, Packet::Publish(_))).await
    else {
        unreachable!()
    };
    let snapshot: MirrorSnapshot = serde_json::from_slice(&publish.payload).unwrap();
    let devices: Vec<&str> = snapshot.devices.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(devices, ["d1"]);
    assert_eq!(snapshot.group.id, "home");
    // From here on the link's packets go out as the client polls.
    let polling = tokio::spawn(async move { while events.poll().await.is_ok() {} });

    let before = |id: &'static str| {
        let store = store.clone();
        async move {
            store
                .credentials()
                .await
                .unwrap()
                .devices
                .into_iter()
                .find(|d| d.id.as_str() == id)
        }
    };
    let d2 = before("d2").await.unwrap();
    let d3 = before("d3").await.unwrap();
    for device in [
        pushed("fresh", "default"),
        pushed("d2", "default"),
        pushed("d3", "other"),
        pushed("stray", "desk"),
    ] {
        client
            .publish(
                format!("sites/home-1/registry/devices/{}", device.id),
                QoS::AtLeastOnce,
                false,
                serde_json::to_vec(&device).unwrap(),
            )
            .await
            .unwrap();
    }
    // `fresh` is created in home-1; the others are conflicts, nothing of them changed.
    let fresh = eventually("fresh created", || async {
        store.device(&ids::device("fresh")).await.ok()
    })
    .await;
    assert_eq!(fresh.site, Some(site("home-1")));
    eventually("three conflicts", || async {
        let conflicts = store.site_conflicts(&site("home-1")).await.unwrap();
        (conflicts.len() == 3).then_some(())
    })
    .await;
    assert_eq!(before("d2").await.unwrap(), d2);
    assert_eq!(before("d3").await.unwrap(), d3);
    assert_eq!(
        store.device(&ids::device("d2")).await.unwrap().site,
        Some(site("home-2"))
    );
    assert_eq!(store.device(&ids::device("d3")).await.unwrap().site, None);
    assert!(store.device(&ids::device("stray")).await.is_err());
    assert!(
        store
            .site_conflicts(&site("home-2"))
            .await
            .unwrap()
            .is_empty()
    );
    polling.abort();
}

hearth_testkit::both_backends_hub!(
    only_the_site_itself_reads_and_writes_its_registry,
    a_pushed_device_lands_only_in_its_own_site,
);
