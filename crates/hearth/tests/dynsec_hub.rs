//! `hearth serve` with `[dynsec]` keeps Debian's Mosquitto (dynamic-security plugin,
//! started by the test) in step with the registry, and `hearth device broker-password`
//! prints what a device logs in to Mosquitto with (issue 21, docs/scale.md "Mosquitto
//! dynamic security"). The real binary, the real broker, a real MQTT client.

// `both_backends!` is not used: the hub runs as a child process on SQLite here.
#[allow(unused_macros)]
mod admin;
// The broker and client of hearth-services' dynsec tests.
#[allow(dead_code)]
#[path = "../../hearth-services/tests/dynsec/harness.rs"]
mod dynsec_harness;

use dynsec_harness::{ADMIN, ADMIN_PASSWORD, Client, Login, Mosquitto, WAIT};
use std::process::{Child, Stdio};

/// `hearth serve` as a child process, killed (by its PID) when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The HTTP address `--print-addrs` gives (read up to its `ready` line).
fn http_addr(child: &mut Child) -> std::net::SocketAddr {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("stdout piped");
    let mut http = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("hearth serve's output");
        if let Some(addr) = line.strip_prefix("http=") {
            http = Some(addr.parse().expect("an address"));
        }
        if line == "ready" {
            break;
        }
    }
    http.expect("hearth serve printed its HTTP address")
}

/// A plain HTTP/1.0 GET; the body.
fn get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// Tries the login until the sync has written it (or the wait is over; then the hub's
/// log in `log` says why).
async fn login_when_synced(port: u16, id: &str, password: &str, log: &std::path::Path) -> Client {
    login_when_synced_as(port, id, id, password, log).await
}

/// [`login_when_synced`] with a client id other than the user name.
async fn login_when_synced_as(
    port: u16,
    client_id: &str,
    id: &str,
    password: &str,
    log: &std::path::Path,
) -> Client {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match Client::connect(port, client_id, id, password).await {
            Login::Accepted(client) => return client,
            Login::Refused(code) => assert!(
                tokio::time::Instant::now() < deadline,
                "{id} still refused ({code:?}): the hub did not sync; its log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Whether the next message `client` receives is on `topic`.
async fn next_is(client: &mut Client, topic: &str) -> bool {
    loop {
        match client.next_packet().await {
            Some(rumqttc::v5::mqttbytes::v5::Packet::Publish(publish)) => {
                return publish.topic == topic.as_bytes();
            }
            Some(_) => {}
            None => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_keeps_mosquitto_in_step_and_prints_broker_passwords() {
    let mosquitto = Mosquitto::start();
    // Not `home`: the hub's first start makes that group with its owner.
    let hub = admin::Hub::sqlite();
    hub.ok(&["group", "add", "house"]);
    hub.ok(&["app", "add", "lights", "--group", "house"]);
    hub.ok(&["device", "add", "lamp", "--app", "lights"]);
    hub.ok(&["site", "add", "home-1", "--group", "house"]);

    // Without [dynsec] there is no broker password to print.
    let error = hub.json_error(&["device", "broker-password", "lamp"]);
    assert_eq!(error["field"], "dynsec", "{error}");

    let password_file = hub.path("dynsec-admin");
    std::fs::write(&password_file, ADMIN_PASSWORD).unwrap();
    let config = hub.path("hearth.toml");
    std::fs::write(
        &config,
        format!(
            "[dynsec]\nurl = \"mqtt://127.0.0.1:{}\"\nadmin = \"{ADMIN}\"\npassword_file = \"{}\"\n",
            mosquitto.port,
            password_file.display()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let error = hub.json_error(&["--config", &config, "device", "broker-password", "nothing"]);
    assert_eq!(error["code"], "not_found", "{error}");

    let log = hub.path("serve.log");
    let mut serve = Serve(
        admin::hearth(hub.dir.path())
            .args(&hub.store_args)
            .args(["--config", &config, "serve", "--print-addrs"])
            .args([
                "--mqtt",
                "127.0.0.1:0",
                "--ws",
                "off",
                "--http",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("hearth serve starts"),
    );
    let http = http_addr(&mut serve.0);
    let shown = hub.json(&["--config", &config, "device", "broker-password", "lamp"]);
    assert_eq!(shown["username"], "lamp");
    assert_eq!(shown["client_id"], "lamp");
    let password = shown["password"].as_str().unwrap().to_owned();
    // The application's login too: it reads its lamp.
    let app = hub.json(&["--config", &config, "app", "broker-password", "lights"]);
    let key = app["username"].as_str().unwrap().to_owned();
    assert_eq!(app["client_id"], key.as_str());
    let mut lights = login_when_synced(
        mosquitto.port,
        &key,
        app["password"].as_str().unwrap(),
        &log,
    )
    .await;
    assert!(matches!(
        lights.subscribe("devices/+/data").await,
        rumqttc::v5::mqttbytes::v5::SubscribeReasonCode::Success(_)
    ));
    // And a site's link, under `site:{id}`.
    let site = hub.json(&["--config", &config, "site", "broker-password", "home-1"]);
    assert_eq!(site["username"], "home-1");
    assert_eq!(site["client_id"], "site:home-1");
    let mut link = login_when_synced_as(
        mosquitto.port,
        "site:home-1",
        "home-1",
        site["password"].as_str().unwrap(),
        &log,
    )
    .await;
    assert!(
        link.publish("sites/home-1/registry/request", "{}", false)
            .await
    );
    let mut lamp = login_when_synced(mosquitto.port, "lamp", &password, &log).await;
    assert!(lamp.publish("devices/lamp/data", "{}", false).await);
    assert!(next_is(&mut lights, "devices/lamp/data").await);
    assert!(!lamp.publish("devices/other/data", "{}", false).await);

    // The sync's state on /metrics.
    let metrics = get(http, "/metrics");
    assert!(metrics.contains("\nhearth_dynsec_up 1\n"), "{metrics}");
    assert!(metrics.contains("\nhearth_dynsec_failing 0\n"), "{metrics}");
    // A single hub writes to the broker itself: it is its own coordinator.
    assert!(metrics.contains("\nhearth_dynsec_standby 0\n"), "{metrics}");
    assert!(
        metrics.contains("\nhearth_coordinator{node=\"single\"} 1\n"),
        "{metrics}"
    );
    let commands = metrics
        .lines()
        .find_map(|line| line.strip_prefix("hearth_dynsec_commands_total "))
        .and_then(|value| value.parse::<f64>().ok())
        .expect("hearth_dynsec_commands_total");
    assert!(commands >= 6.0, "{metrics}");

    // A change made by the CLI while the hub runs reaches Mosquitto: the lamp is cut off.
    hub.ok(&["device", "disable", "lamp"]);
    lamp.closed().await;
    Client::connect(mosquitto.port, "lamp", "lamp", &password)
        .await
        .refused("a disabled device");
}
