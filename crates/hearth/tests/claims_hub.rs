//! Claiming devices on a whole hub (issue 23), with real MQTT clients: an unclaimed
//! device logs in with its secret but reaches only its own topics and nobody but the
//! administrators sees it; claimed, it keeps its connection and reports into the
//! claimer's room; unclaimed again, it is disconnected at once and its old secret is
//! refused, while the new one logs in.

use hearth_model::Role;
use hearth_services::registry::NewUser;
use hearth_testkit::client::{Api, Mqtt, eventually};
use hearth_testkit::{Backend, TestHub, both_backends_hub, ids, start_hub};
use rumqttc::ConnectReturnCode;
use serde_json::json;

both_backends_hub!(an_unclaimed_device_is_confined_and_unclaiming_cuts_it_off);

async fn person(hub: &TestHub, name: &str, role: Role) -> Api {
    hub.registry()
        .add_user(
            "test",
            NewUser {
                password: Some(format!("{name}-password")),
                ..NewUser::new(ids::user(name))
            },
        )
        .await
        .unwrap();
    hub.registry()
        .set_member("test", &ids::group("home"), &ids::user(name), role)
        .await
        .unwrap();
    Api::login_as(hub, name, &format!("{name}-password")).await
}

async fn an_unclaimed_device_is_confined_and_unclaiming_cuts_it_off(backend: Backend) {
    let hub = start_hub(backend).await;
    let admin = Api::login(&hub).await;
    let alice = person(&hub, "alice", Role::Member).await;
    let (status, _, made) = admin
        .send(
            "POST",
            "/api/v1/unclaimed-devices",
            Some(json!({"id": "lock-1", "kind": "lock"})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().unwrap().to_owned();
    let code = made["code"].as_str().unwrap().to_owned();

    // Unclaimed, it logs in and publishes its own topics, and nothing else.
    let mut device = Mqtt::connect(&hub, "lock-1", "lock-1", &secret, None).await;
    device
        .publish("devices/lock-1/data", r#"{"locked": true}"#, false)
        .await;
    assert!(
        !device.subscribe("devices/#").await,
        "a device reads every device"
    );
    assert!(!device.subscribe("devices/lamp/data").await);
    assert!(device.subscribe("devices/lock-1/commands/#").await);
    // Alice, a member of home, sees nothing of it yet.
    let (status, _, _) = alice.send("GET", "/api/v1/devices/lock-1", None).await;
    assert_eq!(status, 404);

    // Claimed into the kitchen: the connection stays, and its reports are hers to see.
    let (status, _, claimed) = alice
        .send(
            "POST",
            "/api/v1/claims",
            Some(json!({"device": "lock-1", "code": code, "group": "home", "room": "kitchen"})),
        )
        .await;
    assert_eq!(status, 200, "{claimed}");
    device
        .publish("devices/lock-1/data", r#"{"locked": false}"#, false)
        .await;
    let seen = eventually("alice sees the report", || async {
        let (status, _, view) = alice.send("GET", "/api/v1/devices/lock-1", None).await;
        (status == 200 && view["live"]["last_report_data"]["locked"] == json!(false))
            .then_some(view)
    })
    .await;
    assert_eq!(seen["room"], "kitchen");

    // Unclaimed by its owner: cut off at once, the old secret refused, the new one in.
    let (status, _, again) = alice
        .send("POST", "/api/v1/devices/lock-1/unclaim", None)
        .await;
    assert_eq!(status, 200, "{again}");
    device.closed().await;
    let (_, refused) = Mqtt::try_connect(&hub, "lock-1", "lock-1", &secret, None, false).await;
    assert_ne!(
        refused,
        ConnectReturnCode::Success,
        "the old secret still logs in"
    );
    let new_secret = again["secret"].as_str().unwrap();
    let mut device = Mqtt::connect(&hub, "lock-1", "lock-1", new_secret, None).await;
    assert!(!device.subscribe("devices/#").await);
    let (status, _, _) = alice.send("GET", "/api/v1/devices/lock-1", None).await;
    assert_eq!(status, 404, "alice still sees the device she gave up");
    hub.shutdown().await;
}
