//! The `hearth` binary as users and scripts run it: real process, real sockets,
//! mosquitto clients.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const DEADLINE: Duration = Duration::from_secs(20);

fn hearth() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hearth"));
    command.kill_on_drop(true).env_remove("HEARTH_LOG");
    command
}

/// Starts `hearth serve` on ephemeral ports and returns the child and its MQTT port.
async fn serve(data_dir: &Path, extra: &[&str]) -> (Child, u16) {
    let mut command = hearth();
    command
        .args([
            "serve",
            "--print-addrs",
            "--mqtt",
            "127.0.0.1:0",
            "--ws",
            "127.0.0.1:0",
            "--http",
            "off",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .args(extra)
        .current_dir(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().expect("hearth starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut port = None;
    tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("mqtt=") {
                port = Some(addr.rsplit(':').next().unwrap().parse::<u16>().unwrap());
            }
            if line == "ready" {
                break;
            }
        }
    })
    .await
    .expect("hearth prints its addresses");
    (child, port.expect("an mqtt= line"))
}

async fn output(mut command: Command) -> std::process::Output {
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    tokio::time::timeout(DEADLINE, command.output())
        .await
        .expect("finishes")
        .expect("runs")
}

fn mosquitto(program: &str, port: u16, args: &[&str]) -> Command {
    let mut command = Command::new(program);
    command
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args);
    command
}

fn sigterm(child: &Child) {
    let pid = child.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn serve_routes_mosquitto_clients_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port) = serve(dir.path(), &["--allow-anonymous"]).await;
    let subscriber = mosquitto(
        "mosquitto_sub",
        port,
        &["-t", "home/#", "-C", "1", "-W", "10", "-v"],
    )
    .stdout(Stdio::piped())
    .kill_on_drop(true)
    .spawn()
    .unwrap();
    // Publish until the subscriber (which may still be connecting) has its message.
    let wait = tokio::spawn(async move { subscriber.wait_with_output().await.unwrap() });
    let mut received = None;
    for _ in 0..50 {
        let published = output(mosquitto(
            "mosquitto_pub",
            port,
            &["-t", "home/kitchen/temp", "-m", "21.5"],
        ))
        .await;
        assert!(
            published.status.success(),
            "{}",
            String::from_utf8_lossy(&published.stderr)
        );
        if wait.is_finished() {
            received = Some(wait.await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = received.expect("the subscriber got a message");
    assert_eq!(
        String::from_utf8_lossy(&received.stdout).trim(),
        "home/kitchen/temp 21.5"
    );

    sigterm(&child);
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "hearth exited with {status}");
    assert!(dir.path().exists());
}

#[tokio::test]
async fn a_bad_config_file_is_named_with_its_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hearth.toml");
    std::fs::write(
        &config,
        "data_dir = \"data\"\n[mqtt]\nlisten = \"127.0.0.1:0\"\nmax_clients = 5\n",
    )
    .unwrap();
    let mut command = hearth();
    command.arg("serve").arg("--config").arg(&config);
    let result = output(command).await;
    assert_eq!(result.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("hearth.toml"), "{stderr}");
    assert!(stderr.contains("line 4"), "{stderr}");
    assert!(stderr.contains("max_clients"), "{stderr}");
}

#[tokio::test]
async fn a_bad_listen_address_is_a_usage_error() {
    let mut command = hearth();
    command.args(["serve", "--mqtt", "localhost-ish"]);
    let result = output(command).await;
    assert_eq!(result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&result.stderr).contains("localhost-ish"));
}

#[tokio::test]
async fn without_anonymous_access_only_users_in_the_password_file_connect() {
    let dir = tempfile::tempdir().unwrap();
    let passwords = dir.path().join("broker.passwd");
    let mut passwd = hearth();
    passwd
        .arg("passwd")
        .arg(&passwords)
        .arg("alice")
        .stdin(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = passwd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .await
        .unwrap();
    assert!(child.wait().await.unwrap().success());
    let text = std::fs::read_to_string(&passwords).unwrap();
    assert!(text.starts_with("alice:$argon2id$"), "{text}");
    assert!(!text.contains("correct horse"));

    let password_file = passwords.to_str().unwrap();
    let (mut server, port) = serve(dir.path(), &["--password-file", password_file]).await;
    let good = output(mosquitto(
        "mosquitto_pub",
        port,
        &["-t", "t", "-m", "x", "-u", "alice", "-P", "correct horse"],
    ))
    .await;
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let bad = output(mosquitto(
        "mosquitto_pub",
        port,
        &["-t", "t", "-m", "x", "-u", "alice", "-P", "wrong"],
    ))
    .await;
    assert!(!bad.status.success());
    let anonymous = output(mosquitto("mosquitto_pub", port, &["-t", "t", "-m", "x"])).await;
    assert!(!anonymous.status.success());
    server.kill().await.unwrap();
}

#[tokio::test]
async fn logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = hearth();
    command
        .args([
            "serve",
            "--print-addrs",
            "--allow-anonymous",
            "--mqtt",
            "127.0.0.1:0",
            "--ws",
            "off",
            "--http",
            "off",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .env_remove("NO_COLOR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("hearth starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(DEADLINE, async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if line == "ready" {
                break;
            }
        }
    })
    .await
    .expect("hearth becomes ready");
    sigterm(&child);
    let output = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("hearth stops")
        .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    // The anonymous-access warning at least was logged, at WARN level.
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("anonymous"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "colour codes in piped logs: {logs:?}"
    );
}

#[tokio::test]
async fn anonymous_clients_follow_the_acl_files_anonymous_section_without_a_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let acl = dir.path().join("broker.acl");
    std::fs::write(&acl, "topic read public/#\n").unwrap();
    let acl = acl.to_str().unwrap().to_owned();
    let (_child, port) = serve(dir.path(), &["--allow-anonymous", "--acl-file", &acl]).await;
    let sub = |filter: &'static str| {
        output(mosquitto(
            "mosquitto_sub",
            port,
            &["-t", filter, "-C", "1", "-W", "2"],
        ))
    };
    let secret = sub("secret/#").await;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&secret.stdout),
        String::from_utf8_lossy(&secret.stderr)
    );
    assert!(said.contains("denied"), "secret/# was granted: {said}");
    // The anonymous section grants public/#: the subscriber waits, then times out.
    let public = sub("public/#").await;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&public.stdout),
        String::from_utf8_lossy(&public.stderr)
    );
    assert!(!said.contains("denied"), "public/# was refused: {said}");
    assert!(said.contains("Timed out"), "{said}");
}
