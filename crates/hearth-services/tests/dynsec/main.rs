//! Hearth keeping Debian's Mosquitto 2 (`mosquitto_dynamic_security.so`) in step with
//! the registry (issue 21), against the real broker started by each test: devices log
//! in with their broker passwords and may publish only their own topics; an
//! application reads and commands only its devices; removing, disabling or rotating
//! kicks and refuses; a restarted sync corrects what changed while it was away; with
//! several nodes only the coordinator writes (standby.rs).
//! Every client is a real MQTT 5 client (rumqttc).

mod harness;
mod standby;

use harness::*;
use hearth_testkit::ids;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, LastWill, SubscribeReasonCode};

fn granted(code: SubscribeReasonCode) -> bool {
    matches!(code, SubscribeReasonCode::Success(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_logs_in_with_its_broker_password_and_publishes_only_its_own_topics() {
    let hub = Hub::start().await;
    let sync = hub.sync().await;
    let port = hub.mosquitto.port;
    let password = hub.device_password("d1").await;

    // Wrong password, another device's client id, another device's name: refused.
    let code = Client::connect(port, "d1", "d1", "not-the-password")
        .await
        .refused("a wrong password");
    assert_eq!(code, ConnectReturnCode::NotAuthorized);
    Client::connect(port, "d2", "d1", &password)
        .await
        .refused("d1 under d2's client id");
    Client::connect(port, "d2", "d2", &password)
        .await
        .refused("d1's password for d2");

    let mut watcher = observer(port, "watcher").await;
    assert!(granted(watcher.subscribe("devices/#").await));
    let mut d1 = Client::connect(port, "d1", "d1", &password)
        .await
        .accepted("d1 with its broker password");
    for (topic, allowed) in [
        ("devices/d1/data", true),
        ("devices/d1/status", true),
        ("devices/d1/commands/relay/ack", true),
        ("devices/d1/commands/light/set/ack", true),
        ("devices/d2/data", false),
        ("devices/d10/data", false),
        ("devices/d1", false),
        ("devices/d1/commands/relay", false),
        ("devices/d1/commands/light/set", false),
        ("devices/d1/command-status", false),
        ("other/d1/data", false),
    ] {
        assert_eq!(d1.publish(topic, "{}", false).await, allowed, "{topic}");
    }
    // Only what was allowed reached anyone.
    assert!(d1.publish("devices/d1/events", "end", false).await);
    assert_eq!(
        watcher.topics_until("devices/d1/events").await,
        [
            "devices/d1/data",
            "devices/d1/status",
            "devices/d1/commands/relay/ack",
            "devices/d1/commands/light/set/ack",
        ]
    );
    // Subscriptions: its own commands only.
    assert!(granted(d1.subscribe("devices/d1/commands/#").await));
    assert!(granted(d1.subscribe("devices/d1/commands/relay").await));
    for filter in [
        "devices/d2/commands/#",
        "devices/+/commands/#",
        "devices/d1/#",
        "devices/d1/data",
        "#",
    ] {
        assert!(!granted(d1.subscribe(filter).await), "{filter}");
    }
    sync.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_cannot_plant_retained_messages_or_wills_on_another_devices_topics() {
    let hub = Hub::start().await;
    let sync = hub.sync().await;
    let port = hub.mosquitto.port;
    let password = hub.device_password("d1").await;
    let mut watcher = observer(port, "watcher").await;
    assert!(granted(watcher.subscribe("devices/#").await));

    // A will on its own status goes out (so that the absence of the next one means
    // something); a will on d2's does not: the broker refuses the login or drops it.
    for (topic, payload) in [
        ("devices/d1/status", "own"),
        ("devices/d2/status", "forged"),
    ] {
        let will = LastWill::new(topic, payload, QoS::AtLeastOnce, false, None);
        if let Login::Accepted(client) =
            Client::connect_with(port, "d1", "d1", &password, Some(will)).await
        {
            // Dropped without DISCONNECT: the will is due now (at the latest when the
            // next connection with this client id takes the session over).
            drop(client);
        }
    }
    let mut d1 = Client::connect(port, "d1", "d1", &password)
        .await
        .accepted("d1");
    assert!(d1.publish("devices/d1/events", "end", false).await);
    assert_eq!(
        watcher.topics_until("devices/d1/events").await,
        ["devices/d1/status"]
    );

    // Retained: its own is kept, another device's refused and never stored.
    assert!(!d1.publish("devices/d2/status", "online", true).await);
    assert!(d1.publish("devices/d1/status", "online", true).await);
    let mut late = observer(port, "late").await;
    assert!(granted(late.subscribe("devices/#").await));
    assert!(d1.publish("devices/d1/events", "end", false).await);
    let topics = late.topics_until("devices/d1/events").await;
    assert_eq!(topics, ["devices/d1/status"]);
    sync.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_reads_and_commands_only_the_devices_it_holds() {
    let hub = Hub::start().await;
    let sync = hub.sync().await;
    let port = hub.mosquitto.port;
    let (key, password) = hub.app_login("default").await;
    let mut app = Client::connect(port, &key, &key, &password)
        .await
        .accepted("the application");
    // Another application's password, and another client id: refused.
    let (other_key, other_password) = hub.app_login("other").await;
    Client::connect(port, &key, &key, &other_password)
        .await
        .refused("another application's password");
    Client::connect(port, "d1", &other_key, &other_password)
        .await
        .refused("an application under a device's client id");

    assert!(granted(app.subscribe("devices/+/data").await));
    assert!(granted(app.subscribe("devices/d1/events").await));
    assert!(!granted(app.subscribe("#").await));
    for id in ["d1", "d2", "d3"] {
        let password = hub.device_password(id).await;
        let mut device = Client::connect(port, id, id, &password).await.accepted(id);
        assert!(
            device
                .publish(&format!("devices/{id}/data"), "{}", false)
                .await
        );
    }
    let mut d1 = Client::connect(port, "d1", "d1", &hub.device_password("d1").await)
        .await
        .accepted("d1");
    assert!(granted(d1.subscribe("devices/d1/commands/#").await));
    assert!(d1.publish("devices/d1/events", "end", false).await);
    // d3 belongs to `other`: its reading was filtered out on delivery.
    let topics = app.topics_until("devices/d1/events").await;
    assert_eq!(topics, ["devices/d1/data", "devices/d2/data"]);

    assert!(app.publish("devices/d1/commands/relay", "{}", false).await);
    assert!(!app.publish("devices/d3/commands/relay", "{}", false).await);
    assert!(
        !app.publish("devices/d1/commands/relay/ack", "{}", false)
            .await
    );
    assert!(!app.publish("devices/d1/data", "{}", false).await);
    assert!(app.publish("devices/d1/commands/done", "{}", false).await);
    assert_eq!(
        d1.topics_until("devices/d1/commands/done").await,
        ["devices/d1/commands/relay"]
    );
    sync.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_disabling_and_rotating_kick_the_device_and_refuse_the_old_login() {
    let hub = Hub::start().await;
    let sync = hub.sync().await;
    let port = hub.mosquitto.port;
    let mut logins = std::collections::HashMap::new();
    let mut clients = std::collections::HashMap::new();
    for id in ["d1", "d2", "d3"] {
        let password = hub.device_password(id).await;
        let mut client = Client::connect(port, id, id, &password).await.accepted(id);
        assert!(granted(
            client.subscribe(&format!("devices/{id}/commands/#")).await
        ));
        logins.insert(id, password);
        clients.insert(id, client);
    }
    hub.registry
        .set_device_enabled("test", &ids::device("d1"), false)
        .await
        .unwrap();
    hub.registry
        .remove_device("test", &ids::device("d2"))
        .await
        .unwrap();
    hub.registry
        .rotate_device_secret("test", &ids::device("d3"))
        .await
        .unwrap();
    hub.wait_synced(&sync).await;
    for id in ["d1", "d2", "d3"] {
        clients.get_mut(id).unwrap().closed().await;
        Client::connect(port, id, id, &logins[id])
            .await
            .refused(&format!("{id}'s old login"));
    }
    let rotated = hub.device_password("d3").await;
    assert_ne!(rotated, logins["d3"]);
    let mut d3 = Client::connect(port, "d3", "d3", &rotated)
        .await
        .accepted("d3 after rotation");
    assert!(d3.publish("devices/d3/data", "{}", false).await);

    // Enabled again: the same login works.
    hub.registry
        .set_device_enabled("test", &ids::device("d1"), true)
        .await
        .unwrap();
    hub.wait_synced(&sync).await;
    Client::connect(port, "d1", "d1", &logins["d1"])
        .await
        .accepted("d1 enabled again");
    sync.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_sync_catches_up_with_changes_made_while_it_was_away() {
    let hub = Hub::start().await;
    let sync = hub.sync().await;
    let port = hub.mosquitto.port;
    let old_d2 = hub.device_password("d2").await;
    let mut d1 = Client::connect(port, "d1", "d1", &hub.device_password("d1").await)
        .await
        .accepted("d1");
    sync.shutdown().await;

    // While Hearth is away: d1 removed, d2 rotated, d4 added; and someone loosens d3's
    // role by hand.
    hub.registry
        .remove_device("test", &ids::device("d1"))
        .await
        .unwrap();
    hub.registry
        .rotate_device_secret("test", &ids::device("d2"))
        .await
        .unwrap();
    hub.registry
        .add_device(
            "test",
            hearth_services::registry::DeviceSpec {
                app: Some(ids::app("default")),
                ..hearth_services::registry::DeviceSpec::new(ids::device("d4"))
            },
        )
        .await
        .unwrap();
    let mut admin = observer(port, "hand-edit").await;
    let hand_edit = r##"{"commands":[{"command":"addRoleACL","rolename":"hearth-device-d3","acltype":"publishClientSend","topic":"#","priority":100,"allow":true}]}"##;
    assert!(
        admin
            .publish("$CONTROL/dynamic-security/v1", hand_edit, false)
            .await
    );
    let d3_password = hub.device_password("d3").await;
    let mut d3 = Client::connect(port, "d3", "d3", &d3_password)
        .await
        .accepted("d3");
    assert!(
        d3.publish("devices/d1/data", "{}", false).await,
        "the hand edit took"
    );

    let sync = hub.sync().await;
    d1.closed().await;
    Client::connect(port, "d1", "d1", "anything")
        .await
        .refused("a removed device");
    Client::connect(port, "d2", "d2", &old_d2)
        .await
        .refused("d2's old broker password");
    Client::connect(port, "d2", "d2", &hub.device_password("d2").await)
        .await
        .accepted("d2's new broker password");
    let mut d4 = Client::connect(port, "d4", "d4", &hub.device_password("d4").await)
        .await
        .accepted("a device added meanwhile");
    assert!(d4.publish("devices/d4/data", "{}", false).await);
    assert!(
        !d3.publish("devices/d1/data", "{}", false).await,
        "the hand edit is undone"
    );
    assert!(sync.status().resyncs >= 1);
    sync.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sites_link_speaks_only_for_its_own_devices_and_is_cut_when_disabled() {
    let hub = Hub::start().await;
    let home = hearth_model::SiteId::new("home-1").unwrap();
    let other = hearth_model::SiteId::new("home-2").unwrap();
    for site in [&home, &other] {
        hub.registry
            .add_site("test", site, &ids::group("home"), None)
            .await
            .unwrap();
    }
    hub.registry
        .set_device_site("test", &ids::device("d1"), Some(&home))
        .await
        .unwrap();
    let sync = hub.sync().await;
    let port = hub.mosquitto.port;
    let password = hub.site_password("home-1").await;
    Client::connect(port, "home-1", "home-1", &password)
        .await
        .refused("a site under a client id other than site:{id}");
    Client::connect(port, "site:home-1", "home-2", &password)
        .await
        .refused("a site's password for another site");
    let mut link = Client::connect(port, "site:home-1", "home-1", &password)
        .await
        .accepted("the site's link");
    for (topic, allowed) in [
        ("sites/home-1/devices/d1/data", true),
        ("sites/home-1/devices/d1/commands/relay/ack", true),
        ("sites/home-1/registry/request", true),
        ("sites/home-1/devices/d2/data", false),
        ("sites/home-2/devices/d1/data", false),
        ("sites/home-1/devices/d1/commands/relay", false),
        ("sites/home-1/registry/snapshot", false),
        ("devices/d1/data", false),
    ] {
        assert_eq!(link.publish(topic, "{}", false).await, allowed, "{topic}");
    }
    assert!(granted(
        link.subscribe("sites/home-1/registry/snapshot").await
    ));
    assert!(granted(
        link.subscribe("sites/home-1/devices/+/commands/#").await
    ));
    for filter in [
        "sites/home-2/registry/snapshot",
        "sites/+/registry/snapshot",
        "sites/#",
        "sites/home-2/devices/+/commands/#",
    ] {
        assert!(!granted(link.subscribe(filter).await), "{filter}");
    }
    hub.registry
        .set_site_enabled("test", &home, false)
        .await
        .unwrap();
    hub.wait_synced(&sync).await;
    link.closed().await;
    Client::connect(port, "site:home-1", "home-1", &password)
        .await
        .refused("a disabled site");
    sync.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_deleted_by_hand_while_the_sync_runs_comes_back_on_the_next_change() {
    let hub = Hub::start().await;
    let sync = hub.sync().await;
    let port = hub.mosquitto.port;
    let resyncs = sync.status().resyncs;
    let mut admin = observer(port, "hand-edit").await;
    let delete = r#"{"commands":[{"command":"deleteClient","username":"d1"}]}"#;
    assert!(
        admin
            .publish("$CONTROL/dynamic-security/v1", delete, false)
            .await
    );
    Client::connect(port, "d1", "d1", &hub.device_password("d1").await)
        .await
        .refused("d1 deleted by hand");
    // The sync believes d1 is there: the rotation's modifyClient is refused, which
    // makes it read the broker again and create d1 afresh.
    hub.registry
        .rotate_device_secret("test", &ids::device("d1"))
        .await
        .unwrap();
    hub.wait_synced(&sync).await;
    assert!(sync.status().resyncs > resyncs, "{:?}", sync.status());
    let mut d1 = Client::connect(port, "d1", "d1", &hub.device_password("d1").await)
        .await
        .accepted("d1 made again");
    assert!(d1.publish("devices/d1/data", "{}", false).await);
    sync.shutdown().await;
}
