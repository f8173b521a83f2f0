//! The agent's configuration file (TOML, see docs/agent.md): where the hub is, who the
//! device is, and what the board has (buttons, relays, system readings, programs).
//! Errors name the line, like `hearth.toml`'s.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// `mqtt://host:port` (port 1883 when left out) or `mqtts://host:port` (8883), or
    /// a list of them in order of preference (a home hub, then the cloud): the agent
    /// moves to the next when the one in use is gone and back when a preferred one
    /// answers again.
    pub hub: super::hubs::Hubs,
    /// While on a less preferred hub, seconds between checks whether a preferred one
    /// answers again (jittered between half and one and a half of it).
    #[serde(default = "default_return_probe")]
    pub return_probe_secs: u64,
    /// The device id, as registered on the hub (`hearth device add`).
    pub device: String,
    /// The device secret, inline. Prefer `secret_file`: a config file is easily shown.
    pub secret: Option<String>,
    /// A file holding the secret (trailing whitespace ignored); it should be readable by
    /// the agent's user only (0600), the agent warns otherwise.
    pub secret_file: Option<PathBuf>,
    /// Seconds between the runtime's heartbeats (0: none).
    #[serde(default = "default_heartbeat")]
    pub heartbeat_secs: u64,
    /// The first wait before reconnecting; it doubles (with jitter) up to
    /// `reconnect_max_ms`.
    #[serde(default = "default_reconnect_min")]
    pub reconnect_min_ms: u64,
    #[serde(default = "default_reconnect_max")]
    pub reconnect_max_ms: u64,
    #[serde(default)]
    pub queue: QueueConfig,
    #[serde(default)]
    pub gpio: GpioConfig,
    #[serde(default, rename = "button")]
    pub buttons: Vec<ButtonConfig>,
    #[serde(default, rename = "relay")]
    pub relays: Vec<RelayConfig>,
    pub system: Option<SystemConfig>,
    #[serde(default, rename = "exec")]
    pub execs: Vec<ExecConfig>,
    pub ota: Option<OtaConfig>,
    /// `[tls]`: for `mqtts://`, the hub's CA and the device's own certificate.
    #[serde(default)]
    pub tls: TlsConfig,
}

/// `[tls]` (docs/tls.md): whom to trust and what to present over `mqtts://`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The CA that signed the hub's certificate (`hearth tls dev-cert`'s
    /// `hearth-ca.pem`); left out, the system's roots are trusted.
    pub ca_file: Option<PathBuf>,
    /// The device's certificate and key (`hearth device add --cert`): with them the
    /// agent needs no secret.
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// `[ota]`: firmware updates (docs/ota.md): the hub's `ota` command is downloaded into
/// `dir`, its SHA-256 checked, then `install_command args... IMAGE VERSION` is run; exit
/// status 0 means installed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtaConfig {
    #[serde(default = "default_ota_dir")]
    pub dir: PathBuf,
    pub install_command: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    /// A file holding the running firmware's version (the install command writes the
    /// new one there); reported at start as data `{"firmware_version": V}`, so that an
    /// update that rebooted the board is still counted.
    pub version_file: Option<PathBuf>,
}

fn default_ota_dir() -> PathBuf {
    PathBuf::from("/var/lib/hearth-agent/ota")
}

fn default_heartbeat() -> u64 {
    60
}

fn default_return_probe() -> u64 {
    30
}

fn default_reconnect_min() -> u64 {
    1000
}

fn default_reconnect_max() -> u64 {
    60_000
}

/// `[queue]`: readings kept on disk while the hub is away.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// The queue file (created with its directory).
    pub path: PathBuf,
    /// Most readings kept; beyond it the oldest are dropped (and counted).
    pub max_readings: usize,
    /// Most bytes kept (the file's size), likewise.
    pub max_bytes: u64,
}

impl Default for QueueConfig {
    fn default() -> QueueConfig {
        QueueConfig {
            path: PathBuf::from("/var/lib/hearth-agent/queue.jsonl"),
            max_readings: 10_000,
            max_bytes: 4 << 20,
        }
    }
}

/// `[gpio]`: which GPIO backend drives the lines.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GpioConfig {
    /// `cdev` (the Linux GPIO character device, the default) or `sim` (in-process lines,
    /// for trying a configuration on a machine without the hardware).
    pub backend: GpioBackend,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GpioBackend {
    #[default]
    Cdev,
    Sim,
}

/// `[[button]]`: an input line; a press (the line becoming active) is an event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonConfig {
    /// The name in the event: `{"button": NAME, "action": ACTION}`.
    pub name: String,
    /// The chip: `gpiochip0` or a path such as `/dev/gpiochip0`.
    #[serde(default = "default_chip")]
    pub chip: String,
    /// The line offset on the chip.
    pub line: u32,
    /// Edges closer than this to the last accepted one are contact bounce, ignored.
    #[serde(default = "default_debounce")]
    pub debounce_ms: u64,
    /// A button pulling the line to ground (the usual wiring with a pull-up).
    #[serde(default)]
    pub active_low: bool,
    /// The event's `action` on a press.
    #[serde(default = "default_action")]
    pub action: String,
    /// The event's `action` on a release; no event on release when left out.
    pub release_action: Option<String>,
}

fn default_chip() -> String {
    "gpiochip0".into()
}

fn default_debounce() -> u64 {
    30
}

fn default_action() -> String {
    "press".into()
}

/// `[[relay]]`: an output line driven by a command.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// The name of the state in data (`{NAME: true}`) and the default command name.
    pub name: String,
    #[serde(default = "default_chip")]
    pub chip: String,
    pub line: u32,
    /// The command that drives it (`{"on": true}`); defaults to `name`.
    pub command: Option<String>,
    /// The state the agent sets at start.
    #[serde(default)]
    pub initial: bool,
    /// A relay board that switches on when the line is low.
    #[serde(default)]
    pub active_low: bool,
}

impl RelayConfig {
    /// The command name this relay answers.
    pub fn command_name(&self) -> &str {
        self.command.as_deref().unwrap_or(&self.name)
    }
}

/// How a reading goes to the hub.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Publish {
    #[default]
    Data,
    Event,
    Heartbeat,
}

/// `[system]`: the board's own readings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    /// Seconds between readings.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// `data` (history and charts) or `heartbeat` (fields of a heartbeat).
    #[serde(default, rename = "as")]
    pub publish: Publish,
    /// The file system whose use is reported.
    #[serde(default = "default_disk")]
    pub disk_path: PathBuf,
}

fn default_interval() -> u64 {
    60
}

fn default_disk() -> PathBuf {
    PathBuf::from("/")
}

/// When an `exec` program is started again after it exits.
/// Spelled as systemd's `Restart=`: `always`, `on-failure`, `never`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    #[default]
    Always,
    OnFailure,
    Never,
}

/// `[[exec]]`: a program whose JSON lines are events or data.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecConfig {
    /// For the log.
    pub name: String,
    pub command: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    /// `event` (the default) or `data`.
    #[serde(default = "default_exec_publish", rename = "as")]
    pub publish: Publish,
    #[serde(default)]
    pub restart: Restart,
    /// The first wait before a restart; it doubles after each quick exit, up to a minute.
    #[serde(default = "default_restart_ms")]
    pub restart_delay_ms: u64,
}

fn default_exec_publish() -> Publish {
    Publish::Event
}

fn default_restart_ms() -> u64 {
    1000
}

impl AgentConfig {
    /// Reads and checks the file.
    pub fn load(path: &Path) -> Result<AgentConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        AgentConfig::from_toml(&text).map_err(|error| format!("{}: {error}", path.display()))
    }

    /// Parses and checks `text`; errors name the line.
    pub fn from_toml(text: &str) -> Result<AgentConfig, String> {
        let config: AgentConfig = toml::from_str(text).map_err(|error: toml::de::Error| {
            let message = error.message().to_owned();
            match error.span() {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    format!("line {line}: {message}")
                }
                None => message,
            }
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        hearth_model::DeviceId::new(&self.device)
            .map_err(|error| format!("device {:?}: {error}", self.device))?;
        let tls = self.hub_endpoints()?.iter().any(|(_, _, tls)| *tls);
        let has_cert = match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(_), Some(_)) => true,
            (None, None) => false,
            _ => return Err("[tls]: give cert_file and key_file together".into()),
        };
        if !tls && (has_cert || self.tls.ca_file.is_some()) {
            return Err("[tls] is set but hub is not an mqtts:// address (none of them is)".into());
        }
        match (&self.secret, &self.secret_file) {
            (Some(_), Some(_)) => return Err("give secret or secret_file, not both".into()),
            (None, None) if !has_cert => {
                return Err("secret_file (or secret, or a [tls] certificate) is missing".into());
            }
            _ => {}
        }
        let mut commands = std::collections::HashSet::new();
        for relay in &self.relays {
            if !commands.insert(relay.command_name()) {
                return Err(format!(
                    "relay {:?}: command {:?} is used twice",
                    relay.name,
                    relay.command_name()
                ));
            }
        }
        let mut lines = std::collections::HashSet::new();
        let used = self
            .buttons
            .iter()
            .map(|b| (&b.name, &b.chip, b.line))
            .chain(self.relays.iter().map(|r| (&r.name, &r.chip, r.line)));
        for (name, chip, line) in used {
            // `gpiochip0` and `/dev/gpiochip0` are the same chip.
            let chip_name = chip.strip_prefix("/dev/").unwrap_or(chip);
            if !lines.insert((chip_name.to_owned(), line)) {
                return Err(format!("{name:?}: line {line} of {chip} is used twice"));
            }
        }
        if let Some(system) = &self.system
            && (system.interval_secs == 0 || system.publish == Publish::Event)
        {
            return Err("[system]: interval_secs must be > 0 and `as` data or heartbeat".into());
        }
        if self.queue.max_readings == 0 || self.queue.max_bytes < 1024 {
            return Err("[queue]: max_readings must be > 0 and max_bytes >= 1024".into());
        }
        Ok(())
    }

    /// The device's TLS settings when a hub is `mqtts://`, with its files read now
    /// (the same for every `mqtts://` hub).
    pub fn device_tls(&self) -> Result<Option<std::sync::Arc<rustls::ClientConfig>>, String> {
        if !self.hub_endpoints()?.iter().any(|(_, _, tls)| *tls) {
            return Ok(None);
        }
        let tls = hearth_device::DeviceTls {
            ca_file: self.tls.ca_file.clone(),
            identity: self.tls.cert_file.clone().zip(self.tls.key_file.clone()),
        };
        tls.client_config()
            .map(Some)
            .map_err(|error| format!("[tls]: {error}"))
    }

    /// The hub's host and port from `hub`.
    pub fn hub_address(&self) -> Result<(String, u16), String> {
        self.hub_parts().map(|(host, port, _)| (host, port))
    }

    /// The (preferred) hub's host, port and whether it is `mqtts://`.
    pub fn hub_parts(&self) -> Result<(String, u16, bool), String> {
        self.hub_endpoints()?
            .into_iter()
            .next()
            .ok_or_else(|| "hub: give at least one address".to_owned())
    }

    /// Every hub in order of preference (host, port, `mqtts://`): `hub` is one URL or
    /// a list (issue 20, a device that moves between its home hub and the cloud).
    pub fn hub_endpoints(&self) -> Result<Vec<(String, u16, bool)>, String> {
        let urls = self.hub.urls();
        if urls.is_empty() {
            return Err("hub: give at least one address".into());
        }
        urls.iter().map(|url| super::hubs::parse(url)).collect()
    }

    /// The secret, read from `secret_file` when given; warns when that file is readable
    /// by others.
    pub fn read_secret(&self) -> Result<String, String> {
        if let Some(secret) = &self.secret {
            return Ok(secret.clone());
        }
        // Checked at load: without a secret, the [tls] certificate is the credential.
        let Some(path) = self.secret_file.as_ref() else {
            return Ok(String::new());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read secret_file {}: {error}", path.display()))?;
        if let Some(warning) = loose_permissions(path) {
            tracing::warn!("{warning}");
        }
        let secret = text.trim().to_owned();
        if secret.is_empty() {
            return Err(format!("secret_file {} is empty", path.display()));
        }
        Ok(secret)
    }
}

/// A warning when `path` can be read by its group or others.
pub fn loose_permissions(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} holds the device secret and is readable by others (mode {:o}): chmod 600 it",
            path.display(),
            mode & 0o777
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
hub = "mqtt://hub.local:1883"
device = "porch-pi"
secret_file = "/etc/hearth-agent/secret"

[queue]
path = "/tmp/q.jsonl"
max_readings = 100

[[button]]
name = "doorbell"
line = 17
active_low = true

[[relay]]
name = "porch_light"
chip = "/dev/gpiochip0"
line = 27
command = "light"
initial = true

[system]
interval_secs = 30
as = "heartbeat"

[[exec]]
name = "faces"
command = "/usr/local/bin/recognise"
args = ["--camera", "0"]
restart = "on-failure"
"#;

    #[test]
    fn a_full_file_reads_with_its_defaults() {
        let config = AgentConfig::from_toml(FULL).unwrap();
        assert_eq!(config.hub_address().unwrap(), ("hub.local".into(), 1883));
        assert_eq!(config.buttons[0].chip, "gpiochip0");
        assert_eq!(config.buttons[0].debounce_ms, 30);
        assert_eq!(config.buttons[0].action, "press");
        assert_eq!(config.relays[0].command_name(), "light");
        assert_eq!(config.system.as_ref().unwrap().publish, Publish::Heartbeat);
        assert_eq!(config.execs[0].publish, Publish::Event);
        assert_eq!(config.execs[0].restart, Restart::OnFailure);
        assert_eq!(config.queue.max_bytes, 4 << 20);
        assert_eq!(config.gpio.backend, GpioBackend::Cdev);
    }

    #[test]
    fn errors_name_the_line() {
        let text = FULL.replace("line = 27", "line = \"twenty-seven\"");
        let error = AgentConfig::from_toml(&text).unwrap_err();
        assert!(error.starts_with("line 18:"), "{error}");
        let error = AgentConfig::from_toml(&FULL.replace("active_low = true", "active_low = 1"))
            .unwrap_err();
        assert!(error.starts_with("line 13:"), "{error}");
        let error = AgentConfig::from_toml(&FULL.replace("restart = \"on-failure\"", "colour = 1"))
            .unwrap_err();
        assert!(
            error.contains("line 30") && error.contains("colour"),
            "{error}"
        );
    }

    #[test]
    fn tls_needs_mqtts_and_a_certificate_needs_its_key() {
        let with = |hub: &str, tls: &str| {
            AgentConfig::from_toml(&format!(
                "{}\n[tls]\n{tls}\n",
                FULL.replace("mqtt://hub.local:1883", hub)
            ))
        };
        let error = with("mqtt://hub.local:1883", "ca_file = \"/ca.pem\"").unwrap_err();
        assert!(error.contains("not an mqtts://"), "{error}");
        let error = with("mqtts://hub.local", "cert_file = \"/c.pem\"").unwrap_err();
        assert!(error.contains("together"), "{error}");
        let config = with("mqtts://hub.local", "ca_file = \"/ca.pem\"").unwrap();
        assert_eq!(
            config.hub_parts().unwrap(),
            ("hub.local".into(), 8883, true)
        );
        // A certificate is a credential: no secret needed with one.
        let certified = FULL
            .replace("mqtt://hub.local:1883", "mqtts://hub.local")
            .replace("secret_file = \"/etc/hearth-agent/secret\"", "");
        let certified =
            format!("{certified}\n[tls]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n");
        let config = AgentConfig::from_toml(&certified).unwrap();
        assert_eq!(config.read_secret().unwrap(), "");
    }

    #[test]
    fn inconsistent_files_are_refused() {
        for (from, to, why) in [
            ("line = 27", "line = 17", "used twice"),
            ("mqtt://hub.local:1883", "tcp://hub.local:1883", "mqtts://"),
            ("device = \"porch-pi\"", "device = \"a/b\"", "device"),
            ("secret_file = \"/etc/hearth-agent/secret\"", "", "missing"),
            ("as = \"heartbeat\"", "as = \"event\"", "[system]"),
        ] {
            let error = AgentConfig::from_toml(&FULL.replace(from, to)).unwrap_err();
            assert!(error.contains(why), "{from} -> {to}: {error}");
        }
    }

    #[test]
    fn a_secret_file_readable_by_others_is_warned_about() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(loose_permissions(&path).unwrap().contains("chmod 600"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(loose_permissions(&path), None);
    }
}
