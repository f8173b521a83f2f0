//! E-mail through SMTP: an aiosmtpd sink receives what the sender delivers, a wrong
//! password fails for good, and STARTTLS and TLS go to a sink the `ca_file` vouches for.

use super::*;

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

hearth_testkit::both_backends_hub!(
    the_sender_delivers_e_mail_through_smtp,
    a_wrong_password_is_a_permanent_failure
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
