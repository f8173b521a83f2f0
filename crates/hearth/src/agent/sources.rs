//! Where the agent's readings come from: buttons, relays (commands), the board's own
//! numbers, and `exec` programs. Each sends [`Reading`]s to the agent's sender, which
//! publishes them or queues them on disk.

use super::config::{ButtonConfig, ExecConfig, Publish, RelayConfig, Restart, SystemConfig};
use super::gpio::{Edge, Gpio, GpioError, OutputLine};
use super::queue::{Kind, Reading};
use async_trait::async_trait;
use hearth_device::{Ack, Command, CommandHandler, DeviceClient, now_millis};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

pub type Readings = mpsc::UnboundedSender<Reading>;

fn send(readings: &Readings, kind: Kind, body: Value) {
    let _ = readings.send(Reading {
        kind,
        ts: now_millis(),
        body,
    });
}

/// Debounces a button's edges: an edge closer than `debounce` to the last accepted one
/// is contact bounce. Returns the new level when the edge is a real change.
#[derive(Debug)]
pub struct Debouncer {
    debounce: Duration,
    level: bool,
    last: Option<Instant>,
}

impl Debouncer {
    pub fn new(debounce: Duration) -> Debouncer {
        Debouncer {
            debounce,
            level: false,
            last: None,
        }
    }

    pub fn edge(&mut self, edge: Edge) -> Option<bool> {
        if edge.active == self.level {
            return None;
        }
        if self
            .last
            .is_some_and(|last| edge.at.saturating_duration_since(last) < self.debounce)
        {
            return None;
        }
        self.level = edge.active;
        self.last = Some(edge.at);
        Some(edge.active)
    }
}

/// Watches a button: a press (and, when configured, a release) is an event.
pub fn button(
    gpio: &dyn Gpio,
    config: ButtonConfig,
    readings: Readings,
) -> Result<impl Future<Output = ()> + use<>, GpioError> {
    let mut edges = gpio.input(&config.chip, config.line, config.active_low)?;
    Ok(async move {
        let mut debouncer = Debouncer::new(Duration::from_millis(config.debounce_ms));
        while let Some(edge) = edges.recv().await {
            let action = match debouncer.edge(edge) {
                Some(true) => Some(&config.action),
                Some(false) => config.release_action.as_ref(),
                None => None,
            };
            if let Some(action) = action {
                send(
                    &readings,
                    Kind::Event,
                    json!({"button": config.name, "action": action}),
                );
            }
        }
    })
}

/// A relay's line and state.
struct Relay {
    config: RelayConfig,
    line: parking_lot::Mutex<(Box<dyn OutputLine>, bool)>,
}

/// Answers the relays' commands: `{"on": true|false}` drives the line, the answer
/// carries the new state, and the state is reported as data (`{NAME: true}`).
pub struct Relays {
    by_command: HashMap<String, Relay>,
    readings: Readings,
}

impl Relays {
    /// Requests every relay's line, set to its initial state.
    pub fn new(
        gpio: &dyn Gpio,
        relays: &[RelayConfig],
        readings: Readings,
    ) -> Result<Relays, GpioError> {
        let mut by_command = HashMap::new();
        for config in relays {
            let line = gpio.output(&config.chip, config.line, config.active_low, config.initial)?;
            by_command.insert(
                config.command_name().to_owned(),
                Relay {
                    config: config.clone(),
                    line: parking_lot::Mutex::new((line, config.initial)),
                },
            );
        }
        Ok(Relays {
            by_command,
            readings,
        })
    }

    /// Reports every relay's state (at start, so the hub knows them).
    pub fn report_all(&self) {
        if self.by_command.is_empty() {
            return;
        }
        let state: Map<String, Value> = self
            .by_command
            .values()
            .map(|relay| (relay.config.name.clone(), Value::from(relay.line.lock().1)))
            .collect();
        send(&self.readings, Kind::Data, Value::Object(state));
    }
}

#[async_trait]
impl CommandHandler for Relays {
    async fn handle(&self, _device: &DeviceClient, command: &Command) -> Option<Ack> {
        let relay = self.by_command.get(&command.name)?;
        let Some(on) = command.param("on").and_then(Value::as_bool) else {
            return Some(Ack::failed(r#"expected {"on": true} or {"on": false}"#));
        };
        let name = &relay.config.name;
        let result = {
            let mut line = relay.line.lock();
            let result = line.0.set(on);
            if result.is_ok() {
                line.1 = on;
            }
            result
        };
        Some(match result {
            Ok(()) => {
                send(&self.readings, Kind::Data, json!({ name: on }));
                tracing::info!(relay = %name, on, "relay switched");
                Ack::ok().with_state(json!({ name: on }))
            }
            Err(error) => Ack::failed(error.to_string()),
        })
    }
}

/// The board's numbers (those it has: a container has no thermal zone).
pub fn system_reading(disk: &Path) -> Map<String, Value> {
    let mut out = Map::new();
    if let Ok(text) = std::fs::read_to_string("/sys/class/thermal/thermal_zone0/temp")
        && let Ok(milli) = text.trim().parse::<f64>()
    {
        out.insert("cpu_temp_c".into(), json!((milli / 100.0).round() / 10.0));
    }
    if let Ok(text) = std::fs::read_to_string("/proc/loadavg") {
        let mut fields = text.split_whitespace();
        for name in ["load_1m", "load_5m", "load_15m"] {
            if let Some(value) = fields.next().and_then(|f| f.parse::<f64>().ok()) {
                out.insert(name.into(), json!(value));
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string("/proc/meminfo") {
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
        };
        if let (Some(total), Some(available)) = (field("MemTotal:"), field("MemAvailable:"))
            && total > 0.0
        {
            out.insert(
                "mem_used_pct".into(),
                json!(((1.0 - available / total) * 1000.0).round() / 10.0),
            );
            out.insert(
                "mem_available_mb".into(),
                json!((available / 1024.0).round()),
            );
        }
    }
    if let Some((used_pct, free_mb)) = disk_use(disk) {
        out.insert("disk_used_pct".into(), json!(used_pct));
        out.insert("disk_free_mb".into(), json!(free_mb));
    }
    out
}

fn disk_use(path: &Path) -> Option<(f64, f64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct; `path` is a valid C string.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 || stat.f_blocks == 0 {
        return None;
    }
    let block = stat.f_frsize as f64;
    let total = stat.f_blocks as f64 * block;
    let free = stat.f_bavail as f64 * block;
    let used_pct = ((1.0 - stat.f_bfree as f64 / stat.f_blocks as f64) * 1000.0).round() / 10.0;
    let _ = total;
    Some((used_pct, (free / 1_048_576.0).round()))
}

/// Takes the board's numbers every `interval_secs`, as data (queued while the hub is
/// away) or as heartbeat fields (not queued: a late heartbeat means nothing).
pub async fn system(config: SystemConfig, client: DeviceClient, readings: Readings) {
    let mut tick = tokio::time::interval(Duration::from_secs(config.interval_secs));
    loop {
        tick.tick().await;
        let reading = system_reading(&config.disk_path);
        match config.publish {
            Publish::Heartbeat => {
                for (name, value) in reading {
                    client.set_heartbeat_field(&name, value);
                }
                let _ = client.heartbeat().await;
            }
            _ => send(&readings, Kind::Data, Value::Object(reading)),
        }
    }
}

/// Runs a program and turns each JSON-object line it prints into an event (or data);
/// other lines are logged and skipped. Restarted per `restart`, waiting
/// `restart_delay_ms`, doubled after each exit within 10 s of its start (up to a
/// minute), back to the first wait after a longer run.
pub async fn exec(config: ExecConfig, readings: Readings) {
    let kind = match config.publish {
        Publish::Data => Kind::Data,
        _ => Kind::Event,
    };
    let first_delay = Duration::from_millis(config.restart_delay_ms.max(1));
    let mut delay = first_delay;
    loop {
        let started = Instant::now();
        let success = run_once(&config, kind, &readings).await;
        let again = match config.restart {
            Restart::Always => true,
            Restart::OnFailure => !success,
            Restart::Never => false,
        };
        if !again {
            tracing::info!(exec = %config.name, success, "program ended; not restarted");
            return;
        }
        delay = if started.elapsed() >= Duration::from_secs(10) {
            first_delay
        } else {
            delay
        };
        tracing::warn!(exec = %config.name, success, ?delay, "program ended; restarting");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(60));
    }
}

/// Kills a program's process group when its run ends or is cancelled (agent stopping).
struct ProcessGroup(u32);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: a plain system call on the group this run created; ESRCH (nothing
        // left in it) is fine.
        unsafe { libc::killpg(self.0 as libc::pid_t, libc::SIGKILL) };
    }
}

/// One run; whether the program exited with success.
async fn run_once(config: &ExecConfig, kind: Kind, readings: &Readings) -> bool {
    let child = tokio::process::Command::new(&config.command)
        .args(&config.args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        // Its own process group, so that stopping it stops what it started too (a
        // shell script's children would otherwise outlive the agent).
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            tracing::error!(exec = %config.name, command = %config.command.display(), "cannot start: {error}");
            return false;
        }
    };
    let _group = child.id().map(ProcessGroup);
    let stdout = child.stdout.take().expect("piped");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => match serde_json::from_str::<Value>(&line) {
                Ok(Value::Object(object)) => send(readings, kind, Value::Object(object)),
                _ => {
                    let shown: String = line.chars().take(200).collect();
                    tracing::warn!(exec = %config.name, line = %shown, "not a JSON object; skipped");
                }
            },
            Ok(None) => break,
            Err(error) => {
                // Not UTF-8, or a line beyond memory: skip what is readable no more.
                tracing::warn!(exec = %config.name, "unreadable output: {error}");
                break;
            }
        }
    }
    match child.wait().await {
        Ok(status) => status.success(),
        Err(_) => false,
    }
}

/// Installs a firmware image by running the configured program with the image's path
/// and the version as its last two arguments (and as `HEARTH_OTA_IMAGE`,
/// `HEARTH_OTA_VERSION`); exit status 0 means installed.
pub struct CommandInstaller {
    pub config: super::config::OtaConfig,
}

#[async_trait]
impl hearth_device::ota::Installer for CommandInstaller {
    async fn install(
        &self,
        _device: &DeviceClient,
        image: &Path,
        version: &str,
    ) -> Result<(), String> {
        let output = tokio::process::Command::new(&self.config.install_command)
            .args(&self.config.args)
            .arg(image)
            .arg(version)
            .env("HEARTH_OTA_IMAGE", image)
            .env("HEARTH_OTA_VERSION", version)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|error| format!("install command: {error}"))?;
        if output.status.success() {
            tracing::info!(version, "firmware installed");
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr
            .trim()
            .chars()
            .rev()
            .take(200)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(format!(
            "install command failed ({}): {tail}",
            output.status
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounces_within_the_debounce_time_are_ignored() {
        let start = Instant::now();
        let at = |ms| Edge {
            active: false,
            at: start + Duration::from_millis(ms),
        };
        let on = |ms| Edge {
            active: true,
            ..at(ms)
        };
        let mut debouncer = Debouncer::new(Duration::from_millis(30));
        assert_eq!(debouncer.edge(on(0)), Some(true));
        assert_eq!(debouncer.edge(at(5)), None, "bounce");
        assert_eq!(debouncer.edge(on(8)), None, "same level");
        assert_eq!(debouncer.edge(at(200)), Some(false));
        assert_eq!(debouncer.edge(at(210)), None);
        assert_eq!(debouncer.edge(on(400)), Some(true));
    }

    #[test]
    fn system_readings_have_load_and_memory_here() {
        let reading = system_reading(Path::new("/"));
        assert!(reading.contains_key("load_1m"), "{reading:?}");
        assert!(reading.contains_key("mem_used_pct"), "{reading:?}");
        assert!(reading.contains_key("disk_used_pct"), "{reading:?}");
        assert!(
            system_reading(Path::new("/no/such/dir"))
                .get("disk_used_pct")
                .is_none()
        );
    }
}
