//! Running third-party clients against a [`TestBroker`]: the Python paho-mqtt scenarios in
//! tests/clients, Debian's mosquitto_pub and mosquitto_sub, and a broker with TLS.
//!
//! The tools are required, not optional: a test that skipped itself when paho or mosquitto
//! is missing would pass without checking anything. `README.md` says how to install them.

use super::{TestBroker, run_command};
use hearth_broker::{BrokerConfig, TlsConfig};
use hearth_bus::AllowAll;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;

/// How long one client script may run. Scripts have their own, shorter watchdog (30 s)
/// and report what they were waiting for; this one only catches a wedged interpreter.
pub const SCRIPT_DEADLINE: Duration = Duration::from_secs(60);

/// How long a test waits for something the broker should do soon.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// `python3 tests/clients/<script> --port <port> <args...>`.
pub fn python(script: &str, port: u16, args: &[&str]) -> Command {
    let mut command = Command::new("python3");
    command
        .arg(super::client_script(script))
        .arg("--port")
        .arg(port.to_string())
        .args(args);
    command
}

/// Runs a client script to completion and returns the JSON it printed. Panics with the
/// script's own explanation (stderr) if it failed.
pub async fn run_script(script: &str, port: u16, args: &[&str]) -> Value {
    let (ok, stdout, stderr) = run_command(python(script, port, args), SCRIPT_DEADLINE).await;
    assert!(ok, "{script} {args:?} failed:\n{stderr}\nstdout: {stdout}");
    parse_json(&stdout)
}

/// Parses the last non-empty line of a script's stdout.
pub fn parse_json(stdout: &str) -> Value {
    let line = stdout
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(line)
        .unwrap_or_else(|error| panic!("script printed no JSON ({error}): {stdout:?}"))
}

/// A `mosquitto_pub`/`mosquitto_sub` command aimed at the broker's plain TCP port.
pub fn mosquitto(program: &str, port: u16) -> Command {
    let mut command = Command::new(program);
    command.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    command
}

/// Runs a mosquitto command and returns its stdout; panics with stderr on failure.
pub async fn run_mosquitto(command: Command) -> String {
    let description = format!("{command:?}");
    let (ok, stdout, stderr) = run_command(command, SCRIPT_DEADLINE).await;
    assert!(ok, "{description} failed:\n{stderr}\nstdout: {stdout}");
    stdout
}

/// The payloads of the message records in `messages` (a JSON array), in order.
pub fn payloads(messages: &Value) -> Vec<String> {
    records(messages)
        .iter()
        .map(|message| text(&message["payload"]))
        .collect()
}

/// The elements of a JSON array; panics if `value` is not one.
pub fn records(value: &Value) -> &Vec<Value> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected a JSON array, got {value}"))
}

pub fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a JSON string, got {value}"))
        .to_owned()
}

/// Waits until the broker's statistics satisfy `condition`; panics naming `what`.
pub async fn wait_for_stats(
    broker: &TestBroker,
    what: &str,
    condition: impl Fn(&hearth_broker::StatsSnapshot) -> bool,
) {
    let handle = broker.handle.clone();
    let condition = &condition;
    let reached = super::eventually(DEADLINE, || {
        let handle = handle.clone();
        async move { handle.stats().await.is_ok_and(|stats| condition(&stats)) }
    })
    .await;
    assert!(
        reached,
        "timed out waiting for {what}: {:?}",
        broker.handle.stats().await
    );
}

/// A self-signed certificate for 127.0.0.1 and localhost, written to a temporary directory
/// that lives as long as this value.
pub struct TlsFiles {
    pub dir: tempfile::TempDir,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    pub fn generate() -> TlsFiles {
        let generated = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .expect("rcgen generates a certificate");
        let dir = tempfile::tempdir().expect("temporary directory");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, generated.cert.pem()).expect("certificate written");
        std::fs::write(&key, generated.signing_key.serialize_pem()).expect("key written");
        TlsFiles { dir, cert, key }
    }

    /// The certificate, as the CA file a client trusts.
    pub fn cafile(&self) -> &str {
        self.cert.to_str().expect("temporary path is UTF-8")
    }
}

impl TestBroker {
    /// Every listener, TLS and secure WebSocket included, on 127.0.0.1:0.
    pub async fn start_tls(files: &TlsFiles) -> TestBroker {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut config = BrokerConfig::ephemeral();
        config.tls = Some(TlsConfig::new(files.cert.clone(), files.key.clone()));
        config.tls_listen = Some(any_port);
        config.wss_listen = Some(any_port);
        TestBroker::start_with(config, Arc::new(AllowAll)).await
    }

    pub fn mqtts(&self) -> SocketAddr {
        self.addrs.mqtts.expect("TLS listener")
    }

    pub fn wss(&self) -> SocketAddr {
        self.addrs.wss.expect("secure WebSocket listener")
    }
}
