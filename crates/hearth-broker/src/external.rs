//! `[mqtt] mode` and `[mqtt.external]`: whether the hub runs this broker at all, or
//! reaches an existing broker or cluster (Mosquitto, EMQX, VerneMQ) as a client
//! (issue 21, docs/scale.md "External-broker mode").
//!
//! Only settings live here: the broker itself never reads them (the hub does not start
//! it in external mode), and the client that implements `hearth_bus::Bus` over the
//! external broker is the `hearth` crate's. They sit in the `[mqtt]` table because that
//! is where an operator looks for "which broker", and serde checks them with the rest
//! of it, so a mistake names its line.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Which broker carries the hub's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MqttMode {
    /// This process's own broker (the default: one box, nothing else to run).
    #[default]
    Builtin,
    /// An existing broker or cluster named by `[mqtt.external]`: no MQTT or WebSocket
    /// listener here, and any number of hubs on one PostgreSQL share the work.
    External,
}

/// Where the external broker is: `mqtt://host[:port]` (1883) or `mqtts://host[:port]`
/// (8883). Parsed while the file is read, so that a bad URL names its line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExternalUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

impl TryFrom<String> for ExternalUrl {
    type Error = String;

    fn try_from(url: String) -> Result<ExternalUrl, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("mqtts://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("mqtt://") {
            (false, rest)
        } else {
            return Err(format!("url {url:?}: must start with mqtt:// or mqtts://"));
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') || rest.contains('@') {
            return Err(format!(
                "url {url:?}: give only host and port (credentials go in username/password)"
            ));
        }
        // `[::1]:1883` keeps its brackets off the host; a bare host takes the default port.
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|port| *port != 0)
                    .ok_or_else(|| format!("url {url:?}: bad port {port:?}"))?;
                (host, port)
            }
            _ => (rest, if tls { 8883 } else { 1883 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("url {url:?}: no host"));
        }
        Ok(ExternalUrl {
            tls,
            host: host.to_owned(),
            port,
        })
    }
}

impl From<ExternalUrl> for String {
    fn from(url: ExternalUrl) -> String {
        let scheme = if url.tls { "mqtts" } else { "mqtt" };
        if url.host.contains(':') {
            format!("{scheme}://[{}]:{}", url.host, url.port)
        } else {
            format!("{scheme}://{}:{}", url.host, url.port)
        }
    }
}

/// Where people's browsers reach the external broker's MQTT-over-WebSocket listener:
/// `ws://` or `wss://` (`[mqtt.external] browser_url`). Browsers open it themselves, so
/// the hub only checks its shape, while the file is read, so that a mistake names its
/// line and key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BrowserUrl(String);

impl TryFrom<String> for BrowserUrl {
    type Error = String;

    fn try_from(url: String) -> Result<BrowserUrl, String> {
        let rest = url
            .strip_prefix("wss://")
            .or_else(|| url.strip_prefix("ws://"))
            .ok_or_else(|| format!("browser_url {url:?}: must start with ws:// or wss://"))?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if host.is_empty() || host.contains('@') || url.contains(char::is_whitespace) {
            return Err(format!(
                "browser_url {url:?}: give the broker's host (and port and path), no credentials"
            ));
        }
        Ok(BrowserUrl(url))
    }
}

impl From<BrowserUrl> for String {
    fn from(url: BrowserUrl) -> String {
        url.0
    }
}

impl BrowserUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `[mqtt.external]`: how this hub logs in to the external broker as a service
/// principal. The broker's own ACL must let that principal subscribe to
/// `$share/<share_group>/devices/#` and publish to `devices/#` (docs/scale.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawExternal")]
pub struct ExternalBrokerConfig {
    pub url: ExternalUrl,
    /// The MQTT client id; unset: `hearth-<host name>-<node id>`, the node id made once
    /// and kept in `<data_dir>/node-id`. It must stay the same across restarts: the
    /// broker keeps this node's session (and the messages it was given but had not
    /// acknowledged) under it, and hands them over only to the same client id.
    pub client_id: Option<String>,
    pub username: Option<String>,
    /// The password itself, or `password_file` (its first line), not both.
    #[serde(skip_serializing)]
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    /// CAs (PEM) the broker's certificate must chain to for `mqtts://`; unset: the
    /// system's.
    pub ca_file: Option<PathBuf>,
    /// The shared-subscription group every node joins (`$share/<group>/devices/+/+`):
    /// nodes in one group split the messages between them.
    pub share_group: String,
    /// How long the broker keeps this node's session (its subscriptions and the
    /// messages given to it but not acknowledged) after the node is gone. Mosquitto
    /// gives those messages to nobody else, and drops them when the session expires:
    /// keep it longer than any restart takes.
    pub session_expiry_secs: u32,
    pub keep_alive_secs: u16,
    /// QoS 1 messages the broker may have in flight to this node, unacknowledged
    /// (MQTT 5 receive maximum): how many can wait in one ingest batch. Mosquitto also
    /// caps it by its `max_inflight_messages` (20 by default: raise it).
    pub receive_maximum: u16,
    /// The address browsers use for the live view; unset: the web app has none (the
    /// broker must also check their short-lived tokens with the hub, `[broker_auth]`).
    pub browser_url: Option<BrowserUrl>,
    /// The key that signs browsers' tokens, which every node must share (a token one
    /// node issues is checked by whichever node the broker asks); unset:
    /// `<data_dir>/browser-token.key`, made on first start.
    pub browser_key_file: Option<PathBuf>,
}

/// What the file says, before the checks that involve several keys.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExternal {
    url: ExternalUrl,
    client_id: Option<String>,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    #[serde(default = "default_share_group")]
    share_group: String,
    #[serde(default = "default_session_expiry")]
    session_expiry_secs: u32,
    #[serde(default = "default_keep_alive")]
    keep_alive_secs: u16,
    #[serde(default = "default_receive_maximum")]
    receive_maximum: u16,
    browser_url: Option<BrowserUrl>,
    browser_key_file: Option<PathBuf>,
}

fn default_share_group() -> String {
    "hearth".to_owned()
}

fn default_session_expiry() -> u32 {
    86_400
}

fn default_keep_alive() -> u16 {
    30
}

fn default_receive_maximum() -> u16 {
    1000
}

impl TryFrom<RawExternal> for ExternalBrokerConfig {
    type Error = String;

    fn try_from(raw: RawExternal) -> Result<ExternalBrokerConfig, String> {
        if raw.password.is_some() && raw.password_file.is_some() {
            return Err("give password or password_file, not both".into());
        }
        if (raw.password.is_some() || raw.password_file.is_some()) && raw.username.is_none() {
            return Err("a password needs a username".into());
        }
        let group = &raw.share_group;
        if group.is_empty() || group.contains(['/', '+', '#']) {
            return Err(format!(
                "share_group {group:?}: one topic level without wildcards"
            ));
        }
        if let Some(id) = &raw.client_id
            && (id.is_empty() || id.len() > 65_535)
        {
            return Err("client_id must not be empty".into());
        }
        if raw.receive_maximum == 0 {
            return Err("receive_maximum must be at least 1".into());
        }
        if raw.session_expiry_secs == 0 {
            return Err(
                "session_expiry_secs 0 would make the broker drop the messages a \
                stopped node had not acknowledged: give at least the time a restart takes"
                    .into(),
            );
        }
        Ok(ExternalBrokerConfig {
            url: raw.url,
            client_id: raw.client_id,
            username: raw.username,
            password: raw.password,
            password_file: raw.password_file,
            ca_file: raw.ca_file,
            share_group: raw.share_group,
            session_expiry_secs: raw.session_expiry_secs,
            keep_alive_secs: raw.keep_alive_secs,
            receive_maximum: raw.receive_maximum,
            browser_url: raw.browser_url,
            browser_key_file: raw.browser_key_file,
        })
    }
}

impl ExternalBrokerConfig {
    /// A configuration with every default, for `url` (tests, tools).
    pub fn new(url: &str) -> Result<ExternalBrokerConfig, String> {
        ExternalBrokerConfig::try_from(RawExternal {
            url: ExternalUrl::try_from(url.to_owned())?,
            client_id: None,
            username: None,
            password: None,
            password_file: None,
            ca_file: None,
            share_group: default_share_group(),
            session_expiry_secs: default_session_expiry(),
            keep_alive_secs: default_keep_alive(),
            receive_maximum: default_receive_maximum(),
            browser_url: None,
            browser_key_file: None,
        })
    }

    /// Where the browsers' token key is (see `browser_key_file`).
    pub fn browser_key_path(&self, data_dir: &std::path::Path) -> PathBuf {
        self.browser_key_file
            .clone()
            .unwrap_or_else(|| data_dir.join("browser-token.key"))
    }

    /// The password: `password`, else the first line of `password_file` (read now, so
    /// that a rotated file counts from the next start).
    pub fn password(&self) -> Result<Option<String>, String> {
        if let Some(password) = &self.password {
            return Ok(Some(password.clone()));
        }
        let Some(path) = &self.password_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|error| {
            format!("[mqtt.external] password_file {}: {error}", path.display())
        })?;
        Ok(Some(text.lines().next().unwrap_or_default().to_owned()))
    }
}

/// Whether `mode` and `external` agree: external mode needs `[mqtt.external]`.
pub fn check_mode(mode: MqttMode, external: Option<&ExternalBrokerConfig>) -> Result<(), String> {
    match (mode, external) {
        (MqttMode::External, None) => {
            Err("[mqtt] mode = \"external\" needs an [mqtt.external] table with its url".into())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_default_ports_and_refuse_what_is_not_a_broker() {
        let url = |text: &str| ExternalUrl::try_from(text.to_owned());
        assert_eq!(
            url("mqtt://127.0.0.1:1884").unwrap(),
            ExternalUrl {
                tls: false,
                host: "127.0.0.1".into(),
                port: 1884
            }
        );
        assert_eq!(url("mqtts://broker.lan").unwrap().port, 8883);
        assert_eq!(url("mqtt://broker.lan/").unwrap().port, 1883);
        assert_eq!(url("mqtt://[::1]:2000").unwrap().host, "::1");
        assert_eq!(
            String::from(url("mqtt://[::1]:2000").unwrap()),
            "mqtt://[::1]:2000"
        );
        for bad in [
            "http://x",
            "mqtt://",
            "mqtt://u:p@x",
            "mqtt://x:0",
            "mqtt://x:y",
            "mqtt://x/a",
        ] {
            assert!(url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn several_keys_are_checked_together() {
        let table = |text: &str| toml::from_str::<ExternalBrokerConfig>(text);
        let config = table("url = \"mqtt://b\"").unwrap();
        assert_eq!(config.share_group, "hearth");
        assert_eq!(config.session_expiry_secs, 86_400);
        for bad in [
            "url = \"mqtt://b\"\nusername = \"u\"\npassword = \"p\"\npassword_file = \"f\"",
            "url = \"mqtt://b\"\npassword = \"p\"",
            "url = \"mqtt://b\"\nshare_group = \"a/b\"",
            "url = \"mqtt://b\"\nsession_expiry_secs = 0",
            "url = \"mqtt://b\"\nreceive_maximum = 0",
            "url = \"mqtt://b\"\nshare_gruop = \"x\"",
        ] {
            assert!(table(bad).is_err(), "{bad}");
        }
        assert!(check_mode(MqttMode::External, None).is_err());
        assert!(check_mode(MqttMode::External, Some(&config)).is_ok());
        assert!(check_mode(MqttMode::Builtin, None).is_ok());
    }

    #[test]
    fn the_mqtt_table_takes_the_mode_and_a_bad_value_names_its_line() {
        let config: crate::BrokerConfig =
            toml::from_str("mode = \"external\"\n[external]\nurl = \"mqtts://b:8884\"\n").unwrap();
        assert_eq!(config.mode, MqttMode::External);
        assert_eq!(config.external.unwrap().url.port, 8884);
        assert_eq!(crate::BrokerConfig::default().mode, MqttMode::Builtin);
        let error = toml::from_str::<crate::BrokerConfig>(
            "mode = \"external\"\n\n[external]\nurl = \"http://b\"\n",
        )
        .unwrap_err();
        let span = error.span().expect("the error has a place");
        let text = "mode = \"external\"\n\n[external]\nurl = \"http://b\"\n";
        assert_eq!(text[..span.start].matches('\n').count() + 1, 4, "{error}");
        assert!(error.message().contains("mqtt://"), "{error}");
        assert!(toml::from_str::<crate::BrokerConfig>("mode = \"cluster\"").is_err());
    }

    #[test]
    fn browser_url_takes_only_websocket_addresses_and_names_its_key() {
        let table = |text: &str| toml::from_str::<ExternalBrokerConfig>(text);
        let config =
            table("url = \"mqtt://b\"\nbrowser_url = \"wss://broker.lan:8084/mqtt\"").unwrap();
        assert_eq!(
            config.browser_url.as_ref().map(BrowserUrl::as_str),
            Some("wss://broker.lan:8084/mqtt")
        );
        assert!(table("url = \"mqtt://b\"\nbrowser_url = \"ws://b/mqtt\"").is_ok());
        assert_eq!(table("url = \"mqtt://b\"").unwrap().browser_url, None);
        for bad in [
            "http://b/mqtt",
            "mqtt://b:1883",
            "wss://",
            "wss:///mqtt",
            "ws://u:p@b/mqtt",
            "b:8084",
        ] {
            let error = table(&format!("url = \"mqtt://b\"\nbrowser_url = \"{bad}\"")).unwrap_err();
            assert!(error.message().contains("browser_url"), "{bad}: {error}");
        }
        let dir = std::path::Path::new("/var/lib/hearth");
        assert_eq!(config.browser_key_path(dir), dir.join("browser-token.key"));
        let config = table("url = \"mqtt://b\"\nbrowser_key_file = \"/etc/hearth/k\"").unwrap();
        assert_eq!(config.browser_key_path(dir), PathBuf::from("/etc/hearth/k"));
    }
}
