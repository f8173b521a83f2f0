//! The e-mail and Web Push channels against real counterparts on loopback (issue 15):
//! an SMTP sink (Python's aiosmtpd, which `.ci/run` installs) receives the e-mail of a
//! notification the sender task delivers from the store's outbox; a push-service
//! stand-in checks the VAPID signature with the hub's public key, decrypts the payload
//! with the subscription's private key (RFC 8291, written here again with ring, apart
//! from the hub's code) and reads the text, and a 410 deletes the subscription.
//! `people::recipients` follows people's preferences. Both backends. E-mail also goes
//! over STARTTLS and TLS to a sink whose certificate a test CA (`ca_file`) signed, and
//! not without that CA.

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
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

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

/// The SMTP sink: aiosmtpd on a free loopback port, printing one JSON line per message.
struct SmtpSink {
    port: u16,
    messages: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    _process: tokio::process::Child,
}

const SINK: &str = r#"
import asyncio, json, sys
from aiosmtpd.smtp import SMTP, AuthResult

class Sink:
    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                          "login": session.auth_data.login.decode() if session.auth_data else None,
                          "data": envelope.content.decode("utf-8", "replace")}), flush=True)
        return "250 2.0.0 queued as sink-1"

def check(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"hearth" and auth_data.password == b"s3cret pw"
    return AuthResult(success=ok, handled=False, auth_data=auth_data)

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Sink(), authenticator=check, auth_require_tls=False,
                     enable_SMTPUTF8=True),
        "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

impl SmtpSink {
    async fn start() -> SmtpSink {
        let mut process = tokio::process::Command::new("python3")
            .args(["-c", SINK])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs");
        let mut messages = BufReader::new(process.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(DEADLINE, messages.next_line())
            .await
            .expect("the sink starts")
            .unwrap()
            .expect("the sink prints its port (is aiosmtpd installed? .ci/run installs it)")
            .trim()
            .parse()
            .unwrap();
        SmtpSink {
            port,
            messages,
            _process: process,
        }
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(DEADLINE, self.messages.next_line())
            .await
            .expect("a message reaches the sink")
            .unwrap()
            .unwrap();
        serde_json::from_str(&line).unwrap()
    }
}

/// The decoded text of a MIME message's subject and body (lettre writes UTF-8 as
/// RFC 2047 words and the body as quoted-printable or base64).
fn decoded(message: &str) -> (String, String) {
    let (head, body) = message
        .split_once("\r\n\r\n")
        .or_else(|| message.split_once("\n\n"))
        .unwrap();
    let unfolded = head.replace("\r\n ", " ").replace("\n ", " ");
    let header = |wanted: &str| {
        unfolded
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.eq_ignore_ascii_case(wanted)
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_default()
    };
    // Whitespace between two encoded words is dropped (RFC 2047 §6.2), kept elsewhere.
    let mut subject = String::new();
    let mut previous_encoded = false;
    for word in header("subject").split(' ') {
        let encoded = word
            .strip_prefix("=?utf-8?b?")
            .or(word.strip_prefix("=?UTF-8?B?"));
        let adjacent_words = previous_encoded && encoded.is_some();
        if !subject.is_empty() && !adjacent_words {
            subject.push(' ');
        }
        match encoded {
            Some(rest) => subject.push_str(
                &String::from_utf8(
                    base64::engine::general_purpose::STANDARD
                        .decode(rest.trim_end_matches("?="))
                        .unwrap(),
                )
                .unwrap(),
            ),
            None => subject.push_str(word),
        }
        previous_encoded = encoded.is_some();
    }
    let body = match header("content-transfer-encoding")
        .to_ascii_lowercase()
        .as_str()
    {
        "base64" => String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(body.split_whitespace().collect::<String>())
                .unwrap(),
        )
        .unwrap(),
        "quoted-printable" => {
            let joined = body.replace("=\r\n", "").replace("=\n", "");
            let mut bytes = Vec::new();
            let mut rest = joined.as_bytes();
            while let Some((&first, tail)) = rest.split_first() {
                if first == b'=' && tail.len() >= 2 {
                    bytes.push(
                        u8::from_str_radix(std::str::from_utf8(&tail[..2]).unwrap(), 16).unwrap(),
                    );
                    rest = &tail[2..];
                } else {
                    bytes.push(first);
                    rest = tail;
                }
            }
            String::from_utf8(bytes).unwrap()
        }
        _ => body.to_owned(),
    };
    (subject, body.replace("\r\n", "\n"))
}

fn email_config(port: u16, password_file: &std::path::Path) -> EmailConfig {
    EmailConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: EmailTls::None,
        username: Some("hearth".into()),
        password: None,
        password_file: Some(password_file.to_owned()),
        from: "Hearth <hearth@example.org>".into(),
        ca_file: None,
        link_base: Some("https://hub.example".into()),
    }
}

async fn the_sender_delivers_e_mail_through_smtp(backend: Backend) {
    let test_store = hearth_testkit::test_store(backend).await;
    let store = test_store.store();
    let home = seed(&store).await;
    let mut sink = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("smtp-password");
    std::fs::write(&password_file, "s3cret pw\n").unwrap();
    let channel = EmailChannel::from_config(&email_config(sink.port, &password_file)).unwrap();

    // The targets as the engine asks for them: both members, each in their language.
    let targets = recipients(&*store, &home, Severity::Major, "email", NOON)
        .await
        .unwrap();
    assert_eq!(targets.len(), 2, "{targets:?}");
    let alert = open_alert(&store, &home, |alert| {
        targets
            .iter()
            .enumerate()
            .map(|(index, target)| {
                notification(alert, &format!("n-{index}"), "email", target.clone())
            })
            .collect()
    })
    .await;

    let mut channels = Channels::new(HttpClient::default());
    channels.add("email", Arc::new(channel));
    let clock = Arc::new(ManualClock::new(NOON));
    let delivery = Delivery::start(store.clone(), channels, clock);
    delivery.wake();
    let mut received = [sink.next().await, sink.next().await];
    received.sort_by_key(|message| message["to"][0].as_str().unwrap_or_default().to_owned());

    assert_eq!(received[0]["to"], json!(["alice@example.org"]));
    assert_eq!(received[0]["from"], "hearth@example.org");
    assert_eq!(received[0]["login"], "hearth");
    let (subject, body) = decoded(received[0]["data"].as_str().unwrap());
    assert_eq!(subject, "[Hearth] major: Freezer too warm");
    assert_eq!(
        body.trim_end(),
        "freezer temperature is 80\n\nDevice: freezer\nValue: 80\nSeverity: major\n\
         Time: 2024-01-01 12:00:00 (UTC+00)\nOpen: https://hub.example/alerts/al-1"
    );
    assert_eq!(received[1]["to"], json!(["li@example.org"]));
    let (subject, body) = decoded(received[1]["data"].as_str().unwrap());
    assert_eq!(subject, "【Hearth】重要：Freezer too warm");
    assert!(
        body.contains("设备：freezer\n数值：80\n级别：重要\n"),
        "{body}"
    );

    // Both recorded as sent with the sink's answer.
    let mut sent = Vec::new();
    for _ in 0..300 {
        sent = store.notifications_of(&alert.id).await.unwrap();
        if sent
            .iter()
            .all(|note| note.state == NotificationState::Sent)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for note in &sent {
        assert_eq!(note.state, NotificationState::Sent, "{note:?}");
        assert!(
            note.attempts[0]["answer"]
                .as_str()
                .unwrap()
                .starts_with("250"),
            "{:?}",
            note.attempts
        );
    }
    delivery.shutdown().await;
}

async fn a_wrong_password_is_a_permanent_failure(backend: Backend) {
    let test_store = hearth_testkit::test_store(backend).await;
    let store = test_store.store();
    let home = seed(&store).await;
    let sink = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("smtp-password");
    std::fs::write(&password_file, "wrong").unwrap();
    let channel = EmailChannel::from_config(&email_config(sink.port, &password_file)).unwrap();
    let alert = open_alert(&store, &home, |_| Vec::new()).await;
    let note = notification(&alert, "n-x", "email", json!({"to": "alice@example.org"}));
    let failure = channel.deliver(&note).await.unwrap_err();
    assert!(failure.permanent, "{failure:?}");
}

/// One request as the push service stand-in read it.
struct PushRequest {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl PushRequest {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .unwrap_or_default()
    }
}

/// Answers each POST with the next of `statuses`; sends what it read.
async fn push_service(
    statuses: Vec<u16>,
) -> (u16, tokio::sync::mpsc::UnboundedReceiver<PushRequest>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (requests, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        for status in statuses {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 8192];
            let (headers, body) = loop {
                let n = socket.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..n]);
                let Some(end) = request.windows(4).position(|window| window == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&request[..end]).to_string();
                let headers: Vec<(String, String)> = head
                    .lines()
                    .skip(1)
                    .filter_map(|line| {
                        let (key, value) = line.split_once(':')?;
                        Some((key.trim().to_owned(), value.trim().to_owned()))
                    })
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(key, _)| key.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, value)| value.parse().ok())
                    .unwrap_or(0);
                if request.len() >= end + 4 + length {
                    break (headers, request[end + 4..end + 4 + length].to_vec());
                }
            };
            let _ = requests.send(PushRequest { headers, body });
            let answer =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            socket.write_all(answer.as_bytes()).await.unwrap();
        }
    });
    (port, received)
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf_sha256(salt: &[u8], secret: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    hkdf::Salt::new(hkdf::HKDF_SHA256, salt)
        .extract(secret)
        .expand(&[info], Len(len))
        .unwrap()
        .fill(&mut out)
        .unwrap();
    out
}

/// RFC 8291 decryption, as a browser does it.
fn decrypt(
    body: &[u8],
    browser_private: agreement::EphemeralPrivateKey,
    browser_public: &[u8],
    auth: &[u8],
) -> Vec<u8> {
    let salt = &body[..16];
    let record_size = u32::from_be_bytes(body[16..20].try_into().unwrap());
    assert_eq!(record_size, 4096);
    let key_length = body[20] as usize;
    assert_eq!(key_length, 65);
    let server_public = &body[21..21 + key_length];
    let ciphertext = &body[21 + key_length..];
    let shared = agreement::agree_ephemeral(
        browser_private,
        &agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, server_public),
        |secret| secret.to_vec(),
    )
    .unwrap();
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(browser_public);
    key_info.extend_from_slice(server_public);
    let ikm = hkdf_sha256(auth, &shared, &key_info, 32);
    let cek = hkdf_sha256(salt, &ikm, b"Content-Encoding: aes128gcm\0", 16);
    let nonce = hkdf_sha256(salt, &ikm, b"Content-Encoding: nonce\0", 12);
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &cek).unwrap());
    let mut record = ciphertext.to_vec();
    let plain = key
        .open_in_place(
            aead::Nonce::try_assume_unique_for_key(&nonce).unwrap(),
            aead::Aad::empty(),
            &mut record,
        )
        .expect("the payload decrypts with the subscription's keys");
    // Strip the padding and the last record's delimiter (2).
    let end = plain.iter().rposition(|byte| *byte != 0).unwrap();
    assert_eq!(plain[end], 2, "one last record");
    plain[..end].to_vec()
}

async fn web_push_is_encrypted_signed_and_gone_subscriptions_removed(backend: Backend) {
    let test_store = hearth_testkit::test_store(backend).await;
    let store = test_store.store();
    let home = seed(&store).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(VapidKeys::load_or_create(&dir.path().join("vapid.pem")).unwrap());
    let (port, mut requests) = push_service(vec![201, 410]).await;

    // The browser's keys, made here as a browser makes them.
    let rng = ring::rand::SystemRandom::new();
    let browser_private =
        agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng).unwrap();
    let browser_public = browser_private
        .compute_public_key()
        .unwrap()
        .as_ref()
        .to_vec();
    let auth: [u8; 16] = *b"sixteen-byte-sec";
    let endpoint = format!("http://127.0.0.1:{port}/push/v1/li-phone");
    store
        .put_push_subscription(&PushSubscription {
            id: "ps-1".into(),
            user: name("li"),
            endpoint: endpoint.clone(),
            p256dh: URL_SAFE_NO_PAD.encode(&browser_public),
            auth: URL_SAFE_NO_PAD.encode(auth),
            created_at_ms: NOON,
        })
        .await
        .unwrap();
    let targets = recipients(&*store, &home, Severity::Major, "push", NOON)
        .await
        .unwrap();
    assert_eq!(targets.len(), 1, "alice has no subscription: {targets:?}");
    assert_eq!(targets[0]["language"], "zh-CN");
    let alert = open_alert(&store, &home, |_| Vec::new()).await;
    let note = notification(&alert, "n-push", "push", targets[0].clone());
    let channel = PushChannel::new(
        store.clone(),
        HttpClient::default(),
        keys.clone(),
        "mailto:admin@example.org".into(),
        3600,
    );

    assert_eq!(channel.deliver(&note).await.unwrap(), "HTTP 201");
    let request = tokio::time::timeout(DEADLINE, requests.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.header("content-encoding"), "aes128gcm");
    assert_eq!(request.header("content-type"), "application/octet-stream");
    assert_eq!(request.header("ttl"), "3600");
    // VAPID: the JWT is signed by the key the web app was given, for this origin.
    let authorization = request.header("authorization");
    let rest = authorization.strip_prefix("vapid t=").unwrap();
    let (token, key) = rest.split_once(", k=").unwrap();
    assert_eq!(key, keys.public_key());
    let (signed, signature) = token.rsplit_once('.').unwrap();
    signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_FIXED,
        URL_SAFE_NO_PAD.decode(key).unwrap(),
    )
    .verify(
        signed.as_bytes(),
        &URL_SAFE_NO_PAD.decode(signature).unwrap(),
    )
    .expect("the VAPID signature verifies with the hub's public key");
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(signed.split_once('.').unwrap().1)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], format!("http://127.0.0.1:{port}"));
    assert_eq!(claims["sub"], "mailto:admin@example.org");
    // The payload, decrypted with the subscription's private key.
    let plain = decrypt(&request.body, browser_private, &browser_public, &auth);
    let shown: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(shown["title"], "【Hearth】重要：Freezer too warm");
    assert_eq!(shown["body"], "freezer temperature is 80");
    assert_eq!(shown["url"], "/alerts/al-1");
    assert_eq!(shown["alert"], "al-1");

    // The push service says the subscription is gone: deleted, and no retry.
    let failure = channel.deliver(&note).await.unwrap_err();
    assert!(failure.permanent, "{failure:?}");
    assert!(
        store
            .push_subscriptions(&name("li"))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        recipients(&*store, &home, Severity::Major, "push", NOON)
            .await
            .unwrap()
            .is_empty()
    );
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

hearth_testkit::both_backends_hub!(
    the_sender_delivers_e_mail_through_smtp,
    a_wrong_password_is_a_permanent_failure,
    web_push_is_encrypted_signed_and_gone_subscriptions_removed,
    recipients_follow_preferences
);

/// A test CA and a certificate for `localhost` it signed, made with `openssl` (which
/// `.ci/run` installs): `(ca.pem, leaf.pem, leaf.key)` in `dir`.
fn certificates(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let status = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl {args:?}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=Hearth test CA",
            "-days",
            "2",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("leaf.pem"),
        dir.join("leaf.key"),
    )
}

/// An aiosmtpd sink speaking STARTTLS (required) or TLS from the first byte.
const TLS_SINK: &str = r#"
import asyncio, json, ssl, sys
from aiosmtpd.smtp import SMTP

mode, cert, key = sys.argv[1], sys.argv[2], sys.argv[3]
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)

class Sink:
    async def handle_DATA(self, server, session, envelope):
        print(json.dumps({"to": envelope.rcpt_tos, "tls": session.ssl is not None
                          or server.transport.get_extra_info("ssl_object") is not None}),
              flush=True)
        return "250 2.0.0 queued"

async def main():
    loop = asyncio.get_running_loop()
    if mode == "starttls":
        server = await loop.create_server(
            lambda: SMTP(Sink(), tls_context=context, require_starttls=True), "127.0.0.1", 0)
    else:
        server = await loop.create_server(lambda: SMTP(Sink()), "127.0.0.1", 0, ssl=context)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

#[tokio::test]
async fn e_mail_goes_over_starttls_and_tls_to_a_server_the_ca_file_vouches_for() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, leaf, key) = certificates(dir.path());
    let group = GroupId::new("home").unwrap();
    let alert = Alert {
        id: "al-tls".into(),
        rule: "ar-1".into(),
        rule_name: "Freezer too warm".into(),
        group,
        device: hearth_model::DeviceId::new("freezer").unwrap(),
        severity: Severity::Major,
        state: AlertState::Open,
        message: "freezer temperature is 80".into(),
        value: None,
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
    let note = notification(&alert, "n-tls", "email", json!({"to": "alice@example.org"}));
    for (mode, tls) in [("starttls", EmailTls::Starttls), ("tls", EmailTls::Tls)] {
        let mut process = tokio::process::Command::new("python3")
            .args(["-c", TLS_SINK, mode])
            .arg(&leaf)
            .arg(&key)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs");
        let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
        let port: u16 = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("the sink prints its port")
            .trim()
            .parse()
            .unwrap();
        let config = |ca_file: Option<std::path::PathBuf>| EmailConfig {
            host: "localhost".into(),
            port: Some(port),
            tls,
            username: None,
            password: None,
            password_file: None,
            from: "hearth@example.org".into(),
            ca_file,
            link_base: None,
        };
        // Without the CA the certificate is not trusted: nothing is sent.
        let untrusted = EmailChannel::from_config(&config(None)).unwrap();
        let failure = untrusted.deliver(&note).await.unwrap_err();
        assert!(
            failure.message.to_lowercase().contains("certificate"),
            "{mode}: {failure:?}"
        );
        let trusted = EmailChannel::from_config(&config(Some(ca.clone()))).unwrap();
        let answer = trusted.deliver(&note).await.unwrap();
        assert!(answer.starts_with("250"), "{mode}: {answer}");
        let line = tokio::time::timeout(DEADLINE, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let received: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(received["to"], json!(["alice@example.org"]), "{mode}");
        assert_eq!(received["tls"], true, "{mode}: the message went encrypted");
    }
}
