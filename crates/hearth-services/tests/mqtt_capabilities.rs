//! A device's capability declaration (`devices/{id}/capabilities`, retained; issue 18) as
//! intruders see it: only the device itself publishes it (another device, an application
//! holding the device or not, cannot put words in its mouth), and only those who may read
//! the device subscribe to it. Real clients (the broker tests' raw-socket client), an
//! observer proving refused declarations reach nobody; SQLite and PostgreSQL.

mod acl_hub;

use acl_hub::*;
use hearth_testkit::Backend;
use serde_json::json;

async fn only_the_device_declares_its_capabilities(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let result = hub
        .session(
            5,
            "d1",
            Some(("d1", hub.secret("d1"))),
            &["devices/d1/capabilities", "devices/d2/capabilities"],
            &[
                "devices/d1/capabilities",
                "devices/d2/capabilities",
                "devices/d3/capabilities",
            ],
        )
        .await;
    assert_eq!(result["connack"], 0, "{result}");
    // A device reads only its commands, not even its own declaration.
    assert_eq!(
        codes(&result, "suback"),
        json!({
            "devices/d1/capabilities": NOT_AUTHORIZED,
            "devices/d2/capabilities": NOT_AUTHORIZED,
        })
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({
            "devices/d1/capabilities": 0,
            "devices/d2/capabilities": NOT_AUTHORIZED,
            "devices/d3/capabilities": NOT_AUTHORIZED,
        })
    );
    assert_eq!(result["observer_got"], json!(["devices/d1/capabilities"]));

    // The application holding d1 and d2 reads their declarations but cannot make them
    // (it sends commands, nothing else); the one holding d3 neither.
    let (key, secret) = &hub.default_app;
    let result = hub
        .session(
            5,
            key,
            Some((key, secret)),
            &["devices/d1/capabilities", "devices/d3/capabilities"],
            &["devices/d1/capabilities", "devices/d3/capabilities"],
        )
        .await;
    assert_eq!(
        codes(&result, "suback"),
        json!({
            "devices/d1/capabilities": GRANTED_QOS1,
            "devices/d3/capabilities": NOT_AUTHORIZED,
        })
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({
            "devices/d1/capabilities": NOT_AUTHORIZED,
            "devices/d3/capabilities": NOT_AUTHORIZED,
        })
    );
    let (key, secret) = &hub.other_app;
    let result = hub
        .session(
            5,
            key,
            Some((key, secret)),
            &["devices/d1/capabilities"],
            &["devices/d1/capabilities"],
        )
        .await;
    assert_eq!(
        codes(&result, "suback"),
        json!({"devices/d1/capabilities": NOT_AUTHORIZED})
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({"devices/d1/capabilities": NOT_AUTHORIZED})
    );
    assert_eq!(result["observer_got"], json!([]));
}

hearth_testkit::both_backends_hub!(only_the_device_declares_its_capabilities);
