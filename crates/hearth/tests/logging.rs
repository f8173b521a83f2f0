//! The real binary's logs (issue 16): `--log-format json` writes one JSON object per
//! line on stderr, and `PUT /api/v1/admin/log-level` changes the filter of the running
//! process (the reload handle behind the API's `LogLevels` seam).

use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const DEADLINE: Duration = Duration::from_secs(30);
const PASSWORD: &str = "log-test-password-1";

/// A running `hearth serve` with its stderr lines collected as they come.
struct Hub {
    child: Child,
    http: String,
    stderr: Arc<Mutex<Vec<String>>>,
    collector: tokio::task::JoinHandle<()>,
}

async fn serve(dir: &Path, extra: &[&str]) -> Hub {
    std::fs::write(dir.join("pw"), PASSWORD).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .kill_on_drop(true)
        .env_remove("HEARTH_LOG")
        .env_remove("HEARTH_LOG_FORMAT")
        .args(extra)
        .args(["serve", "--print-addrs", "--http", "127.0.0.1:0"])
        .args(["--mqtt", "127.0.0.1:0", "--ws", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--admin-password-file")
        .arg(dir.join("pw"))
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hearth starts");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let sink = stderr.clone();
    let mut err_lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let collector = tokio::spawn(async move {
        while let Ok(Some(line)) = err_lines.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut http = None;
    tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("http=") {
                http = Some(addr.to_owned());
            }
            if line == "ready" {
                break;
            }
        }
    })
    .await
    .expect("hearth prints its addresses");
    Hub {
        child,
        http: http.expect("an http= line"),
        stderr,
        collector,
    }
}

impl Hub {
    /// Stops the hub with SIGTERM and returns every stderr line it wrote.
    async fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().expect("running") as i32;
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("the hub stops on SIGTERM")
            .unwrap();
        assert!(status.success(), "{status:?}");
        let _ = tokio::time::timeout(DEADLINE, self.collector).await;
        std::mem::take(&mut *self.stderr.lock().unwrap())
    }

    /// One HTTP/1.1 request on a fresh connection: (status, head, body).
    async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String) {
        let mut stream = tokio::net::TcpStream::connect(&self.http).await.unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.http,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_owned(), body.to_owned())
    }

    /// Logs in as the owner; the `Cookie` header value.
    async fn admin_cookie(&self) -> String {
        let body = format!(r#"{{"username":"admin","password":"{PASSWORD}"}}"#);
        let (status, head, _) = self
            .request(
                "POST",
                "/api/v1/auth/login",
                &[("Content-Type", "application/json")],
                &body,
            )
            .await;
        assert_eq!(status, 200, "{head}");
        let cookie = head
            .lines()
            .find_map(|line| line.strip_prefix("set-cookie: "))
            .expect("a session cookie");
        cookie.split(';').next().unwrap().to_owned()
    }
}

#[tokio::test]
async fn json_logs_are_json_lines_and_the_filter_changes_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let hub = serve(dir.path(), &["--log-format", "json", "--log", "info"]).await;
    let cookie = hub.admin_cookie().await;
    let origin = format!("http://{}", hub.http);
    let headers = [
        ("Cookie", cookie.as_str()),
        ("Origin", origin.as_str()),
        ("Content-Type", "application/json"),
    ];
    let (status, _, body) = hub
        .request("GET", "/api/v1/admin/log-level", &headers, "")
        .await;
    assert_eq!(status, 200, "{body}");
    let current: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(current["filter"], "info");

    // Nothing at debug yet; then debug for everything, and a request to log something.
    let debug_before = hub
        .stderr
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains(r#""level":"DEBUG""#))
        .count();
    assert_eq!(debug_before, 0);
    let (status, _, body) = hub
        .request(
            "PUT",
            "/api/v1/admin/log-level",
            &headers,
            r#"{"filter":"debug"}"#,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = hub
        .request(
            "PUT",
            "/api/v1/admin/log-level",
            &headers,
            r#"{"filter":"info,hearth=loud"}"#,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains(r#""field":"filter""#), "{body}");
    for _ in 0..3 {
        hub.request("GET", "/api/v1/devices", &headers, "").await;
    }
    let (_, _, body) = hub
        .request("GET", "/api/v1/admin/log-level", &headers, "")
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["filter"],
        "debug"
    );

    let lines = hub.stop().await;
    assert!(!lines.is_empty());
    let mut levels = Vec::new();
    for line in &lines {
        let event: Value = serde_json::from_str(line)
            .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line:?}"));
        assert!(event["timestamp"].is_string(), "{line}");
        assert!(event["target"].is_string(), "{line}");
        assert!(event["fields"].is_object(), "{line}");
        levels.push(event["level"].as_str().unwrap().to_owned());
    }
    assert!(levels.iter().any(|level| level == "DEBUG"), "{lines:#?}");
    assert!(
        lines.iter().any(|line| line.contains("log filter changed")),
        "the change is logged"
    );
}

#[tokio::test]
async fn text_logs_are_plain_lines_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let hub = serve(dir.path(), &[]).await;
    let lines = hub.stop().await;
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(serde_json::from_str::<Value>(line).is_err(), "{line}");
        assert!(!line.contains('\u{1b}'), "no colours in a pipe: {line:?}");
    }
    assert!(lines.iter().any(|line| line.contains("INFO")), "{lines:#?}");
}

/// `systemctl reload hearth` sends SIGHUP. A hub with no certificate to re-read must
/// take it and go on (the signal's default action would end the process), and say so
/// at debug level.
#[tokio::test]
async fn sighup_does_not_end_a_hub_without_tls() {
    let dir = tempfile::tempdir().unwrap();
    let hub = serve(dir.path(), &["--log", "info,hearth=debug"]).await;
    let pid = hub.child.id().expect("running") as i32;
    for _ in 0..2 {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(pid, libc::SIGHUP) };
    }
    let logged = tokio::time::timeout(DEADLINE, async {
        loop {
            if hub
                .stderr
                .lock()
                .unwrap()
                .iter()
                .any(|line| line.contains("SIGHUP received"))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(logged.is_ok(), "the hub logs the SIGHUP it took");
    let (status, _, body) = hub.request("GET", "/healthz", &[], "").await;
    assert_eq!(status, 200, "still serving after SIGHUP: {body}");
    // `stop` asserts that SIGTERM still ends it cleanly (exit status 0).
    hub.stop().await;
}
