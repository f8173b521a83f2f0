//! Trying to break the discovery rules (docs/security.md): another group's discovery
//! login and its admin (see, adopt, forget, command, spoof state and availability,
//! claim the same device), and ordinary devices and applications announcing devices.

use super::*;
use hearth_model::{DeviceId, UserName};
use hearth_services::registry::DeviceSpec;
use hearth_testkit::Backend;
use serde_json::json;

hearth_testkit::both_backends_hub!(
    another_groups_discovery_login_cannot_see_adopt_command_or_spoof,
    ordinary_devices_and_applications_cannot_announce,
);

const TASMOTA_STATE: &str = "sypialnia_lampka/tele/STATE";
const TASMOTA_LWT: &str = "sypialnia_lampka/tele/LWT";
const TASMOTA_POWER: &str = "sypialnia_lampka/cmnd/POWER";

async fn another_groups_discovery_login_cannot_see_adopt_command_or_spoof(backend: Backend) {
    let hub = hearth_testkit::start_hub(backend).await;
    let admin = Api::login(&hub).await;
    let (key, secret) = discovery_login(&hub, "home", "ha").await;
    let (cabin_key, cabin_secret) = discovery_login(&hub, "cabin", "cabin-ha").await;
    // Carol administers the cabin, not the home.
    let registry = hub.registry();
    let carol = UserName::new("carol").unwrap();
    registry
        .add_user(
            "test",
            hearth_services::registry::NewUser {
                password: Some("carol-password-1".into()),
                ..hearth_services::registry::NewUser::new(carol.clone())
            },
        )
        .await
        .unwrap();
    registry
        .set_member(
            "test",
            &ids::group("cabin"),
            &carol,
            hearth_model::Role::Admin,
        )
        .await
        .unwrap();
    let carol_api = Api::login_as(&hub, "carol", "carol-password-1").await;
    // Dave is a member of the home, not an admin.
    let dave = UserName::new("dave").unwrap();
    registry
        .add_user(
            "test",
            hearth_services::registry::NewUser {
                password: Some("dave-password-1".into()),
                ..hearth_services::registry::NewUser::new(dave.clone())
            },
        )
        .await
        .unwrap();
    registry
        .set_member(
            "test",
            &ids::group("home"),
            &dave,
            hearth_model::Role::Member,
        )
        .await
        .unwrap();
    let dave_api = Api::login_as(&hub, "dave", "dave-password-1").await;

    let mut plug = Mqtt::connect(
        &hub,
        "DVES_9A55A3",
        &key,
        &secret,
        Some((TASMOTA_LWT, "Nieaktywny")),
    )
    .await;
    assert!(plug.subscribe("sypialnia_lampka/cmnd/#").await);
    for (topic, payload) in fixture("tasmota.txt") {
        plug.publish(&topic, &payload, true).await;
    }
    plug.publish(TASMOTA_LWT, "Aktywny", true).await;
    eventually("listed for the home", || async {
        let all = discovered(&admin).await;
        (all.len() == 1 && all[0]["online"] == true).then_some(())
    })
    .await;

    // Carol sees nothing of the home's, and cannot adopt or forget it.
    assert!(discovered(&carol_api).await.is_empty());
    let (status, _, _) = carol_api
        .send("GET", "/api/v1/discovered?group=home", None)
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = carol_api
        .send(
            "POST",
            "/api/v1/discovered/ha/9A55A3/adopt",
            Some(json!({"app": "cabin-ha"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _, _) = carol_api
        .send("DELETE", "/api/v1/discovered/ha/9A55A3", None)
        .await;
    assert_eq!(status, 404);
    // Nor does a member of the home (adopting decides what the device may do).
    assert!(discovered(&dave_api).await.is_empty());
    let (status, _, _) = dave_api
        .send(
            "POST",
            "/api/v1/discovered/ha/9A55A3/adopt",
            Some(json!({"app": "default"})),
        )
        .await;
    assert_eq!(status, 404);
    // Nor may the home's admin adopt into another group's application.
    let (status, _, body) = admin
        .send(
            "POST",
            "/api/v1/discovered/ha/9A55A3/adopt",
            Some(json!({"app": "cabin-ha"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // The cabin's login: its own client id namespace is free-form, but not the home's
    // devices' topics' owner.
    let mut intruder = Mqtt::connect(&hub, "cabin-bridge", &cabin_key, &cabin_secret, None).await;
    // It may subscribe outside Hearth's namespaces (filtered), never inside.
    assert!(intruder.subscribe("#").await);
    assert!(!intruder.subscribe("$SYS/#").await);
    assert!(!intruder.subscribe("hearth/#").await);
    // It claims the same device (same identifiers, its own command topic).
    intruder
        .publish(
            "homeassistant/light/9A55A3_LI_1/config",
            &fixture("tasmota.txt")[1].1,
            true,
        )
        .await;

    let (status, _, adopted) = admin
        .send(
            "POST",
            "/api/v1/discovered/ha/9A55A3/adopt",
            Some(json!({"app": "default", "id": "lamp"})),
        )
        .await;
    assert_eq!(status, 201, "{adopted}");
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    // The cabin's claim is its own entry; the home's entry was not touched.
    let cabin_entries = eventually("the cabin's own entry", || async {
        let all = hub.store().discovered_list(None, true).await.unwrap();
        (all.len() == 2).then_some(all)
    })
    .await;
    assert_eq!(cabin_entries[0].app.as_str(), "cabin-ha");
    assert_eq!(
        cabin_entries[1].adopted_device,
        Some(DeviceId::new("lamp").unwrap())
    );

    // Commands: the cabin's login may not send the lamp's, and does not receive them.
    plug.publish(TASMOTA_STATE, r#"{"POWER":"ON"}"#, false)
        .await;
    intruder
        .client
        .publish(TASMOTA_POWER, rumqttc::QoS::AtMostOnce, false, "OFF")
        .await
        .unwrap();
    let (status, _, _) = admin
        .send(
            "POST",
            "/api/v1/devices/lamp/commands",
            Some(json!({"name": "switch", "params": {"on": false}})),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(plug.message(TASMOTA_POWER).await, "OFF");
    // Spoofed state and availability from the cabin's login do not count.
    intruder
        .client
        .publish(
            TASMOTA_STATE,
            rumqttc::QoS::AtMostOnce,
            false,
            r#"{"POWER":"SPOOF"}"#,
        )
        .await
        .unwrap();
    intruder
        .client
        .publish(TASMOTA_LWT, rumqttc::QoS::AtMostOnce, true, "Nieaktywny")
        .await
        .unwrap();
    // The real plug reports after the intruder: the hub took the plug's word only.
    plug.publish(TASMOTA_STATE, r#"{"POWER":"OFF"}"#, false)
        .await;
    let store = hub.store();
    let id = DeviceId::new("lamp").unwrap();
    eventually("the plug's own state", || {
        let store = store.clone();
        let id = id.clone();
        async move {
            let device = store.device(&id).await.unwrap();
            (device.live.last_report_data?.get("on")? == &json!(false)).then_some(())
        }
    })
    .await;
    let messages = store
        .messages(&hearth_store::MessageQuery {
            device: id.clone(),
            kind: None,
            range: hearth_store::TimeRange {
                from_ms: 0,
                to_ms: i64::MAX,
            },
            limit: 100,
        })
        .await
        .unwrap();
    assert!(
        messages
            .iter()
            .all(|message| !String::from_utf8_lossy(&message.payload).contains("SPOOF")),
        "no spoofed state in the history"
    );
    assert!(
        store.device(&id).await.unwrap().live.is_online,
        "the spoofed will did not count"
    );
    // The intruder saw none of the lamp's commands.
    assert!(intruder.received(|topic| topic == TASMOTA_POWER).is_empty());
    hub.shutdown().await;
}

async fn ordinary_devices_and_applications_cannot_announce(backend: Backend) {
    let hub = hearth_testkit::start_hub(backend).await;
    let (_, device_secret) = hub
        .registry()
        .add_device("test", DeviceSpec::new(DeviceId::new("meter").unwrap()))
        .await
        .unwrap();
    let (plain_app, plain_secret) = hub
        .registry()
        .add_app(
            "test",
            &ids::app("scripts"),
            &ids::group("home"),
            None,
            None,
        )
        .await
        .unwrap();
    let (key, secret) = discovery_login(&hub, "home", "ha").await;
    let config = &fixture("esphome.txt")[0];

    let mut meter = Mqtt::connect(&hub, "meter", "meter", &device_secret, None).await;
    assert!(meter.subscribe("devices/meter/commands/#").await);
    meter
        .client
        .publish(&config.0, rumqttc::QoS::AtMostOnce, true, config.1.clone())
        .await
        .unwrap();
    // An ordinary application is refused a client id outside its key, and the topic.
    let (_, code) = Mqtt::try_connect(
        &hub,
        "livingroom",
        &plain_app.mqtt_key,
        &plain_secret,
        None,
        false,
    )
    .await;
    assert_ne!(
        code,
        rumqttc::ConnectReturnCode::Success,
        "free-form ids are for discovery logins"
    );
    let mut script = Mqtt::connect(
        &hub,
        &plain_app.mqtt_key,
        &plain_app.mqtt_key,
        &plain_secret,
        None,
    )
    .await;
    script
        .client
        .publish(&config.0, rumqttc::QoS::AtMostOnce, true, config.1.clone())
        .await
        .unwrap();
    assert!(!script.subscribe("homeassistant/#").await);
    // A discovery login may not use a device's client id, nor say it is the hub.
    let (_, code) = Mqtt::try_connect(&hub, "meter", &key, &secret, None, false).await;
    assert_ne!(code, rumqttc::ConnectReturnCode::Success);
    let mut login = Mqtt::connect(&hub, "tasmota-1", &key, &secret, None).await;
    let mut listener = Mqtt::connect(&hub, "tasmota-2", &key, &secret, None).await;
    assert!(listener.subscribe("homeassistant/status").await);
    login
        .client
        .publish(
            "homeassistant/status",
            rumqttc::QoS::AtMostOnce,
            false,
            "offline",
        )
        .await
        .unwrap();
    // The one legitimate announcement, after the others: only it is listed.
    let shelly = &fixture("shelly.txt")[0];
    login.publish(&shelly.0, &shelly.1, true).await;
    let api = Api::login(&hub).await;
    let all = eventually("the discovery login's device listed", || async {
        let all = discovered(&api).await;
        (!all.is_empty()).then_some(all)
    })
    .await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["id"], "VIRTUAL_SWITCH");
    assert!(
        listener
            .received(|topic| topic == "homeassistant/status")
            .is_empty()
    );

    // Naming a device's Hearth topic as a command topic gains nothing: the login still
    // receives none of the meter's commands.
    login
        .publish(
            "homeassistant/switch/evil/config",
            r#"{"cmd_t":"devices/meter/commands/switch","stat_t":"evil/state","uniq_id":"evil"}"#,
            true,
        )
        .await;
    eventually("the evil config listed", || async {
        (discovered(&api).await.len() == 2).then_some(())
    })
    .await;
    assert!(listener.subscribe("devices/#").await);
    let (status, _, _) = api
        .send(
            "POST",
            "/api/v1/devices/meter/commands",
            Some(json!({"name": "switch", "params": {"on": true}})),
        )
        .await;
    assert_eq!(status, 202);
    meter.message("devices/meter/commands/switch").await;
    assert!(
        listener
            .received(|topic| topic.starts_with("devices/"))
            .is_empty(),
        "the meter's command reached the discovery login"
    );
    hub.shutdown().await;
}
