//! What a principal sends on its own behalf, attacked as an intruder with an ordinary
//! account would (SPEC §5, issue 12 findings 1 and 2): a will is a publish, checked at
//! CONNECT (refused with 0x87 / return code 5) and again when it is sent; a client id
//! is owned, so no other principal takes over a device's connection or reads its stored
//! session, and the legitimate connection is untouched. Each principal kind (device,
//! application, browser, administrator) is tried against the others. Every test runs on
//! SQLite and PostgreSQL.

mod acl_hub;

use acl_hub::*;
use hearth_services::auth::browser_client_id;
use hearth_testkit::{Backend, ids};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, LastWill, Packet};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Who connects: client id, user name, password, and an optional will (topic, retain).
struct Login<'a> {
    client_id: &'a str,
    username: &'a str,
    password: &'a str,
    will: Option<(&'a str, bool)>,
    clean_start: bool,
}

impl<'a> Login<'a> {
    fn new(client_id: &'a str, username: &'a str, password: &'a str) -> Login<'a> {
        Login {
            client_id,
            username,
            password,
            will: None,
            clean_start: true,
        }
    }

    fn will(mut self, topic: &'a str, retain: bool) -> Login<'a> {
        self.will = Some((topic, retain));
        self
    }

    fn resume(mut self) -> Login<'a> {
        self.clean_start = false;
        self
    }
}

/// Connects over MQTT 5; the CONNACK's code, and on success the client and whether a
/// session was present.
async fn connect(
    hub: &AclHub,
    login: Login<'_>,
) -> Result<(AsyncClient, EventLoop, bool), ConnectReturnCode> {
    let mut options = MqttOptions::new(login.client_id, "127.0.0.1", hub.port());
    options.set_credentials(login.username, login.password);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_start(login.clean_start);
    options.set_session_expiry_interval(Some(3_600));
    if let Some((topic, retain)) = login.will {
        options.set_last_will(LastWill::new(topic, "will", QoS::AtLeastOnce, retain, None));
    }
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    let connack = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => return Ok(ack),
                Ok(_) => {}
                Err(ConnectionError::ConnectionRefused(code)) => return Err(code),
                Err(error) => panic!("{}: {error:?}", login.client_id),
            }
        }
    })
    .await
    .expect("CONNACK within 20 s")?;
    assert_eq!(connack.code, ConnectReturnCode::Success);
    Ok((client, eventloop, connack.session_present))
}

/// An administrator watching `devices/#`, collecting topic and payload of everything.
struct Observer {
    received: Arc<parking_lot::Mutex<Vec<(String, String)>>>,
    _task: tokio::task::JoinHandle<()>,
    client: AsyncClient,
}

impl Observer {
    async fn start(hub: &AclHub) -> Observer {
        let (client, mut eventloop, _) =
            connect(hub, Login::new("observer", "admin", ADMIN_PASSWORD))
                .await
                .expect("observer connects");
        client
            .subscribe("devices/#", QoS::AtLeastOnce)
            .await
            .unwrap();
        let received = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
        let mut subscribed_tx = Some(subscribed_tx);
        let sink = received.clone();
        let task = tokio::spawn(async move {
            while let Ok(event) = eventloop.poll().await {
                match event {
                    Event::Incoming(Packet::SubAck(_)) => {
                        if let Some(tx) = subscribed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Event::Incoming(Packet::Publish(publish)) => sink.lock().push((
                        String::from_utf8_lossy(&publish.topic).into_owned(),
                        String::from_utf8_lossy(&publish.payload).into_owned(),
                    )),
                    _ => {}
                }
            }
        });
        subscribed_rx.await.expect("observer subscribed");
        Observer {
            received,
            _task: task,
            client,
        }
    }

    fn topics(&self) -> Vec<String> {
        self.received
            .lock()
            .iter()
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Waits until `topic` arrived (panics after 10 s).
    async fn wait_for(&self, topic: &str) {
        for _ in 0..1_000 {
            if self.topics().iter().any(|t| t == topic) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{topic} never arrived; got {:?}", self.topics());
    }

    /// A message of the observer's own, so that everything published before it has
    /// been routed once it arrives.
    async fn barrier(&self, mark: &str) {
        let topic = format!("devices/barrier/{mark}");
        self.client
            .publish(&topic, QoS::AtLeastOnce, false, "x")
            .await
            .unwrap();
        self.wait_for(&topic).await;
    }
}

/// bob: a viewer of `home` with a control grant on `default` (a viewer still may not
/// switch anything); returns his browser password.
async fn viewer(hub: &AclHub) -> String {
    use hearth_model::{Permission, Role};
    add_person(hub, "bob", Some(Role::Viewer), Some(Permission::Control)).await;
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    hub.authorizer().issue_user_token("bob", "s1", 600_000).0
}

/// Keeps a connected client's event loop turning, collecting what it receives.
fn drive(mut eventloop: EventLoop) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            if let Event::Incoming(Packet::Publish(publish)) = event {
                let _ = tx.send(String::from_utf8_lossy(&publish.topic).into_owned());
            }
        }
        let _ = tx.send("<closed>".to_owned());
    });
    rx
}

async fn next(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a message within 10 s")
        .expect("channel open")
}

async fn wills_pass_the_publish_rules_at_connect(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let bob = viewer(&hub).await;
    let observer = Observer::start(&hub).await;
    let (d1, d1_secret) = ("d1", hub.secret("d1").to_owned());
    let (other_key, other_secret) = hub.other_app.clone();
    let bob_id = browser_client_id("bob", "w1");
    let refused = [
        // Another device's command, in another application.
        Login::new(d1, d1, &d1_secret).will("devices/d3/commands/relay", false),
        // A retained will over another device's status.
        Login::new(d1, d1, &d1_secret).will("devices/d3/status", true),
        // The hub's own announcements about the device itself.
        Login::new(d1, d1, &d1_secret).will("devices/d1/command-status", true),
        // An application, on a device it does not hold.
        Login::new(&other_key, &other_key, &other_secret).will("devices/d1/commands/relay", false),
        // A viewer's browser, on a device it may see but not switch.
        Login::new(&bob_id, "bob", &bob).will("devices/d1/commands/relay", false),
    ];
    for login in refused {
        let what = format!("{} will {:?}", login.client_id, login.will);
        let result = connect(&hub, login).await;
        assert_eq!(
            result.err(),
            Some(ConnectReturnCode::NotAuthorized),
            "{what}"
        );
    }
    // 3.1.1 clients learn it too: return code 5.
    let mut options = rumqttc::MqttOptions::new("d1", "127.0.0.1", hub.port());
    options.set_credentials("d1", d1_secret.clone());
    options.set_last_will(rumqttc::LastWill::new(
        "devices/d3/commands/relay",
        "x",
        rumqttc::QoS::AtLeastOnce,
        false,
    ));
    let (_client, mut eventloop) = rumqttc::AsyncClient::new(options, 4);
    let refusal = loop {
        match eventloop.poll().await {
            Ok(_) => {}
            Err(rumqttc::ConnectionError::ConnectionRefused(code)) => break code,
            Err(error) => panic!("v3.1.1 client: {error:?}"),
        }
    };
    assert_eq!(refusal, rumqttc::ConnectReturnCode::NotAuthorized);

    // A will within the rules still works: dropped without DISCONNECT, it is sent.
    let (client, eventloop, _) = connect(
        &hub,
        Login::new(d1, d1, &d1_secret).will("devices/d1/status", true),
    )
    .await
    .expect("own will accepted");
    drop(eventloop);
    drop(client);
    observer.wait_for("devices/d1/status").await;
    observer.barrier("after-wills").await;
    let topics = observer.topics();
    for forbidden in [
        "devices/d3/commands/relay",
        "devices/d3/status",
        "devices/d1/command-status",
        "devices/d1/commands/relay",
    ] {
        assert!(
            !topics.iter().any(|t| t == forbidden),
            "{forbidden} delivered: {topics:?}"
        );
    }
}

async fn a_will_is_checked_again_when_it_is_sent(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let observer = Observer::start(&hub).await;
    let (key, secret) = hub.default_app.clone();
    // While the application holds d1, its will commands d1.
    let (client, eventloop, _) = connect(
        &hub,
        Login::new(&key, &key, &secret).will("devices/d1/commands/relay", false),
    )
    .await
    .expect("will on a held device accepted");
    drop(eventloop);
    drop(client);
    observer.wait_for("devices/d1/commands/relay").await;
    // It loses d2 while connected; its will on d2 must not be sent when it drops.
    let (client, eventloop, _) = connect(
        &hub,
        Login::new(&key, &key, &secret).will("devices/d2/commands/relay", false),
    )
    .await
    .expect("will on a held device accepted");
    hub.registry()
        .remove_device("test", &ids::device("d2"))
        .await
        .unwrap();
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    let denied_before = hub
        .authorizer()
        .counters()
        .publishes_denied
        .load(Ordering::Relaxed);
    // The socket closes without a DISCONNECT: the will is due.
    drop(eventloop);
    drop(client);
    // Wait for the will's refusal to be counted, then check it reached nobody.
    for _ in 0..1_000 {
        if hub
            .authorizer()
            .counters()
            .publishes_denied
            .load(Ordering::Relaxed)
            > denied_before
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        hub.authorizer()
            .counters()
            .publishes_denied
            .load(Ordering::Relaxed)
            > denied_before,
        "the will was checked when sent"
    );
    observer.barrier("after-revoked-will").await;
    assert!(
        !observer
            .topics()
            .iter()
            .any(|t| t == "devices/d2/commands/relay"),
        "{:?}",
        observer.topics()
    );
}

async fn a_device_id_is_that_device_alone(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let bob = viewer(&hub).await;
    let observer = Observer::start(&hub).await;
    let d1_secret = hub.secret("d1").to_owned();
    let d3_secret = hub.secret("d3").to_owned();
    let (default_key, default_secret) = hub.default_app.clone();
    let (other_key, other_secret) = hub.other_app.clone();
    // The device keeps a persistent session with a subscription to its commands.
    let (device, eventloop, _) = connect(&hub, Login::new("d1", "d1", &d1_secret))
        .await
        .expect("d1 connects");
    device
        .subscribe("devices/d1/commands/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut device_rx = drive(eventloop);
    observer.barrier("d1-subscribed").await;
    let intruders: [(&str, &str, &str, ConnectReturnCode); 5] = [
        // Another device with its own secret (the device rule itself).
        ("d1", "d3", &d3_secret, ConnectReturnCode::NotAuthorized),
        // The application that holds d1, and one that does not.
        (
            "d1",
            &default_key,
            &default_secret,
            ConnectReturnCode::ClientIdentifierNotValid,
        ),
        (
            "d1",
            &other_key,
            &other_secret,
            ConnectReturnCode::ClientIdentifierNotValid,
        ),
        // A viewer's browser credential.
        (
            "d1",
            "bob",
            &bob,
            ConnectReturnCode::ClientIdentifierNotValid,
        ),
        // Even the administrator: the id is the device's.
        (
            "d1",
            "admin",
            ADMIN_PASSWORD,
            ConnectReturnCode::ClientIdentifierNotValid,
        ),
    ];
    for (client_id, username, password, code) in intruders {
        for login in [
            Login::new(client_id, username, password),
            Login::new(client_id, username, password).resume(),
        ] {
            let result = connect(&hub, login).await;
            assert_eq!(result.err(), Some(code), "{username} as {client_id}");
        }
    }
    // The device was never disconnected: a command still reaches it.
    observer
        .client
        .publish("devices/d1/commands/relay", QoS::AtLeastOnce, false, "{}")
        .await
        .unwrap();
    assert_eq!(next(&mut device_rx).await, "devices/d1/commands/relay");
    // Offline, its queued command waits for it and for nobody else.
    device.disconnect().await.unwrap();
    assert_eq!(next(&mut device_rx).await, "<closed>");
    observer
        .client
        .publish(
            "devices/d1/commands/relay",
            QoS::AtLeastOnce,
            false,
            "{\"n\":2}",
        )
        .await
        .unwrap();
    observer.barrier("d1-command-queued").await;
    for (username, password) in [
        (default_key.as_str(), default_secret.as_str()),
        ("bob", bob.as_str()),
        ("admin", ADMIN_PASSWORD),
    ] {
        let result = connect(&hub, Login::new("d1", username, password).resume()).await;
        assert_eq!(
            result.err(),
            Some(ConnectReturnCode::ClientIdentifierNotValid),
            "{username} resuming d1's session"
        );
    }
    // 3.1.1: identifier rejected (return code 2).
    let mut options = rumqttc::MqttOptions::new("d1", "127.0.0.1", hub.port());
    options.set_credentials("admin", ADMIN_PASSWORD);
    options.set_clean_session(false);
    let (_client, mut eventloop) = rumqttc::AsyncClient::new(options, 4);
    let refusal = loop {
        match eventloop.poll().await {
            Ok(_) => {}
            Err(rumqttc::ConnectionError::ConnectionRefused(code)) => break code,
            Err(error) => panic!("v3.1.1 client: {error:?}"),
        }
    };
    assert_eq!(refusal, rumqttc::ConnectReturnCode::BadClientId);
    let (_device, eventloop, session_present) =
        connect(&hub, Login::new("d1", "d1", &d1_secret).resume())
            .await
            .expect("d1 resumes");
    assert!(session_present, "d1's own session survived the intruders");
    let mut device_rx = drive(eventloop);
    assert_eq!(next(&mut device_rx).await, "devices/d1/commands/relay");
}

async fn browser_and_application_ids_are_bound_to_their_principal(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let bob = viewer(&hub).await;
    let (key, secret) = hub.default_app.clone();
    let (other_key, other_secret) = hub.other_app.clone();
    let bob_id = browser_client_id("bob", "tab1");
    let worker = format!("{key}:worker-1");
    // Each principal in its own namespace gets in.
    for login in [
        Login::new(&bob_id, "bob", &bob),
        Login::new(&key, &key, &secret),
        Login::new(&worker, &key, &secret),
        Login::new("dashboard", "admin", ADMIN_PASSWORD),
    ] {
        let what = format!("{} as {}", login.username, login.client_id);
        let (client, _eventloop, _) = connect(&hub, login).await.expect(&what);
        client.disconnect().await.ok();
    }
    let alice_id = browser_client_id("alice", "tab1");
    let refused: [(&str, &str, &str); 8] = [
        // A browser outside its own namespace.
        (&alice_id, "bob", &bob),
        (&key, "bob", &bob),
        ("dashboard", "bob", &bob),
        // An application on a browser's id, another application's id, a free one.
        (&bob_id, &key, &secret),
        (&key, &other_key, &other_secret),
        ("my-script", &key, &secret),
        // The administrator on a browser's or an application's id.
        (&bob_id, "admin", ADMIN_PASSWORD),
        (&worker, "admin", ADMIN_PASSWORD),
    ];
    for (client_id, username, password) in refused {
        let result = connect(&hub, Login::new(client_id, username, password)).await;
        assert_eq!(
            result.err(),
            Some(ConnectReturnCode::ClientIdentifierNotValid),
            "{username} as {client_id}"
        );
    }
}

async fn mqtt_password_guessing_is_limited_with_the_http_login(backend: Backend) {
    let hub = AclHub::start(backend).await;
    // Five wrong passwords for the administrator: each refused as bad credentials.
    for attempt in 0..5 {
        let result = connect(&hub, Login::new("guess", "admin", "wrong-guess")).await;
        assert_eq!(
            result.err(),
            Some(ConnectReturnCode::BadUserNamePassword),
            "attempt {attempt}"
        );
    }
    // Then even the right password is refused for a while (0x9F), from this address.
    let result = connect(&hub, Login::new("guess", "admin", ADMIN_PASSWORD)).await;
    assert_eq!(
        result.err(),
        Some(ConnectReturnCode::ConnectionRateExceeded)
    );
    assert_eq!(
        hub.authorizer()
            .counters()
            .logins_throttled
            .load(Ordering::Relaxed),
        1
    );
    // Other names from the same address are not locked out.
    let d1_secret = hub.secret("d1").to_owned();
    connect(&hub, Login::new("d1", "d1", &d1_secret))
        .await
        .expect("another principal still gets in");
    // The count is the one the HTTP login keeps: failures there count here too.
    let limiter = Arc::new(hearth_services::LoginLimiter::new(5));
    hub.authorizer().use_login_limiter(limiter.clone());
    let (key, secret) = hub.default_app.clone();
    for _ in 0..5 {
        limiter.fail(
            &key,
            Some("127.0.0.1".parse().unwrap()),
            std::time::Instant::now(),
        );
    }
    let result = connect(&hub, Login::new(&key, &key, &secret)).await;
    assert_eq!(
        result.err(),
        Some(ConnectReturnCode::ConnectionRateExceeded)
    );
}

async fn an_unknown_name_costs_a_password_check(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let before = hearth_services::secret::dummy_verify_count();
    let result = connect(&hub, Login::new("ghost", "ghost", "whatever")).await;
    assert_eq!(result.err(), Some(ConnectReturnCode::BadUserNamePassword));
    assert!(
        hearth_services::secret::dummy_verify_count() > before,
        "an unknown name was refused without a password check: timing tells names apart"
    );
}

hearth_testkit::both_backends_hub!(
    wills_pass_the_publish_rules_at_connect,
    a_will_is_checked_again_when_it_is_sent,
    a_device_id_is_that_device_alone,
    browser_and_application_ids_are_bound_to_their_principal,
    mqtt_password_guessing_is_limited_with_the_http_login,
    an_unknown_name_costs_a_password_check,
);
