//! The cloud side of a site's link (issue 20, docs/sites.md) over real MQTT clients on
//! SQLite and PostgreSQL: a client logged in as site `home-1` publishes its device's
//! messages on `sites/home-1/devices/d1/...` with the home's receive time
//! (`hearth-received-at`); once its PUBACK arrives the device's history already holds
//! the message at that time (outside the ingest window: this hub's time, flagged
//! `ts_clamped`), and a live copy goes out on `devices/d1/...`. Another site, a device
//! and the site for a device not its own are refused and store nothing. A command for
//! the site's device goes to `sites/home-1/devices/d1/commands/{name}`, and the answer
//! the site relays makes it `acked` before its PUBACK.

mod acl_hub;

use acl_hub::*;
use hearth_model::{DeviceId, MessageKind, Millis, SiteId, StoredMessage, now_millis};
use hearth_store::{MessageQuery, PointQuery, TimeRange};
use hearth_testkit::{Backend, ids};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason, PublishProperties};
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use std::time::Duration;

const HOUR_MS: Millis = 3_600_000;
const ALL: TimeRange = TimeRange {
    from_ms: 0,
    to_ms: i64::MAX,
};

fn site(id: &str) -> SiteId {
    SiteId::new(id).unwrap()
}

/// Sites `home-1` (holding d1) and `home-2` (holding d2); returns their secrets.
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
    for (device, owner) in [("d1", "home-1"), ("d2", "home-2")] {
        registry
            .set_device_site("test", &ids::device(device), Some(&site(owner)))
            .await
            .unwrap();
    }
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    (one, two)
}

async fn client(
    hub: &AclHub,
    client_id: &str,
    user: &str,
    secret: &str,
) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", hub.port());
    options.set_credentials(user, secret);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    wait_for(&mut eventloop, |packet| {
        matches!(packet, Packet::ConnAck(_))
    })
    .await;
    (client, eventloop)
}

async fn wait_for(eventloop: &mut EventLoop, wanted: impl Fn(&Packet) -> bool) -> Packet {
    let wait = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(packet)) if wanted(&packet) => return packet,
                Ok(_) => {}
                Err(error) => panic!("connection failed: {error:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the packet came")
}

/// Publishes QoS 1 with the home time (if any) and returns the PUBACK's reason.
async fn relay(
    client: &AsyncClient,
    eventloop: &mut EventLoop,
    topic: &str,
    payload: &str,
    home_ms: Option<&str>,
) -> PubAckReason {
    let properties = PublishProperties {
        user_properties: home_ms
            .map(|at| vec![("hearth-received-at".to_owned(), at.to_owned())])
            .unwrap_or_default(),
        ..PublishProperties::default()
    };
    client
        .publish_with_properties(
            topic,
            QoS::AtLeastOnce,
            false,
            payload.to_owned(),
            properties,
        )
        .await
        .unwrap();
    match wait_for(eventloop, |packet| matches!(packet, Packet::PubAck(_))).await {
        Packet::PubAck(ack) => ack.reason,
        _ => unreachable!(),
    }
}

async fn history(hub: &AclHub, device: &str) -> Vec<StoredMessage> {
    hub.store()
        .messages(&MessageQuery {
            device: DeviceId::new(device).unwrap(),
            kind: None,
            range: ALL,
            limit: 1000,
        })
        .await
        .unwrap()
}

async fn a_sites_messages_are_stored_at_the_home_time(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let (secret, _) = with_sites(&hub).await;
    let (watcher, mut watching) = client(&hub, "watcher", "admin", ADMIN_PASSWORD).await;
    watcher
        .subscribe("devices/d1/data", QoS::AtLeastOnce)
        .await
        .unwrap();
    wait_for(&mut watching, |packet| matches!(packet, Packet::SubAck(_))).await;
    let (link, mut eventloop) = client(&hub, "site:home-1", "home-1", &secret).await;

    let hour_ago = now_millis() - HOUR_MS;
    let code = relay(
        &link,
        &mut eventloop,
        "sites/home-1/devices/d1/data",
        r#"{"temperature": 18.5}"#,
        Some(&hour_ago.to_string()),
    )
    .await;
    assert_eq!(code, PubAckReason::Success);
    // Acknowledged means stored: read at once, no waiting.
    let stored = history(&hub, "d1").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].kind, MessageKind::Data);
    assert_eq!(stored[0].received_at_ms, hour_ago);
    assert!(!stored[0].ts_clamped);
    let points = hub
        .store()
        .points(&PointQuery {
            device: DeviceId::new("d1").unwrap(),
            metric: "temperature".into(),
            range: ALL,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(points.len(), 1);
    assert_eq!((points[0].at_ms, points[0].value), (hour_ago, 18.5));
    // The live copy on the device's own topic.
    match wait_for(&mut watching, |packet| matches!(packet, Packet::Publish(_))).await {
        Packet::Publish(publish) => {
            assert_eq!(&publish.topic[..], b"devices/d1/data");
            assert_eq!(&publish.payload[..], br#"{"temperature": 18.5}"#);
        }
        _ => unreachable!(),
    }

    // Eight days old is outside the window: this hub's time, flagged.
    let before = now_millis();
    let eight_days = (before - 8 * 24 * HOUR_MS).to_string();
    let code = relay(
        &link,
        &mut eventloop,
        "sites/home-1/devices/d1/events",
        r#"{"door": "open"}"#,
        Some(&eight_days),
    )
    .await;
    assert_eq!(code, PubAckReason::Success);
    let unreadable = relay(
        &link,
        &mut eventloop,
        "sites/home-1/devices/d1/heartbeat",
        "",
        Some("soon"),
    )
    .await;
    assert_eq!(unreadable, PubAckReason::Success);
    // Without the property: this hub's time, not flagged.
    let code = relay(
        &link,
        &mut eventloop,
        "sites/home-1/devices/d1/status",
        "online",
        None,
    )
    .await;
    assert_eq!(code, PubAckReason::Success);
    let stored = history(&hub, "d1").await;
    assert_eq!(stored.len(), 4, "{stored:?}");
    let of = |kind| stored.iter().find(|message| message.kind == kind).unwrap();
    assert!(of(MessageKind::Event).ts_clamped);
    assert!(of(MessageKind::Event).received_at_ms >= before);
    assert!(of(MessageKind::Heartbeat).ts_clamped);
    assert!(!of(MessageKind::Status).ts_clamped);
    assert!(of(MessageKind::Status).received_at_ms >= before);
    assert_eq!(
        hub.store()
            .device(&ids::device("d1"))
            .await
            .unwrap()
            .live
            .device_status
            .as_deref(),
        Some("online")
    );
}

async fn nobody_else_files_a_sites_device_history(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let (_, two) = with_sites(&hub).await;
    let hour_ago = (now_millis() - HOUR_MS).to_string();
    // Another site, in its own namespace and in home-1's.
    let (other, mut eventloop) = client(&hub, "site:home-2", "home-2", &two).await;
    for topic in [
        "sites/home-2/devices/d1/data",
        "sites/home-1/devices/d1/data",
    ] {
        let code = relay(
            &other,
            &mut eventloop,
            topic,
            r#"{"temperature": 99}"#,
            Some(&hour_ago),
        )
        .await;
        assert_eq!(code, PubAckReason::NotAuthorized, "{topic}");
    }
    // The site for a device of no site.
    let code = relay(
        &other,
        &mut eventloop,
        "sites/home-2/devices/d3/data",
        r#"{"t": 1}"#,
        None,
    )
    .await;
    assert_eq!(code, PubAckReason::NotAuthorized);
    // A device, for itself through a site's namespace.
    let (device, mut eventloop) = client(&hub, "d1", "d1", hub.secret("d1")).await;
    let code = relay(
        &device,
        &mut eventloop,
        "sites/home-1/devices/d1/data",
        r#"{"t": 1}"#,
        Some(&hour_ago),
    )
    .await;
    assert_eq!(code, PubAckReason::NotAuthorized);
    // Its own topic still works, at this hub's time whatever property it sends.
    let code = relay(
        &device,
        &mut eventloop,
        "devices/d1/data",
        r#"{"t": 2}"#,
        Some(&hour_ago),
    )
    .await;
    assert_eq!(code, PubAckReason::Success);
    let stored = history(&hub, "d1").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(stored[0].received_at_ms > now_millis() - HOUR_MS / 2);
    assert!(history(&hub, "d3").await.is_empty());
}

async fn commands_for_a_sites_device_go_through_the_site(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let (secret, two) = with_sites(&hub).await;
    let (link, mut eventloop) = client(&hub, "site:home-1", "home-1", &secret).await;
    link.subscribe("sites/home-1/devices/+/commands/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    wait_for(&mut eventloop, |packet| matches!(packet, Packet::SubAck(_))).await;
    // The device is online at home: the site says so.
    let code = relay(
        &link,
        &mut eventloop,
        "sites/home-1/devices/d1/status",
        "online",
        None,
    )
    .await;
    assert_eq!(code, PubAckReason::Success);
    let command = hub
        .commands()
        .send(
            "test",
            &ids::device("d1"),
            "relay",
            serde_json::json!({"on": true}),
            None,
        )
        .await
        .unwrap();
    let delivered = wait_for(&mut eventloop, |packet| {
        matches!(packet, Packet::Publish(_))
    })
    .await;
    let Packet::Publish(publish) = delivered else {
        unreachable!()
    };
    assert_eq!(
        &publish.topic[..],
        b"sites/home-1/devices/d1/commands/relay"
    );
    let params: serde_json::Value = serde_json::from_slice(&publish.payload).unwrap();
    assert_eq!(params["on"], true);
    assert_eq!(params["id"], command.id.as_str());
    let response = publish
        .properties
        .as_ref()
        .and_then(|p| p.response_topic.clone());
    assert_eq!(
        response.as_deref(),
        Some("sites/home-1/devices/d1/commands/relay/ack")
    );

    // Another site cannot answer for it.
    let (other, mut other_loop) = client(&hub, "site:home-2", "home-2", &two).await;
    let answer = format!(r#"{{"id": "{}", "ok": false}}"#, command.id);
    let code = relay(
        &other,
        &mut other_loop,
        "sites/home-1/devices/d1/commands/relay/ack",
        &answer,
        None,
    )
    .await;
    assert_eq!(code, PubAckReason::NotAuthorized);

    let answer = format!(
        r#"{{"id": "{}", "ok": true, "state": {{"on": true}}}}"#,
        command.id
    );
    let code = relay(
        &link,
        &mut eventloop,
        "sites/home-1/devices/d1/commands/relay/ack",
        &answer,
        None,
    )
    .await;
    assert_eq!(code, PubAckReason::Success);
    // Acknowledged means stored: the command is acked already.
    let stored = hub.commands().get(&command.id).await.unwrap();
    assert_eq!(
        stored.status,
        hearth_model::CommandStatus::Acked,
        "{stored:?}"
    );
    assert_eq!(stored.reported_state, Some(serde_json::json!({"on": true})));
}

hearth_testkit::both_backends_hub!(
    a_sites_messages_are_stored_at_the_home_time,
    nobody_else_files_a_sites_device_history,
    commands_for_a_sites_device_go_through_the_site,
);
