//! Browser MQTT credentials (seed 004, SPEC §5): short-lived tokens from the
//! authorizer whose ACL follows the person's roles and grants, refused when forged,
//! expired or someone else's, and cut off on logout or when a grant is lost. Every test
//! runs on SQLite and PostgreSQL.

mod acl_hub;

use acl_hub::*;
use hearth_testkit::{Backend, ids};
use serde_json::json;
use std::time::Duration;

/// Adds people: alice (member, control on `default`), bob (viewer, with a control grant
/// that his role overrides), carol (no group).
async fn add_people(hub: &AclHub) {
    use hearth_model::{Permission, Role};
    add_person(hub, "alice", Some(Role::Member), Some(Permission::Control)).await;
    add_person(hub, "bob", Some(Role::Viewer), Some(Permission::Control)).await;
    add_person(hub, "carol", None, None).await;
}

/// Waits until the authorizer's snapshot includes everything registered so far.
async fn caught_up(hub: &AclHub) {
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
}

async fn browsers_see_what_their_roles_and_grants_allow(backend: Backend) {
    let hub = AclHub::start(backend).await;
    add_people(&hub).await;
    caught_up(&hub).await;
    let token = |user: &str| {
        hub.authorizer()
            .issue_user_token(user, "session1", 600_000)
            .0
    };
    let alice = hub
        .session(
            5,
            "web:alice:tab",
            Some(("alice", &token("alice"))),
            &["devices/d1/#", "devices/d3/data", "devices/+/data", "#"],
            &[
                "devices/d1/commands/relay",
                "devices/d3/commands/relay",
                "devices/d1/data",
            ],
        )
        .await;
    assert_eq!(alice["connack"], 0, "{alice}");
    // A member without a grant on `other` still sees its devices (view), but only
    // the control grant on `default` lets her switch. A wildcard in place of the device
    // id is granted and filtered per delivery by what she may view, as for applications
    // (`mqtt_device_sets.rs`).
    assert_eq!(
        codes(&alice, "suback"),
        json!({"devices/d1/#": 1, "devices/d3/data": 1, "devices/+/data": 1, "#": NOT_AUTHORIZED})
    );
    assert_eq!(
        codes(&alice, "puback"),
        json!({
            "devices/d1/commands/relay": 0,
            "devices/d3/commands/relay": NOT_AUTHORIZED,
            "devices/d1/data": NOT_AUTHORIZED,
        })
    );
    // A viewer never switches, whatever the grant says.
    let bob = hub
        .session(
            5,
            "web:bob:tab",
            Some(("bob", &token("bob"))),
            &["devices/d1/#"],
            &["devices/d1/commands/relay"],
        )
        .await;
    assert_eq!(codes(&bob, "suback"), json!({"devices/d1/#": 1}));
    assert_eq!(
        codes(&bob, "puback"),
        json!({"devices/d1/commands/relay": NOT_AUTHORIZED})
    );
    // Outside every group: nothing.
    let carol = hub
        .session(
            5,
            "web:carol:tab",
            Some(("carol", &token("carol"))),
            &["devices/d1/#"],
            &[],
        )
        .await;
    assert_eq!(
        codes(&carol, "suback"),
        json!({"devices/d1/#": NOT_AUTHORIZED})
    );
    // Someone else's token, a forged one, a password instead of a token.
    let cases: [(&str, String); 3] = [
        ("bob", token("alice")),
        ("alice", token("alice").replace("alice", "admin")),
        ("alice", "alice-password".to_owned()),
    ];
    for (user, password) in cases {
        let result = hub
            .session(5, "web-x", Some((user, &password)), &[], &[])
            .await;
        assert_eq!(result["connack"], 0x86, "{user} {password}: {result}");
    }
}

async fn logout_and_lost_grants_cut_browsers_off(backend: Backend) {
    let hub = AclHub::start(backend).await;
    add_people(&hub).await;
    caught_up(&hub).await;
    let connect = |user: &'static str, session: &'static str| {
        let (token, _) = hub.authorizer().issue_user_token(user, session, 600_000);
        let mut options =
            rumqttc::v5::MqttOptions::new(format!("web:{user}:{session}"), "127.0.0.1", hub.port());
        options.set_credentials(user, token);
        rumqttc::v5::AsyncClient::new(options, 16)
    };
    async fn connack(eventloop: &mut rumqttc::v5::EventLoop) {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::ConnAck(
                    _,
                ))) => return,
                Ok(_) => {}
                Err(error) => panic!("browser could not connect: {error:?}"),
            }
        }
    }
    // Logging out of one session cuts that session's browser only.
    let (_one, mut one_loop) = connect("alice", "s1");
    connack(&mut one_loop).await;
    let (_two, mut two_loop) = connect("alice", "s2");
    connack(&mut two_loop).await;
    assert_eq!(
        hub.authorizer()
            .revoke_session("s1", hub.bus().as_ref())
            .await,
        1
    );
    wait_until_kicked(&hub, &mut one_loop, 1).await;
    // Losing the control grant cuts her remaining browser.
    hub.registry()
        .set_grant(
            "test",
            &ids::app("default"),
            &ids::user("alice"),
            hearth_model::Permission::View,
        )
        .await
        .unwrap();
    wait_until_kicked(&hub, &mut two_loop, 2).await;
    // A revoked session's token no longer works.
    let (_again, mut again_loop) = connect("alice", "s1");
    let refused = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Err(error) = again_loop.poll().await {
                return format!("{error:?}");
            }
        }
    })
    .await
    .unwrap();
    assert!(refused.contains("BadUserNamePassword"), "{refused}");
}

hearth_testkit::both_backends_hub!(
    browsers_see_what_their_roles_and_grants_allow,
    logout_and_lost_grants_cut_browsers_off,
);
