//! The notification channels as `hearth serve` wires them (issue 15): with
//! `[notifications.email]` set, a pending e-mail notification in the outbox reaches an
//! SMTP sink (Python's aiosmtpd on a loopback port, installed by `.ci/run`); the VAPID
//! key pair is made at first start in the data directory (mode 0600), kept across a
//! restart, and its public half is what `GET /api/v1/push/key` serves to a logged-in
//! person.

use hearth_model::{
    Alert, AlertCondition, AlertRule, AlertRuleSpec, AlertState, DeviceId, GroupId, NewAuditEntry,
    Notification, NotificationState, Severity,
};
use hearth_services::notify::email::{EmailConfig, EmailTls};
use hearth_testkit::{ADMIN_PASSWORD, Backend, TestHub, start_hub_with};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Only against a hang.
const DEADLINE: Duration = Duration::from_secs(30);

const SINK: &str = r#"
import asyncio, json
from aiosmtpd.smtp import SMTP

class Sink:
    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({"to": envelope.rcpt_tos,
                          "data": envelope.content.decode("utf-8", "replace")}), flush=True)
        return "250 2.0.0 queued"

async def main():
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(Sink()), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

/// One HTTP/1.1 request on a fresh connection: status, headers and body.
async fn http(hub: &TestHub, request: String) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(hub.http()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (status, head.to_owned(), body.to_owned())
}

/// The admin's session cookie.
async fn login(hub: &TestHub) -> String {
    let body = json!({"username": "admin", "password": ADMIN_PASSWORD}).to_string();
    let origin = format!("http://{}", hub.http());
    let (status, head, body) = http(
        hub,
        format!(
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            hub.http(),
            body.len()
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    head.lines()
        .find_map(|line| {
            let value = line.strip_prefix("set-cookie: ")?;
            value
                .split(';')
                .next()?
                .strip_prefix("hearth_session=")
                .map(str::to_owned)
        })
        .expect("a session cookie")
}

async fn push_key(hub: &TestHub, cookie: Option<&str>) -> (u16, String) {
    let cookie = cookie
        .map(|value| format!("Cookie: hearth_session={value}\r\n"))
        .unwrap_or_default();
    let (status, _, body) = http(
        hub,
        format!(
            "GET /api/v1/push/key HTTP/1.1\r\nHost: {}\r\n{cookie}Connection: close\r\n\r\n",
            hub.http()
        ),
    )
    .await;
    (status, body)
}

fn audit(action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry::new("cli:test", action, target)
}

async fn a_hub_sends_e_mail_and_serves_its_push_key(backend: Backend) {
    let mut sink = tokio::process::Command::new("python3")
        .args(["-c", SINK])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let mut lines = BufReader::new(sink.stdout.take().unwrap()).lines();
    let port: u16 = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .expect("the sink prints its port (is aiosmtpd installed? .ci/run installs it)")
        .trim()
        .parse()
        .unwrap();
    let mut data_dir = std::path::PathBuf::new();
    let mut hub = start_hub_with(backend, |config| {
        data_dir = config.data_dir.clone();
        config.notifications.email = Some(EmailConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            tls: EmailTls::None,
            username: None,
            password: None,
            password_file: None,
            from: "hearth@example.org".into(),
            ca_file: None,
            link_base: None,
        });
    })
    .await;

    // The VAPID key: made at first start, private, served to people who logged in.
    let key_file = data_dir.join("vapid.pem");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(push_key(&hub, None).await.0, 401);
    let cookie = login(&hub).await;
    let (status, body) = push_key(&hub, Some(&cookie)).await;
    assert_eq!(status, 200, "{body}");
    let first: Value = serde_json::from_str(body.trim()).unwrap();
    let public_key = first["public_key"].as_str().unwrap().to_owned();
    assert_eq!(public_key.len(), 87, "65 bytes in base64url");

    // A pending e-mail in the outbox goes out through [notifications.email].
    let store = hub.store();
    let home = GroupId::new("home").unwrap();
    let freezer = DeviceId::new("freezer").unwrap();
    let now = hearth_model::now_millis();
    let rule = AlertRule {
        id: "ar-1".into(),
        spec: AlertRuleSpec {
            group: home.clone(),
            name: "Freezer too warm".into(),
            enabled: false,
            severity: Severity::Major,
            condition: AlertCondition::Offline {
                device: Some(freezer.clone()),
                for_secs: 60,
            },
            devices: Vec::new(),
            kind: None,
            app: None,
            message: None,
            cooldown_secs: 900,
            notify: Vec::new(),
        },
        created_by: "cli:test".into(),
        created_at_ms: now,
        updated_at_ms: now,
    };
    store
        .insert_alert_rule(&rule, &audit("alert_rule.create", "ar-1"))
        .await
        .unwrap();
    let alert = Alert {
        id: "al-1".into(),
        rule: rule.id.clone(),
        rule_name: rule.spec.name.clone(),
        group: home.clone(),
        device: freezer,
        severity: Severity::Major,
        state: AlertState::Open,
        message: "freezer is offline".into(),
        value: None,
        opened_at_ms: now,
        last_seen_at_ms: now,
        repeats: 0,
        notified_at_ms: Some(now),
        last_told_at_ms: Some(now),
        acknowledged_by: None,
        acknowledged_at_ms: None,
        cleared_at_ms: None,
        cleared_by: None,
    };
    let note = Notification {
        id: "n-1".into(),
        alert: alert.id.clone(),
        group: home,
        channel: "email".into(),
        target: json!({"to": "owner@example.org", "language": "en"}),
        event: "opened".into(),
        payload: json!({"event": "opened", "alert": alert, "message": alert.message,
            "rule": {"id": "ar-1", "name": "Freezer too warm"}, "severity": "major",
            "device": "freezer", "at_ms": now}),
        state: NotificationState::Pending,
        attempts: Vec::new(),
        next_attempt_at_ms: now,
        created_at_ms: now,
    };
    store.open_alert(&alert, &[note]).await.unwrap();
    let line = tokio::time::timeout(DEADLINE, lines.next_line())
        .await
        .expect("the hub's sender delivers the e-mail")
        .unwrap()
        .unwrap();
    let received: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(received["to"], json!(["owner@example.org"]));
    let data = received["data"].as_str().unwrap();
    assert!(
        data.contains("Subject: [Hearth] major: Freezer too warm"),
        "{data}"
    );
    assert!(data.contains("freezer is offline"), "{data}");

    // The same key after a restart.
    hub.restart().await;
    let cookie = login(&hub).await;
    let (status, body) = push_key(&hub, Some(&cookie)).await;
    assert_eq!(status, 200);
    let again: Value = serde_json::from_str(body.trim()).unwrap();
    assert_eq!(again["public_key"], public_key.as_str());
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_hub_sends_e_mail_and_serves_its_push_key);
