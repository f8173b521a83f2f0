//! Alerts in a whole hub, with real MQTT devices, a real webhook receiver on loopback
//! (which checks each request's HMAC signature), and a manual clock: the issue's "done
//! when" (one signed POST for 80, none for 85 within the cooldown, one "cleared" for
//! 20), a retry after a 500, hysteresis and repeats, `for`, an offline device, a smoke
//! event, acknowledgement, and a restart between an alert and its delivery.
//!
//! `conditions`: offline, smoke, battery, failed commands; `channels`: the automations'
//! notify action and named webhooks. The helpers here serve all three.

use hearth_model::{AlertRuleSpec, AlertState, Millis, NotificationState};
use hearth_services::alerts::Alerts;
use hearth_services::automations::engine::ManualClock;
use hearth_testkit::devices::{TestDevice, add_devices};
use hearth_testkit::{Backend, TestHub, ids};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const DEADLINE: Duration = Duration::from_secs(30);
const SECRET: &str = "s3cret-for-tests";

/// 2024-01-01 12:00 UTC.
const NOON: Millis = 1_704_110_400_000;

/// A POST the receiver accepted: its headers (lower-case names) and JSON body.
struct Received {
    headers: std::collections::HashMap<String, String>,
    body: Value,
}

/// A webhook receiver on a free loopback port: answers each request with the next of
/// `statuses` (then 200), and sends every request whose signature is right; a wrong
/// signature fails the test.
async fn receiver(statuses: Vec<u16>) -> (u16, mpsc::UnboundedReceiver<Received>) {
    let (port, requests) = hearth_testkit::http::receiver(statuses).await;
    (port, checked(requests))
}

/// Serves `listener` (a port chosen before the receiver runs).
fn serve(
    listener: tokio::net::TcpListener,
    statuses: Vec<u16>,
) -> mpsc::UnboundedReceiver<Received> {
    checked(hearth_testkit::http::serve(listener, statuses))
}

fn checked(
    mut requests: mpsc::UnboundedReceiver<hearth_testkit::http::Request>,
) -> mpsc::UnboundedReceiver<Received> {
    let (sender, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            // Checked here, independently of the hub's code.
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            let signed = format!(
                "{}.{}",
                request.headers["x-hearth-timestamp"],
                request.text()
            );
            mac.update(signed.as_bytes());
            let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            assert_eq!(
                request.headers["x-hearth-signature"], expected,
                "a bad signature"
            );
            let body = serde_json::from_str(&request.text()).unwrap();
            let _ = sender.send(Received {
                headers: request.headers,
                body,
            });
        }
    });
    received
}

async fn rule(hub: &TestHub, document: Value) -> String {
    let spec: AlertRuleSpec = serde_json::from_value(document).unwrap();
    let rule = Alerts::new(hub.store())
        .create("cli:test", spec)
        .await
        .unwrap();
    hub.alerts().reload().await;
    rule.id
}

fn freezer_rule(port: u16, extra: Value) -> Value {
    let mut document = json!({"group": "home", "name": "Freezer too warm", "severity": "major",
        "condition": {"type": "reading", "device": "freezer", "metric": "temperature", "gt": 60},
        "cooldown_secs": 900,
        "notify": [{"channel": "webhook", "url": format!("http://127.0.0.1:{port}/hook"),
            "secret": SECRET}]});
    if let (Some(document), Some(extra)) = (document.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            document.insert(key.clone(), value.clone());
        }
    }
    document
}

async fn next(received: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(DEADLINE, received.recv())
        .await
        .expect("a webhook request in time")
        .expect("the receiver runs")
}

/// Waits until the rule's alerts satisfy `wanted`; returns them, newest first.
async fn alerts_until(
    hub: &TestHub,
    rule: &str,
    wanted: impl Fn(&[hearth_model::Alert]) -> bool,
) -> Vec<hearth_model::Alert> {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let filter = hearth_store::AlertFilter {
                rule: Some(rule.to_owned()),
                ..Default::default()
            };
            let alerts = hub.store().alerts(&filter).await.unwrap();
            if wanted(&alerts) {
                return alerts;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the alerts in time")
}

/// Waits until every notification of `alert` has left `pending`.
async fn settled(hub: &TestHub, alert: &str) -> Vec<hearth_model::Notification> {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let notes = hub.store().notifications_of(alert).await.unwrap();
            if notes
                .iter()
                .all(|note| note.state != NotificationState::Pending)
            {
                return notes;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("notifications settled in time")
}

/// The issue's "done when": 80 sends one signed POST, 85 within the cooldown none, 20
/// one "cleared"; the alert's record says so.
async fn a_threshold_alert_notifies_once_and_clears(backend: Backend) {
    let clock = Arc::new(ManualClock::new(NOON));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    let secrets = add_devices(&hub, &["freezer"]).await;
    let (port, mut received) = receiver(Vec::new()).await;
    let rule_id = rule(&hub, freezer_rule(port, json!({}))).await;
    let mut freezer = TestDevice::connect(&hub, "freezer", &secrets["freezer"]).await;

    freezer.data(r#"{"temperature": 80}"#).await;
    let opened = next(&mut received).await;
    assert_eq!(opened.body["event"], "opened");
    assert_eq!(opened.body["message"], "freezer temperature is 80");
    assert_eq!(opened.body["alert"]["severity"], "major");
    let delivery = opened.headers["x-hearth-delivery"].clone();

    clock.advance(Duration::from_secs(60));
    freezer.data(r#"{"temperature": 85}"#).await;
    freezer.data(r#"{"temperature": 20}"#).await;
    let cleared = next(&mut received).await;
    assert_eq!(cleared.body["event"], "cleared", "{}", cleared.body);
    assert_ne!(cleared.headers["x-hearth-delivery"], delivery);

    let alerts = alerts_until(&hub, &rule_id, |alerts| {
        alerts
            .first()
            .is_some_and(|alert| alert.state == AlertState::Cleared)
    })
    .await;
    assert_eq!(alerts.len(), 1, "one alert: {alerts:#?}");
    assert_eq!(alerts[0].cleared_by.as_deref(), Some("auto"));
    assert_eq!(alerts[0].repeats, 0);
    let notes = settled(&hub, &alerts[0].id).await;
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(
        notes
            .iter()
            .all(|note| note.state == NotificationState::Sent)
    );
    // Nothing else reached the receiver.
    tokio::task::yield_now().await;
    assert!(received.try_recv().is_err());
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_threshold_alert_notifies_once_and_clears);

/// The receiver answers 500 once: the notification is retried (after a second on the
/// hub's clock) with the same delivery id, and both attempts are on record.
async fn a_failed_delivery_is_retried(backend: Backend) {
    let clock = Arc::new(ManualClock::new(NOON));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    let secrets = add_devices(&hub, &["freezer"]).await;
    let (port, mut received) = receiver(vec![500]).await;
    let rule_id = rule(&hub, freezer_rule(port, json!({}))).await;
    let mut freezer = TestDevice::connect(&hub, "freezer", &secrets["freezer"]).await;
    freezer.data(r#"{"temperature": 80}"#).await;
    let first = next(&mut received).await;
    let second = tokio::time::timeout(DEADLINE, async {
        loop {
            clock.advance(Duration::from_secs(1));
            let polled = tokio::time::timeout(Duration::from_millis(100), received.recv());
            if let Ok(request) = polled.await {
                return request.unwrap();
            }
        }
    })
    .await
    .expect("the retry in time");
    assert_eq!(
        first.headers["x-hearth-delivery"],
        second.headers["x-hearth-delivery"]
    );
    assert_eq!(first.body, second.body);
    let alerts = alerts_until(&hub, &rule_id, |alerts| !alerts.is_empty()).await;
    let notes = settled(&hub, &alerts[0].id).await;
    assert_eq!(notes[0].attempts.len(), 2, "{notes:#?}");
    assert_eq!(notes[0].attempts[0]["error"], "HTTP 500");
    assert_eq!(notes[0].state, NotificationState::Sent);
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_failed_delivery_is_retried);

/// Hysteresis 5: 61 raises; 58 (not below 55) and 62 again is a repeat within the
/// cooldown, counted and not sent; 50 clears; 70 within the cooldown opens a new alert
/// that tells nobody; after the cooldown, 50 then 70 tells again.
async fn repeats_within_the_cooldown_are_counted_not_sent(backend: Backend) {
    let clock = Arc::new(ManualClock::new(NOON));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    let secrets = add_devices(&hub, &["freezer"]).await;
    let (port, mut received) = receiver(Vec::new()).await;
    let document = freezer_rule(
        port,
        json!({"condition": {"type": "reading", "device": "freezer", "metric": "temperature",
            "gt": 60, "hysteresis": 5}}),
    );
    let rule_id = rule(&hub, document).await;
    let mut freezer = TestDevice::connect(&hub, "freezer", &secrets["freezer"]).await;
    for value in [61, 58, 62] {
        freezer
            .data(&format!(r#"{{"temperature": {value}}}"#))
            .await;
    }
    assert_eq!(next(&mut received).await.body["event"], "opened");
    let alerts = alerts_until(&hub, &rule_id, |alerts| {
        alerts.first().is_some_and(|alert| alert.repeats == 1)
    })
    .await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].state, AlertState::Open);

    freezer.data(r#"{"temperature": 50}"#).await;
    assert_eq!(next(&mut received).await.body["event"], "cleared");
    clock.advance(Duration::from_secs(60));
    freezer.data(r#"{"temperature": 70}"#).await;
    let alerts = alerts_until(&hub, &rule_id, |alerts| alerts.len() == 2).await;
    assert_eq!(alerts[0].state, AlertState::Open);
    assert!(
        settled(&hub, &alerts[0].id).await.is_empty(),
        "told within the cooldown"
    );

    clock.advance(Duration::from_secs(900));
    freezer.data(r#"{"temperature": 50}"#).await;
    freezer.data(r#"{"temperature": 70}"#).await;
    let alerts = alerts_until(&hub, &rule_id, |alerts| alerts.len() == 3).await;
    assert_eq!(settled(&hub, &alerts[0].id).await.len(), 1);
    assert_eq!(next(&mut received).await.body["event"], "opened");
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(repeats_within_the_cooldown_are_counted_not_sent);

/// `for` 120 s: a reading that drops back before then raises nothing; one that holds
/// raises when the time has passed.
async fn a_reading_must_hold_for_its_duration(backend: Backend) {
    let clock = Arc::new(ManualClock::new(NOON));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    let secrets = add_devices(&hub, &["freezer"]).await;
    let (port, _received) = receiver(Vec::new()).await;
    let document = freezer_rule(
        port,
        json!({"condition": {"type": "reading", "device": "freezer", "metric": "temperature",
            "gt": 60, "for": 120}}),
    );
    let rule_id = rule(&hub, document).await;
    let mut freezer = TestDevice::connect(&hub, "freezer", &secrets["freezer"]).await;
    freezer.data(r#"{"temperature": 80}"#).await;
    clock.advance(Duration::from_secs(60));
    freezer.data(r#"{"temperature": 40}"#).await;
    clock.advance(Duration::from_secs(120));
    freezer.data(r#"{"temperature": 80}"#).await;
    // Nothing yet: wait on something that follows the engine's turn, then look.
    hub.alerts().reload().await;
    let none = hub
        .store()
        .alerts(&hearth_store::AlertFilter {
            rule: Some(rule_id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:#?}");
    clock.advance(Duration::from_secs(121));
    let alerts = alerts_until(&hub, &rule_id, |alerts| !alerts.is_empty()).await;
    assert_eq!(alerts[0].value, Some(json!(80)));
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_reading_must_hold_for_its_duration);

/// The receiver is down when the alert opens; the hub stops with the notification
/// pending, the receiver comes up, the hub starts again: it is delivered once.
async fn a_restart_between_alert_and_delivery_loses_nothing(backend: Backend) {
    let clock = Arc::new(ManualClock::new(NOON));
    let mut hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    let secrets = add_devices(&hub, &["freezer"]).await;
    // A port nobody listens on yet.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let rule_id = rule(&hub, freezer_rule(port, json!({}))).await;
    let mut freezer = TestDevice::connect(&hub, "freezer", &secrets["freezer"]).await;
    freezer.data(r#"{"temperature": 80}"#).await;
    let alerts = alerts_until(&hub, &rule_id, |alerts| !alerts.is_empty()).await;
    let alert = alerts[0].id.clone();
    // The first attempt failed (connection refused) and waits for its retry.
    tokio::time::timeout(DEADLINE, async {
        loop {
            let notes = hub.store().notifications_of(&alert).await.unwrap();
            if notes.first().is_some_and(|note| !note.attempts.is_empty()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    drop(freezer);
    hub.shutdown_keeping_data().await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let mut received = serve(listener, Vec::new());
    clock.advance(Duration::from_secs(5));
    hub.restart().await;
    let delivered = next(&mut received).await;
    assert_eq!(delivered.body["event"], "opened");
    let notes = settled(&hub, &alert).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].state, NotificationState::Sent);
    assert_eq!(notes[0].attempts.len(), 2, "{notes:#?}");
    assert!(received.try_recv().is_err(), "sent twice");
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_restart_between_alert_and_delivery_loses_nothing);

mod channels;
mod conditions;
