//! `[bridge]` of hearth.toml: where the cloud is, who this home is there, and the queue's
//! bounds. Checked while parsing, so that a mistake names its line.

use super::queue::{Overflow, QueueLimits};
use super::topics::{TopicRule, default_rules};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The link to a cloud hub (or any MQTT 5 broker). Present in hearth.toml: the hub
/// starts the bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawBridgeConfig", into = "RawBridgeConfig")]
pub struct BridgeConfig {
    pub url: BridgeUrl,
    /// The site id in the cloud: the link's user name, `site:<id>` its client id and
    /// `sites/<id>/` its topic prefix there.
    pub site: String,
    /// The site's secret (or read from `secret_file` at start).
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// The cloud's CA for `mqtts://` (PEM); without it, the system's roots.
    pub ca_file: Option<PathBuf>,
    pub queue_max_messages: u64,
    pub queue_max_bytes: u64,
    pub overflow: Overflow,
    /// Jittered exponential back-off between connection attempts.
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
    /// What crosses the link, which way, at which QoS and under which prefixes (see
    /// `topics.rs`); default: devices' readings and command acks out.
    pub topics: Vec<TopicRule>,
    /// Whether the link brings in commands from a Hearth cloud
    /// (`sites/{site}/devices/+/commands/+` → `devices/+/commands/+`) besides `topics`;
    /// default true, so that a `topics` list written for the readings keeps commands.
    pub commands: bool,
    /// Messages sent and not yet acknowledged by the cloud, at most.
    pub window: u16,
    /// How long the cloud keeps the link's session (its command subscription and the
    /// commands queued for it) while the link is down.
    pub session_expiry_secs: u32,
    pub keep_alive_secs: u16,
    /// The link's MQTT client id; default `site:<site>` (what a Hearth cloud requires).
    /// Another broker may want another.
    pub client_id: Option<String>,
}

/// The cloud's address: `mqtt://host:port` (loopback tests) or `mqtts://host:port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BridgeUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl TryFrom<String> for BridgeUrl {
    type Error = String;
    fn try_from(url: String) -> Result<BridgeUrl, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("mqtts://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("mqtt://") {
            (false, rest)
        } else {
            return Err(format!("url {url:?}: must start with mqtt:// or mqtts://"));
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("url {url:?}: the port is not a number"))?;
                (host, port)
            }
            _ => (rest, if tls { 8883 } else { 1883 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') || host.contains('@') {
            return Err(format!("url {url:?}: expected mqtt[s]://host[:port]"));
        }
        Ok(BridgeUrl {
            tls,
            host: host.to_owned(),
            port,
        })
    }
}

impl From<BridgeUrl> for String {
    fn from(url: BridgeUrl) -> String {
        let scheme = if url.tls { "mqtts" } else { "mqtt" };
        if url.host.contains(':') {
            format!("{scheme}://[{}]:{}", url.host, url.port)
        } else {
            format!("{scheme}://{}:{}", url.host, url.port)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBridgeConfig {
    url: BridgeUrl,
    site: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca_file: Option<PathBuf>,
    #[serde(default = "default_max_messages")]
    queue_max_messages: u64,
    #[serde(default = "default_max_bytes")]
    queue_max_bytes: u64,
    #[serde(default)]
    overflow: Overflow,
    #[serde(default = "default_min_ms")]
    reconnect_min_ms: u64,
    #[serde(default = "default_max_ms")]
    reconnect_max_ms: u64,
    #[serde(default = "default_rules")]
    topics: Vec<TopicRule>,
    #[serde(default = "default_commands")]
    commands: bool,
    #[serde(default = "default_window")]
    window: u16,
    #[serde(default = "default_session_expiry")]
    session_expiry_secs: u32,
    #[serde(default = "default_keep_alive")]
    keep_alive_secs: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
}

fn default_max_messages() -> u64 {
    1_000_000
}
fn default_max_bytes() -> u64 {
    512 * 1024 * 1024
}
fn default_min_ms() -> u64 {
    500
}
fn default_max_ms() -> u64 {
    60_000
}
/// The cloud stores each message before its PUBACK, so the link's rate is the window
/// over the cloud's commit time: 256 gave ~11,500 messages/s after an outage, 1,024
/// ~18,600 (bench/bridge.sh). 1,024 is also the receive maximum a Hearth cloud
/// announces; the client never exceeds what the server announces.
fn default_window() -> u16 {
    1024
}
fn default_session_expiry() -> u32 {
    7 * 24 * 3600
}
fn default_keep_alive() -> u16 {
    30
}
fn default_commands() -> bool {
    true
}

impl TryFrom<RawBridgeConfig> for BridgeConfig {
    type Error = String;
    fn try_from(raw: RawBridgeConfig) -> Result<BridgeConfig, String> {
        let site_ok = !raw.site.is_empty()
            && raw.site.len() <= 64
            && raw
                .site
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !site_ok {
            return Err(format!(
                "[bridge] site {:?}: 1 to 64 letters, digits, '-', '_' or '.'",
                raw.site
            ));
        }
        match (&raw.secret, &raw.secret_file) {
            (Some(_), Some(_)) => {
                return Err("[bridge]: give secret or secret_file, not both".into());
            }
            (None, None) => return Err("[bridge]: secret or secret_file is required".into()),
            (Some(secret), None) if secret.is_empty() => {
                return Err("[bridge] secret: empty".into());
            }
            _ => {}
        }
        if raw.ca_file.is_some() && !raw.url.tls {
            return Err("[bridge] ca_file: only for an mqtts:// url".into());
        }
        if raw.queue_max_messages == 0 || raw.queue_max_bytes < 1024 {
            return Err(
                "[bridge] queue_max_messages must be at least 1 and queue_max_bytes at least 1024"
                    .into(),
            );
        }
        if raw.reconnect_min_ms == 0 || raw.reconnect_min_ms > raw.reconnect_max_ms {
            return Err(format!(
                "[bridge] reconnect_min_ms ({}) must be at least 1 and at most reconnect_max_ms ({})",
                raw.reconnect_min_ms, raw.reconnect_max_ms
            ));
        }
        if raw
            .client_id
            .as_ref()
            .is_some_and(|id| id.is_empty() || id.len() > 128)
        {
            return Err("[bridge] client_id: 1 to 128 characters".into());
        }
        if raw.window == 0 {
            return Err("[bridge] window: at least 1".into());
        }
        if raw.topics.is_empty() && !raw.commands {
            return Err(
                "[bridge] topics: nothing crosses the link (no topics, commands = false)".into(),
            );
        }
        for (i, rule) in raw.topics.iter().enumerate() {
            if raw.topics[..i]
                .iter()
                .any(|earlier| earlier.pattern == rule.pattern)
            {
                return Err(format!(
                    "[bridge] topics: {:?} twice (give one entry a direction of both)",
                    rule.pattern
                ));
            }
        }
        Ok(BridgeConfig {
            url: raw.url,
            site: raw.site,
            secret: raw.secret,
            secret_file: raw.secret_file,
            ca_file: raw.ca_file,
            queue_max_messages: raw.queue_max_messages,
            queue_max_bytes: raw.queue_max_bytes,
            overflow: raw.overflow,
            reconnect_min_ms: raw.reconnect_min_ms,
            reconnect_max_ms: raw.reconnect_max_ms,
            topics: raw.topics,
            commands: raw.commands,
            window: raw.window,
            session_expiry_secs: raw.session_expiry_secs,
            keep_alive_secs: raw.keep_alive_secs,
            client_id: raw.client_id,
        })
    }
}

impl From<BridgeConfig> for RawBridgeConfig {
    fn from(config: BridgeConfig) -> RawBridgeConfig {
        RawBridgeConfig {
            url: config.url,
            site: config.site,
            secret: config.secret,
            secret_file: config.secret_file,
            ca_file: config.ca_file,
            queue_max_messages: config.queue_max_messages,
            queue_max_bytes: config.queue_max_bytes,
            overflow: config.overflow,
            reconnect_min_ms: config.reconnect_min_ms,
            reconnect_max_ms: config.reconnect_max_ms,
            topics: config.topics,
            commands: config.commands,
            window: config.window,
            session_expiry_secs: config.session_expiry_secs,
            keep_alive_secs: config.keep_alive_secs,
            client_id: config.client_id,
        }
    }
}

impl BridgeConfig {
    /// A config for `url` and `site` with every default (tests, the bench).
    pub fn new(url: &str, site: &str, secret: &str) -> Result<BridgeConfig, String> {
        RawBridgeConfig {
            url: BridgeUrl::try_from(url.to_owned())?,
            site: site.to_owned(),
            secret: Some(secret.to_owned()),
            secret_file: None,
            ca_file: None,
            queue_max_messages: default_max_messages(),
            queue_max_bytes: default_max_bytes(),
            overflow: Overflow::default(),
            reconnect_min_ms: default_min_ms(),
            reconnect_max_ms: default_max_ms(),
            topics: default_rules(),
            commands: default_commands(),
            window: default_window(),
            session_expiry_secs: default_session_expiry(),
            keep_alive_secs: default_keep_alive(),
            client_id: None,
        }
        .try_into()
    }

    /// The link's client id: `client_id`, else `site:<site>`.
    pub fn link_client_id(&self) -> String {
        self.client_id
            .clone()
            .unwrap_or_else(|| format!("site:{}", self.site))
    }

    /// Every rule in force: `topics`, then the commands rule when `commands` is on.
    pub fn rules(&self) -> Vec<TopicRule> {
        let mut rules = self.topics.clone();
        if self.commands {
            rules.push(TopicRule::commands());
        }
        rules
    }

    pub fn limits(&self) -> QueueLimits {
        QueueLimits {
            max_messages: self.queue_max_messages,
            max_bytes: self.queue_max_bytes,
            overflow: self.overflow,
        }
    }

    /// The secret, read from `secret_file` when given there (trailing newline dropped).
    pub fn load_secret(&self) -> Result<String, String> {
        match (&self.secret, &self.secret_file) {
            (Some(secret), _) => Ok(secret.clone()),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map(|text| text.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|error| format!("[bridge] secret_file {}: {error}", file.display())),
            (None, None) => Err("[bridge]: no secret".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    struct File {
        bridge: BridgeConfig,
    }

    fn parse(text: &str) -> Result<BridgeConfig, String> {
        toml::from_str::<File>(text)
            .map(|file| file.bridge)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn defaults_and_a_full_section() {
        let config =
            parse("[bridge]\nurl = \"mqtt://127.0.0.1:1884\"\nsite = \"home-1\"\nsecret = \"s\"\n")
                .unwrap();
        assert_eq!(config.url.port, 1884);
        assert!(!config.url.tls);
        assert_eq!(config.queue_max_messages, 1_000_000);
        assert_eq!(config.queue_max_bytes, 512 * 1024 * 1024);
        assert_eq!(config.overflow, Overflow::DropOldest);
        assert_eq!(config.topics, default_rules());
        assert!(config.commands);
        let config = parse(
            "[bridge]\nurl = \"mqtts://cloud.example\"\nsite = \"home-1\"\nsecret_file = \"/s\"\n\
             ca_file = \"/ca.pem\"\noverflow = \"refuse\"\nqueue_max_messages = 10\n",
        )
        .unwrap();
        assert_eq!((config.url.tls, config.url.port), (true, 8883));
        assert_eq!(config.overflow, Overflow::Refuse);
        assert_eq!(config.queue_max_messages, 10);
    }

    #[test]
    fn topics_as_filters_tables_or_both() {
        use crate::bridge::topics::Direction;
        let base = "[bridge]\nurl = \"mqtt://x\"\nsite = \"h\"\nsecret = \"s\"\n";
        let config = parse(&format!(
            "{base}topics = [\"devices/+/data\", {{ pattern = \"lights/#\", direction = \"in\", qos = 0, local_prefix = \"lights/\", remote_prefix = \"homes/{{site}}/\" }}]\n"
        ))
        .unwrap();
        assert_eq!(config.topics[0], TopicRule::out("devices/+/data").unwrap());
        let lights = &config.topics[1];
        assert_eq!((lights.direction, lights.qos), (Direction::In, 0));
        assert_eq!(lights.remote_filter("h"), "homes/h/#");
        assert_eq!(config.rules().last(), Some(&TopicRule::commands()));

        let config = parse(&format!(
            "{base}commands = false\n\n[[bridge.topics]]\npattern = \"devices/+/state\"\ndirection = \"both\"\n\
             remote_prefix = \"h1/\"\n"
        ))
        .unwrap();
        assert_eq!(config.rules().len(), 1, "no commands rule");
        assert_eq!(
            config.topics[0]
                .to_remote("devices/d/state", "h")
                .as_deref(),
            Some("h1/d/state")
        );
        // What is written out reads back the same.
        let text = toml::to_string(&File {
            bridge: config.clone(),
        })
        .unwrap();
        assert_eq!(parse(&text).unwrap(), config);
    }

    #[test]
    fn mistakes_name_their_line_and_key() {
        let base = "[bridge]\nsite = \"home-1\"\nsecret = \"s\"\n";
        for (text, line, expected) in [
            (
                format!("{base}url = \"http://x\"\n"),
                4,
                "mqtt:// or mqtts://",
            ),
            (format!("{base}url = \"mqtt://x:y\"\n"), 4, "port"),
            (
                format!("{base}url = \"mqtt://x\"\noverflow = \"drop\"\n"),
                5,
                "drop-oldest",
            ),
            (
                format!("{base}url = \"mqtt://x\"\nretry = 1\n"),
                5,
                "unknown field",
            ),
            (
                format!("{base}url = \"mqtt://x\"\nreconnect_min_ms = 10\nreconnect_max_ms = 5\n"),
                1,
                "reconnect_min_ms",
            ),
            (
                format!("{base}url = \"mqtt://x\"\nca_file = \"/c\"\n"),
                1,
                "ca_file",
            ),
            (
                format!("{base}url = \"mqtt://x\"\ntopics = [\"devices/#/x\"]\n"),
                5,
                "not an MQTT filter",
            ),
            (
                format!("{base}url = \"mqtt://x\"\ntopics = [\"sites/#\"]\n"),
                5,
                "local_prefix",
            ),
            (
                format!(
                    "{base}url = \"mqtt://x\"\n\n[[bridge.topics]]\npattern = \"devices/+/data\"\n\n\
                     [[bridge.topics]]\npattern = \"lights/#\"\nqos = 2\n"
                ),
                // The array of tables is spanned from its first header; the message
                // names the entry.
                6,
                "qos 2",
            ),
            (
                format!(
                    "{base}url = \"mqtt://x\"\n[[bridge.topics]]\npattern = \"devices/#\"\ndirection = \"up\"\n"
                ),
                7,
                "unknown variant",
            ),
            (
                format!(
                    "{base}url = \"mqtt://x\"\n[[bridge.topics]]\npattern = \"devices/#\"\nprefix = \"x/\"\n"
                ),
                7,
                "unknown field",
            ),
            (
                "[bridge]\nurl = \"mqtt://x\"\nsite = \"home/1\"\nsecret = \"s\"\n".into(),
                1,
                "site",
            ),
            (
                "[bridge]\nurl = \"mqtt://x\"\nsite = \"h\"\n".into(),
                1,
                "secret",
            ),
        ] {
            let error = parse(&text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
            assert!(error.contains(&format!("line {line}")), "{text}: {error}");
        }
    }
}
