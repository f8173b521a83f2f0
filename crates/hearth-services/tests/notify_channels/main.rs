//! The e-mail and Web Push channels against real counterparts on loopback (issue 15):
//! an SMTP sink (Python's aiosmtpd, which `.ci/run` installs) receives the e-mail of a
//! notification the sender task delivers from the store's outbox; a push-service
//! stand-in checks the VAPID signature with the hub's public key, decrypts the payload
//! with the subscription's private key (RFC 8291, written here again with ring, apart
//! from the hub's code) and reads the text, and a 410 deletes the subscription.
//! `people::recipients` follows people's preferences. Both backends. E-mail also goes
//! over STARTTLS and TLS to a sink whose certificate a test CA (`ca_file`) signed, and
//! not without that CA.
//!
//! `email`: the SMTP sink and the e-mail tests; `push`: the push service stand-in,
//! RFC 8291 decryption and the Web Push test; `lease`: only the coordinator of several
//! nodes sends the outbox. The store seeding here serves them all.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hearth_model::{
    Alert, AlertCondition, AlertRule, AlertRuleSpec, AlertState, ChannelTarget, GroupId,
    GroupPlace, Membership, NewAuditEntry, Notification, NotificationPrefs, NotificationState,
    PushSubscription, QuietHours, Role, Severity, User, UserName,
};
use hearth_services::automations::engine::ManualClock;
use hearth_services::notify::delivery::Delivery;
use hearth_services::notify::email::{EmailChannel, EmailConfig, EmailTls};
use hearth_services::notify::people::recipients;
use hearth_services::notify::push::{PushChannel, VapidKeys};
use hearth_services::notify::{Channel, Channels};
use hearth_services::outbound::HttpClient;
use hearth_store::Store;
use hearth_testkit::Backend;
use ring::{aead, agreement, hkdf, signature};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Only against a hang: nothing here waits for a time to pass.
const DEADLINE: Duration = Duration::from_secs(30);
/// 2024-01-01 12:00 UTC.
const NOON: i64 = 1_704_110_400_000;

fn audit(action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry::new("cli:test", action, target)
}

fn name(text: &str) -> UserName {
    UserName::new(text).unwrap()
}

/// Group `home` (in UTC) with `alice` (English) and `li` (简体中文), members.
async fn seed(store: &Arc<dyn Store>) -> GroupId {
    let home = GroupId::new("home").unwrap();
    store
        .create_group(
            &hearth_model::Group {
                id: home.clone(),
                name: "Home".into(),
                created_at_ms: NOON,
            },
            &audit("group.create", "home"),
        )
        .await
        .unwrap();
    store
        .set_group_place(
            &home,
            &GroupPlace {
                time_zone: Some("UTC".into()),
                ..GroupPlace::default()
            },
            &audit("group.place", "home"),
        )
        .await
        .unwrap();
    for (user, language) in [("alice", "en"), ("li", "zh-CN")] {
        store
            .create_user(
                &User {
                    name: name(user),
                    display_name: user.into(),
                    email: Some(format!("{user}@example.org")),
                    language: language.into(),
                    is_admin: false,
                    created_at_ms: NOON,
                },
                "hash",
                &audit("user.create", user),
            )
            .await
            .unwrap();
        store
            .set_member(
                &Membership {
                    group: home.clone(),
                    user: name(user),
                    role: Role::Member,
                },
                &audit("member.set", user),
            )
            .await
            .unwrap();
    }
    home
}

/// A stored rule and an open alert with `notifications` (built by `make` from the alert).
async fn open_alert(
    store: &Arc<dyn Store>,
    group: &GroupId,
    make: impl Fn(&Alert) -> Vec<Notification>,
) -> Alert {
    let rule = AlertRule {
        id: "ar-freezer".into(),
        spec: AlertRuleSpec {
            group: group.clone(),
            name: "Freezer too warm".into(),
            enabled: true,
            severity: Severity::Major,
            condition: AlertCondition::Reading {
                device: Some(hearth_model::DeviceId::new("freezer").unwrap()),
                metric: "temperature".into(),
                eq: None,
                ne: None,
                gt: Some(60.0),
                lt: None,
                between: None,
                hysteresis: None,
                for_secs: None,
            },
            devices: Vec::new(),
            kind: None,
            app: None,
            message: None,
            cooldown_secs: 900,
            notify: vec![ChannelTarget::Email { to: Vec::new() }],
        },
        created_by: "cli:test".into(),
        created_at_ms: NOON,
        updated_at_ms: NOON,
    };
    store
        .insert_alert_rule(&rule, &audit("alert_rule.create", &rule.id))
        .await
        .unwrap();
    let alert = Alert {
        id: "al-1".into(),
        rule: rule.id.clone(),
        rule_name: rule.spec.name.clone(),
        group: group.clone(),
        device: hearth_model::DeviceId::new("freezer").unwrap(),
        severity: Severity::Major,
        state: AlertState::Open,
        message: "freezer temperature is 80".into(),
        value: Some(json!(80)),
        opened_at_ms: NOON,
        last_seen_at_ms: NOON,
        repeats: 0,
        notified_at_ms: Some(NOON),
        last_told_at_ms: Some(NOON),
        acknowledged_by: None,
        acknowledged_at_ms: None,
        cleared_at_ms: None,
        cleared_by: None,
    };
    store.open_alert(&alert, &make(&alert)).await.unwrap();
    alert
}

fn notification(alert: &Alert, id: &str, channel: &str, target: Value) -> Notification {
    Notification {
        id: id.into(),
        alert: alert.id.clone(),
        group: alert.group.clone(),
        channel: channel.into(),
        target,
        event: "opened".into(),
        payload: json!({"event": "opened", "alert": alert, "message": alert.message,
            "rule": {"id": alert.rule, "name": alert.rule_name}, "group": alert.group,
            "device": alert.device, "severity": alert.severity, "at_ms": NOON}),
        state: NotificationState::Pending,
        attempts: Vec::new(),
        next_attempt_at_ms: NOON,
        created_at_ms: NOON,
    }
}

async fn recipients_follow_preferences(backend: Backend) {
    let test_store = hearth_testkit::test_store(backend).await;
    let store = test_store.store();
    let home = seed(&store).await;
    let to = |targets: Vec<Value>| -> Vec<String> {
        targets
            .iter()
            .map(|target| target["to"].as_str().unwrap().to_owned())
            .collect()
    };
    let email = |severity, at_ms| recipients(&*store, &home, severity, "email", at_ms);
    // Defaults: e-mail from major on.
    assert_eq!(to(email(Severity::Major, NOON).await.unwrap()).len(), 2);
    assert!(email(Severity::Minor, NOON).await.unwrap().is_empty());
    // Alice: everything by e-mail, quiet 22:00–07:00 (in the group's zone, UTC), in
    // 简体中文 although her account is English. Li: no e-mail.
    store
        .set_notification_prefs(
            &name("alice"),
            &NotificationPrefs {
                quiet_hours: Some(QuietHours {
                    start: "22:00".into(),
                    end: "07:00".into(),
                }),
                language: Some("zh-CN".into()),
                severities: hearth_model::SeverityFloors {
                    email: Severity::Warning,
                    ..Default::default()
                },
                ..NotificationPrefs::default()
            },
        )
        .await
        .unwrap();
    store
        .set_notification_prefs(
            &name("li"),
            &NotificationPrefs {
                email: false,
                ..NotificationPrefs::default()
            },
        )
        .await
        .unwrap();
    let targets = email(Severity::Warning, NOON).await.unwrap();
    assert_eq!(to(targets.clone()), ["alice@example.org"]);
    assert_eq!(targets[0]["language"], "zh-CN");
    assert_eq!(targets[0]["time_zone"], "UTC");
    let night = NOON + 11 * 3_600_000; // 23:00 UTC
    assert!(email(Severity::Major, night).await.unwrap().is_empty());
    assert_eq!(
        to(email(Severity::Critical, night).await.unwrap()),
        ["alice@example.org"],
        "critical ignores quiet hours"
    );
    // Quiet hours are the group's local time: 23:00 UTC is 07:00 in Shanghai.
    store
        .set_group_place(
            &home,
            &GroupPlace {
                time_zone: Some("Asia/Shanghai".into()),
                ..GroupPlace::default()
            },
            &audit("group.place", "home"),
        )
        .await
        .unwrap();
    assert_eq!(
        to(email(Severity::Major, night).await.unwrap()),
        ["alice@example.org"]
    );
}

hearth_testkit::both_backends_hub!(recipients_follow_preferences);

mod email;
mod lease;
mod push;
