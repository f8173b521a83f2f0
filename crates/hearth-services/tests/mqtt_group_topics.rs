//! The hub's group topics: `hearth/notifications/{group}` (the automations' notify
//! action), `hearth/confirmations/{group}` (the confirmation gate's requests; issue 14)
//! and `hearth/alerts/{group}` (alerts raised, acknowledged and cleared; issue 15). A
//! person's browser reads those of the groups they are a member of, and no
//! other group's, not through a wildcard either; leaving a group stops its messages
//! from the next one on; nobody but the hub itself publishes there (a browser, device
//! or application that could would fake a confirmation request, a notification or an
//! alert).
//! Every test runs on SQLite and PostgreSQL.

mod acl_hub;

use acl_hub::*;
use hearth_bus::{Envelope, Qos};
use hearth_model::Role;
use hearth_testkit::{Backend, ids};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;

hearth_testkit::both_backends_hub!(
    browsers_subscribe_only_to_their_groups_topics,
    browsers_receive_only_their_groups_messages,
    leaving_a_group_stops_its_messages_from_the_next_one,
    only_the_hub_publishes_on_group_topics,
);

/// How long a client waits for a packet it expects.
const WAIT: Duration = Duration::from_secs(10);

/// People: alice (member of `home`), vera (viewer of `home`), carol (owner of `attic`, a
/// group without devices, and in no other group).
async fn add_people(hub: &AclHub) {
    add_person(hub, "alice", Some(Role::Member), None).await;
    add_person(hub, "vera", Some(Role::Viewer), None).await;
    add_person(hub, "carol", None, None).await;
    hub.registry()
        .add_group(
            "test",
            &ids::group("attic"),
            None,
            Some(&ids::user("carol")),
        )
        .await
        .unwrap();
    caught_up(hub).await;
}

/// Waits until the authorizer's snapshot includes everything registered so far.
async fn caught_up(hub: &AclHub) {
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
}

/// A browser's MQTT password: a token of the authorizer, as the API issues it.
fn token(hub: &AclHub, user: &str) -> String {
    hub.authorizer()
        .issue_user_token(user, &format!("session-{user}"), 600_000)
        .0
}

/// What the hub publishes, as the engine does: through the bus, as its service.
async fn hub_says(hub: &AclHub, topic: &str, payload: &str) {
    hub.bus()
        .publish(Envelope::new(topic.to_owned(), payload.to_owned()).with_qos(Qos::AtLeastOnce))
        .await
        .unwrap();
}

/// A v5 browser whose event loop runs in a task and forwards what it receives.
struct Browser {
    client: AsyncClient,
    received: mpsc::UnboundedReceiver<Packet>,
}

impl Browser {
    async fn connect(hub: &AclHub, user: &str) -> Browser {
        let mut options = MqttOptions::new(format!("web:{user}:tab"), "127.0.0.1", hub.port());
        options.set_credentials(user, token(hub, user));
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let (sender, received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(packet)) => {
                        if sender.send(packet).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Outgoing(_)) => {}
                    Err(_) => return,
                }
            }
        });
        let mut browser = Browser { client, received };
        match browser.next_packet().await {
            Packet::ConnAck(_) => {}
            other => panic!("{user}: expected CONNACK, got {other:?}"),
        }
        browser
    }

    async fn next_packet(&mut self) -> Packet {
        tokio::time::timeout(WAIT, self.received.recv())
            .await
            .expect("a packet within the wait")
            .expect("the connection is open")
    }

    /// Subscribes to one filter at QoS 1; whether it was granted.
    async fn subscribe(&mut self, filter: &str) -> bool {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        loop {
            match self.next_packet().await {
                Packet::SubAck(ack) => {
                    return match ack.return_codes[0] {
                        SubscribeReasonCode::Success(_) => true,
                        SubscribeReasonCode::NotAuthorized => false,
                        other => panic!("{filter}: unexpected SUBACK {other:?}"),
                    };
                }
                Packet::Publish(publish) => panic!("a publish before the SUBACK: {publish:?}"),
                _ => {}
            }
        }
    }

    /// Messages received until (and with) one whose payload is `last`, as
    /// `topic payload` lines.
    async fn messages_until(&mut self, last: &str) -> Vec<String> {
        let mut messages = Vec::new();
        loop {
            if let Packet::Publish(publish) = self.next_packet().await {
                let payload = String::from_utf8_lossy(&publish.payload).into_owned();
                messages.push(format!(
                    "{} {payload}",
                    String::from_utf8_lossy(&publish.topic)
                ));
                if payload == last {
                    return messages;
                }
            }
        }
    }
}

/// SUBACKs of real browsers: the groups' topics of one's own groups (any role) are
/// granted; another group's, wildcards over groups or over the hub's topics, and a
/// shared subscription to another group's are refused (0x87).
async fn browsers_subscribe_only_to_their_groups_topics(backend: Backend) {
    let hub = AclHub::start(backend).await;
    add_people(&hub).await;
    let filters = [
        "hearth/notifications/home",
        "hearth/confirmations/home",
        "$share/tabs/hearth/confirmations/home",
        "hearth/alerts/home",
        "$share/tabs/hearth/alerts/home",
        "hearth/notifications/attic",
        "hearth/confirmations/attic",
        "$share/tabs/hearth/confirmations/attic",
        "hearth/alerts/attic",
        "$share/tabs/hearth/alerts/attic",
        "hearth/rollouts/home",
        "hearth/rollouts/attic",
        "hearth/rollouts/+",
        "hearth/rollouts/home/#",
        "hearth/confirmations/+",
        "hearth/alerts/+",
        "hearth/alerts/#",
        "hearth/alerts/home/#",
        "+/alerts/home",
        "hearth/notifications/#",
        "hearth/+/home",
        "hearth/+/attic",
        "+/confirmations/attic",
        "hearth/#",
        "#",
    ];
    let granted_for = |groups: &[&str]| {
        let mut codes = serde_json::Map::new();
        for filter in filters {
            let granted = groups.iter().any(|group| {
                filter.ends_with(&format!("hearth/notifications/{group}"))
                    || filter.ends_with(&format!("hearth/confirmations/{group}"))
                    || filter.ends_with(&format!("hearth/alerts/{group}"))
                    || filter.ends_with(&format!("hearth/rollouts/{group}"))
            });
            let code = if granted {
                GRANTED_QOS1
            } else {
                NOT_AUTHORIZED
            };
            codes.insert(filter.to_owned(), json!(code));
        }
        serde_json::Value::Object(codes)
    };
    for (user, groups) in [
        ("alice", &["home"][..]),
        ("vera", &["home"][..]),
        ("carol", &["attic"][..]),
    ] {
        let result = hub
            .session(
                5,
                &format!("web:{user}:tab"),
                Some((user, &token(&hub, user))),
                &filters,
                &[],
            )
            .await;
        assert_eq!(result["connack"], 0, "{user}: {result}");
        assert_eq!(
            codes(&result, "suback"),
            granted_for(groups),
            "{user} in {groups:?}"
        );
    }
}

/// What the hub publishes on the group topics reaches the group's browsers only: a
/// member subscribed to her group's topics (and refused the rest) receives her group's
/// messages and none of another group's; that group's owner receives theirs.
async fn browsers_receive_only_their_groups_messages(backend: Backend) {
    let hub = AclHub::start(backend).await;
    add_people(&hub).await;
    let mut alice = Browser::connect(&hub, "alice").await;
    for filter in [
        "hearth/notifications/home",
        "hearth/confirmations/home",
        "hearth/alerts/home",
    ] {
        assert!(alice.subscribe(filter).await, "alice: {filter}");
    }
    for filter in [
        "hearth/confirmations/attic",
        "hearth/notifications/attic",
        "hearth/alerts/attic",
        "hearth/alerts/+",
        "hearth/confirmations/+",
        "hearth/#",
    ] {
        assert!(!alice.subscribe(filter).await, "alice: {filter}");
    }
    let mut carol = Browser::connect(&hub, "carol").await;
    assert!(carol.subscribe("hearth/confirmations/attic").await);
    assert!(carol.subscribe("hearth/alerts/attic").await);
    assert!(!carol.subscribe("hearth/confirmations/home").await);
    assert!(!carol.subscribe("hearth/alerts/home").await);

    hub_says(&hub, "hearth/confirmations/attic", "attic-request").await;
    hub_says(&hub, "hearth/notifications/attic", "attic-note").await;
    hub_says(&hub, "hearth/alerts/attic", "attic-alert").await;
    hub_says(&hub, "hearth/confirmations/home", "home-request").await;
    hub_says(&hub, "hearth/alerts/home", "home-alert").await;
    hub_says(&hub, "hearth/notifications/home", "home-note").await;
    hub_says(&hub, "hearth/confirmations/attic", "attic-last").await;
    assert_eq!(
        alice.messages_until("home-note").await,
        [
            "hearth/confirmations/home home-request",
            "hearth/alerts/home home-alert",
            "hearth/notifications/home home-note",
        ]
    );
    assert_eq!(
        carol.messages_until("attic-last").await,
        [
            "hearth/confirmations/attic attic-request",
            "hearth/alerts/attic attic-alert",
            "hearth/confirmations/attic attic-last",
        ]
    );
}

/// Dave is a viewer of `home` and a member of `attic` (which has no devices, so that
/// leaving it takes no device from him and his connection stays: the per-delivery
/// check alone must stop the messages). After he leaves `attic`, the subscription he
/// made as a member delivers nothing more, while `home`'s still flows on the same
/// connection; a new subscription to `attic`'s topic is refused.
async fn leaving_a_group_stops_its_messages_from_the_next_one(backend: Backend) {
    let hub = AclHub::start(backend).await;
    add_people(&hub).await;
    add_person(&hub, "dave", Some(Role::Viewer), None).await;
    hub.registry()
        .set_member(
            "test",
            &ids::group("attic"),
            &ids::user("dave"),
            Role::Member,
        )
        .await
        .unwrap();
    caught_up(&hub).await;
    let mut dave = Browser::connect(&hub, "dave").await;
    assert!(dave.subscribe("hearth/confirmations/attic").await);
    assert!(dave.subscribe("hearth/alerts/attic").await);
    assert!(dave.subscribe("hearth/notifications/home").await);
    hub_says(&hub, "hearth/confirmations/attic", "while-member").await;
    hub_says(&hub, "hearth/alerts/attic", "alert-while-member").await;
    hub_says(&hub, "hearth/notifications/home", "mark-1").await;
    assert_eq!(
        dave.messages_until("mark-1").await,
        [
            "hearth/confirmations/attic while-member",
            "hearth/alerts/attic alert-while-member",
            "hearth/notifications/home mark-1",
        ]
    );

    hub.registry()
        .remove_member("test", &ids::group("attic"), &ids::user("dave"))
        .await
        .unwrap();
    caught_up(&hub).await;
    hub_says(&hub, "hearth/confirmations/attic", "after-leaving").await;
    hub_says(&hub, "hearth/alerts/attic", "alert-after-leaving").await;
    hub_says(&hub, "hearth/notifications/home", "mark-2").await;
    assert_eq!(
        dave.messages_until("mark-2").await,
        ["hearth/notifications/home mark-2"]
    );
    for filter in ["hearth/confirmations/attic", "hearth/alerts/attic"] {
        assert!(
            !dave.subscribe(filter).await,
            "no longer a member: {filter}"
        );
    }
}

/// Nobody publishes on the group topics but the hub: a member's browser on her own
/// group's topics, a group owner's browser on his, a device and an application of the
/// group are all refused (PUBACK 0x87), and an observer on `#` receives none of it.
/// Devices and applications do not read them either (they name people).
async fn only_the_hub_publishes_on_group_topics(backend: Backend) {
    let hub = AclHub::start(backend).await;
    add_people(&hub).await;
    add_person(
        &hub,
        "olga",
        Some(Role::Owner),
        Some(hearth_model::Permission::Manage),
    )
    .await;
    caught_up(&hub).await;
    let topics = [
        "hearth/confirmations/home",
        "hearth/notifications/home",
        "hearth/alerts/home",
        "hearth/confirmations/attic",
    ];
    let (key, secret) = hub.default_app.clone();
    // (who, client id, user name, password, may they read `home`'s requests)
    let cases = [
        (
            "alice's browser",
            "web:alice:tab".to_owned(),
            "alice".to_owned(),
            token(&hub, "alice"),
            true,
        ),
        (
            "olga's browser (owner)",
            "web:olga:tab".to_owned(),
            "olga".to_owned(),
            token(&hub, "olga"),
            true,
        ),
        (
            "carol's browser (owner of attic)",
            "web:carol:tab".to_owned(),
            "carol".to_owned(),
            token(&hub, "carol"),
            false,
        ),
        (
            "device d1",
            "d1".to_owned(),
            "d1".to_owned(),
            hub.secret("d1").to_owned(),
            false,
        ),
        ("application default", key.clone(), key, secret, false),
    ];
    for (who, client_id, username, password, reads) in cases {
        let result = hub
            .session(
                5,
                &client_id,
                Some((&username, &password)),
                &["hearth/confirmations/home", "hearth/alerts/home"],
                &topics,
            )
            .await;
        assert_eq!(result["connack"], 0, "{who}: {result}");
        let read = if reads { GRANTED_QOS1 } else { NOT_AUTHORIZED };
        assert_eq!(
            codes(&result, "suback"),
            json!({"hearth/confirmations/home": read, "hearth/alerts/home": read}),
            "{who}"
        );
        assert_eq!(
            codes(&result, "puback"),
            json!({
                "hearth/confirmations/home": NOT_AUTHORIZED,
                "hearth/notifications/home": NOT_AUTHORIZED,
                "hearth/alerts/home": NOT_AUTHORIZED,
                "hearth/confirmations/attic": NOT_AUTHORIZED,
            }),
            "{who}"
        );
        assert_eq!(result["observer_got"], json!([]), "{who}: {result}");
    }
    // 3.1.1 has no reason code in a PUBACK: the message must simply go nowhere.
    let result = hub
        .session(
            4,
            "web:alice:old",
            Some(("alice", &token(&hub, "alice"))),
            &[],
            &topics,
        )
        .await;
    assert_eq!(result["observer_got"], json!([]), "3.1.1: {result}");
}
