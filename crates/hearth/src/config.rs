//! One configuration tree: defaults, then `hearth.toml`, then `HEARTH_*` variables and
//! flags (clap gives flags precedence over their variables).

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::cli::{ServeArgs, StoreArgs};
use hearth_broker::BrokerConfig;

/// Everything `hearth serve` reads. Each component has its own table.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HearthConfig {
    /// Where the hub keeps its files (SQLite database, generated secrets).
    pub data_dir: PathBuf,
    /// Database URL; empty means SQLite in `data_dir`.
    pub database: Option<String>,
    /// HTTP listener for the API and the web app.
    pub http: Option<SocketAddr>,
    /// HTTPS listener for the API and the web app, with the certificate of `[mqtt.tls]`
    /// (re-read when its files change) and `Strict-Transport-Security`.
    pub https: Option<SocketAddr>,
    /// A listener that answers every request with a 301 to the same path on `https`.
    pub http_redirect: Option<SocketAddr>,
    /// `host` or `host:port` the redirect names; unset: the request's own host name (when
    /// it is one) with the HTTPS port. Set it when the hub is reached under a public name.
    pub redirect_host: Option<String>,
    /// The MQTT broker.
    pub mqtt: BrokerConfig,
    /// Device messages into history and live state; presence.
    pub ingest: hearth_services::ingest::IngestConfig,
    /// History rollups and retention.
    pub history: hearth_services::retention::RetentionConfig,
    /// Remote control.
    pub commands: hearth_services::commands::CommandConfig,
    /// The HTTP API.
    pub api: hearth_api::ApiConfig,
    /// The automation engine.
    pub automations: hearth_services::automations::engine::EngineConfig,
    /// Alerts: webhooks defined once and named by rules.
    pub alerts: hearth_services::alerts::AlertConfig,
    /// The e-mail server and Web Push (`[notifications.email]`, `[notifications.push]`).
    pub notifications: hearth_services::notify::settings::NotificationsConfig,
    /// Firmware updates over the air (`[firmware]`: max_bytes, token_ttl_secs, public_url).
    pub firmware: hearth_services::ota::OtaConfig,
    /// Topic layouts of applications (`[layouts.<app id>]`, inline or `file = ...`),
    /// applied at start (docs/layouts.md).
    pub layouts: std::collections::BTreeMap<String, hearth_services::layouts::LayoutSource>,
    /// Home Assistant MQTT discovery (`[discovery]`: enabled, prefix; docs/discovery.md).
    pub discovery: hearth_services::discovery::DiscoverySettings,
    /// The link to a cloud hub (`[bridge]`: url, site, secret, queue bounds; docs/bridge.md).
    /// Absent: no bridge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge: Option<hearth_services::bridge::BridgeConfig>,
    /// Authentication and ACL over HTTP for an external broker (`[broker_auth]`: secret;
    /// docs/scale.md). Absent: those endpoints answer 404.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broker_auth: Option<hearth_api::BrokerAuthConfig>,
    /// A Mosquitto whose dynamic-security plugin the hub keeps in step with the registry
    /// (`[dynsec]`: url, admin, password or password_file, key_file; docs/scale.md
    /// "Mosquitto dynamic security"). Absent: no sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynsec: Option<hearth_services::dynsec::DynsecConfig>,
    /// Several nodes on one database (external-broker mode, issue 21): the coordinator
    /// lease.
    pub cluster: crate::coordinator::ClusterConfig,
    /// Sign-in with OpenID Connect providers (`[oidc]`, `[[oidc.providers]]`;
    /// docs/onboarding.md "Signing in with an identity provider"). None by default.
    pub oidc: hearth_services::oidc::OidcConfig,
}

impl Default for HearthConfig {
    fn default() -> HearthConfig {
        HearthConfig {
            data_dir: PathBuf::from("data"),
            database: None,
            http: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
            https: None,
            http_redirect: None,
            redirect_host: None,
            mqtt: BrokerConfig::default(),
            ingest: Default::default(),
            history: Default::default(),
            commands: Default::default(),
            api: Default::default(),
            automations: Default::default(),
            alerts: Default::default(),
            notifications: Default::default(),
            firmware: Default::default(),
            layouts: Default::default(),
            discovery: Default::default(),
            bridge: None,
            broker_auth: None,
            dynsec: None,
            cluster: crate::coordinator::ClusterConfig::default(),
            oidc: Default::default(),
        }
    }
}

impl HearthConfig {
    /// Builds the configuration `serve` runs with.
    pub fn load(args: &ServeArgs) -> anyhow::Result<HearthConfig> {
        let mut config = HearthConfig::load_store(&args.store)?;
        config.apply_args(args);
        Ok(config)
    }

    /// Builds the configuration the administrative commands run with: the same file,
    /// variables and flags as `serve` for the data directory and the database, so that
    /// both open the same store.
    pub fn load_store(args: &StoreArgs) -> anyhow::Result<HearthConfig> {
        let default_file = Path::new("hearth.toml");
        let mut config = match &args.config {
            Some(path) => HearthConfig::from_file(path)?,
            None if default_file.exists() => HearthConfig::from_file(default_file)?,
            None => HearthConfig::default(),
        };
        if let Some(dir) = &args.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(database) = &args.database {
            config.database = Some(database.clone());
        }
        Ok(config)
    }

    /// The registry's database URL: `database` when set, else SQLite in `data_dir`
    /// (created if missing, so that the SQLite file can be).
    pub fn database_url(&self) -> anyhow::Result<String> {
        match self.database.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => Ok(url.to_owned()),
            _ => {
                std::fs::create_dir_all(&self.data_dir).with_context(|| {
                    format!("creating data directory {}", self.data_dir.display())
                })?;
                Ok(hearth_store::sqlite_url(&self.data_dir))
            }
        }
    }

    pub fn from_file(path: &Path) -> anyhow::Result<HearthConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        HearthConfig::from_toml(&text)
            .map_err(|message| anyhow::anyhow!("{}: {message}", path.display()))
    }

    /// Parses TOML text; the error names the line and column, and toml's own message
    /// names the key (e.g. "unknown field `lisen`").
    pub fn from_toml(text: &str) -> Result<HearthConfig, String> {
        let config: HearthConfig = toml::from_str(text).map_err(|error: toml::de::Error| {
            let message = error.message().to_owned();
            match error.span() {
                Some(span) => {
                    let before = &text[..span.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!("line {line}, column {column}: {message}")
                }
                None => message,
            }
        })?;
        // What the types cannot check names its key instead of a line.
        config.history.validate()?;
        config.oidc.validate()?;
        hearth_broker::external::check_mode(config.mqtt.mode, config.mqtt.external.as_ref())?;
        Ok(config)
    }

    fn apply_args(&mut self, args: &ServeArgs) {
        if let Some(http) = args.http {
            self.http = http.into_option();
        }
        if let Some(https) = args.https {
            self.https = https.into_option();
        }
        if let Some(redirect) = args.http_redirect {
            self.http_redirect = redirect.into_option();
        }
        let mqtt = &mut self.mqtt;
        if let Some(listen) = args.mqtt {
            mqtt.listen = listen.into_option();
        }
        if let Some(listen) = args.ws {
            mqtt.ws_listen = listen.into_option();
        }
        if let Some(listen) = args.mqtts {
            mqtt.tls_listen = listen.into_option();
        }
        if let Some(listen) = args.wss {
            mqtt.wss_listen = listen.into_option();
        }
        match (&args.tls_cert, &args.tls_key) {
            (Some(cert_file), Some(key_file)) => {
                let mut tls = mqtt.tls.take().unwrap_or_default();
                tls.cert_file = cert_file.clone();
                tls.key_file = key_file.clone();
                mqtt.tls = Some(tls);
            }
            (Some(cert_file), None) => {
                if let Some(tls) = &mut mqtt.tls {
                    tls.cert_file = cert_file.clone();
                }
            }
            (None, Some(key_file)) => {
                if let Some(tls) = &mut mqtt.tls {
                    tls.key_file = key_file.clone();
                }
            }
            (None, None) => {}
        }
        if let Some(file) = &args.password_file {
            mqtt.auth.password_file = Some(file.clone());
        }
        if let Some(file) = &args.acl_file {
            mqtt.auth.acl_file = Some(file.clone());
        }
        if args.allow_anonymous {
            mqtt.auth.allow_anonymous = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_overrides_defaults() {
        let config = HearthConfig::from_toml(
            "data_dir = \"/var/lib/hearth\"\n[mqtt]\nlisten = \"0.0.0.0:1884\"\n[mqtt.limits]\nmax_inflight = 8\n",
        )
        .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/hearth"));
        assert_eq!(config.mqtt.listen, Some("0.0.0.0:1884".parse().unwrap()));
        assert_eq!(config.mqtt.limits.max_inflight, 8);
        // Untouched settings keep their defaults.
        assert_eq!(config.mqtt.ws_path, "/mqtt");
    }

    #[test]
    fn rate_limits_and_overrides_are_read_from_the_mqtt_rate_limits_table() {
        let config = HearthConfig::from_toml(
            "[mqtt.rate_limits]\nmax_conn_rate = 5.0\n[mqtt.rate_limits.device]\nmessages_rate = 2.0\n[mqtt.rate_limits.principals.\"meter\"]\nmessages_rate = 50.0\nbytes_burst = 4096\n",
        )
        .unwrap();
        let limits = &config.mqtt.rate_limits;
        assert_eq!(limits.max_conn_rate, 5.0);
        assert_eq!(limits.device.messages_rate, Some(2.0));
        assert_eq!(limits.principals["meter"].messages_rate, Some(50.0));
        assert_eq!(limits.principals["meter"].bytes_burst, Some(4096));
        HearthConfig::from_toml("[mqtt.rate_limits.device]\nmessage_rate = 2.0\n").unwrap_err();
    }

    #[test]
    fn subscription_limits_are_read_from_the_mqtt_limits_table() {
        let config = HearthConfig::from_toml(
            "[mqtt.limits]\nmax_subscriptions_per_client = 10\nmax_topic_filter_length = 128\nmax_topic_levels = 4\n",
        )
        .unwrap();
        let limits = &config.mqtt.limits;
        assert_eq!(limits.max_subscriptions_per_client, 10);
        assert_eq!(limits.max_topic_filter_length, 128);
        assert_eq!(limits.max_topic_levels, 4);
    }

    #[test]
    fn a_bad_key_names_line_and_key() {
        let error = HearthConfig::from_toml(
            "data_dir = \"d\"\n\n[mqtt]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n",
        )
        .unwrap_err();
        assert!(error.starts_with("line 5, column 1:"), "{error}");
        assert!(error.contains("lisen"), "{error}");
    }

    #[test]
    fn the_example_file_parses_to_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../hearth.example.toml");
        let example = HearthConfig::from_file(Path::new(path)).unwrap();
        let defaults = HearthConfig::default();
        // Compare through TOML so that every field is covered without PartialEq everywhere.
        assert_eq!(
            toml::to_string(&example).unwrap(),
            toml::to_string(&defaults).unwrap()
        );
    }

    #[test]
    fn a_bad_value_names_its_line() {
        let error =
            HearthConfig::from_toml("[mqtt.limits]\nmax_inflight = \"many\"\n").unwrap_err();
        assert!(error.starts_with("line 2,"), "{error}");
    }

    #[test]
    fn an_oidc_provider_mistake_names_its_line() {
        let error = HearthConfig::from_toml(
            "data_dir = \"d\"\n\n[[oidc.providers]]\nid = \"kc\"\n\
             issuer = \"https://id.example.org\"\nclient_id = \"hearth\"\n",
        )
        .unwrap_err();
        assert!(error.starts_with("line 3, column 1:"), "{error}");
        assert!(
            error.contains("client_secret or client_secret_file"),
            "{error}"
        );
        let error = HearthConfig::from_toml(
            "[[oidc.providers]]\nid = \"a\"\nissuer = \"https://i\"\nclient_id = \"c\"\n\
             client_secret = \"s\"\n[[oidc.providers]]\nid = \"a\"\nissuer = \"https://i\"\n\
             client_id = \"c\"\nclient_secret = \"s\"\n",
        )
        .unwrap_err();
        assert!(error.contains("\"a\" is used twice"), "{error}");
    }
}
