//! Broker settings: one serde tree, the `[mqtt]` table of `hearth.toml`.
//!
//! Every field has a default that is safe for a home box; limits are never unbounded,
//! because one misbehaving client must not be able to take the hub's memory.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::file_auth::FileAuthConfig;

/// Everything the broker needs to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// Plain MQTT over TCP. `None` disables the listener.
    pub listen: Option<SocketAddr>,
    /// MQTT over WebSocket (browsers with mqtt.js), path [`BrokerConfig::ws_path`].
    pub ws_listen: Option<SocketAddr>,
    /// MQTT over TLS; needs [`TlsConfig`].
    pub tls_listen: Option<SocketAddr>,
    /// MQTT over WebSocket over TLS; needs [`TlsConfig`].
    pub wss_listen: Option<SocketAddr>,
    /// HTTP path the WebSocket listeners accept.
    pub ws_path: String,
    /// Certificate and key for the TLS and WSS listeners.
    pub tls: Option<TlsConfig>,
    /// Password file, ACL file and anonymous access.
    pub auth: FileAuthConfig,
    pub limits: Limits,
    /// Messages and bytes per second per principal, connections per second per address.
    pub rate_limits: crate::rate_limit::RateLimitConfig,
    /// Seconds between `$SYS/broker/...` updates; 0 disables them.
    pub sys_interval_secs: u64,
    /// Keep retained messages, persistent sessions and their queued QoS 1/2 messages in
    /// `<data_dir>/broker.redb` across restarts, acknowledging QoS 1/2 publishes only once
    /// they are on disk.
    pub persistence: bool,
    /// `builtin` (this broker) or `external` (`[mqtt.external]`, issue 21): in
    /// external mode the hub starts none of the listeners above.
    pub mode: crate::external::MqttMode,
    /// The external broker this hub logs in to in external mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<crate::external::ExternalBrokerConfig>,
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        BrokerConfig {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 1883))),
            ws_listen: Some(SocketAddr::from(([127, 0, 0, 1], 8083))),
            tls_listen: None,
            wss_listen: None,
            ws_path: "/mqtt".to_owned(),
            tls: None,
            auth: FileAuthConfig::default(),
            limits: Limits::default(),
            rate_limits: crate::rate_limit::RateLimitConfig::default(),
            sys_interval_secs: 10,
            persistence: true,
            mode: crate::external::MqttMode::Builtin,
            external: None,
        }
    }
}

impl BrokerConfig {
    /// A configuration for tests: every listener on an ephemeral loopback port.
    pub fn ephemeral() -> BrokerConfig {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        BrokerConfig {
            listen: Some(any_port),
            ws_listen: Some(any_port),
            sys_interval_secs: 1,
            ..BrokerConfig::default()
        }
    }
}

/// The certificate of the TLS listeners (MQTTS, WSS and the hub's HTTPS) and the CAs
/// whose client certificates devices may log in with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first. Re-read when it changes (see docs/tls.md).
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// A further CA (PEM) whose client certificates the MQTTS and WSS listeners accept,
    /// besides the hub's own device CA. The registry still decides which device a
    /// certificate stands for (`hearth device cert ID --import FILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<PathBuf>,
    /// Seconds between checks of the certificate files for a renewal.
    #[serde(default = "default_reload_check_secs")]
    pub reload_check_secs: u64,
    /// The hub's device CA (`<data_dir>/tls/device-ca.pem`), set by the hub, not read
    /// from the file: certificates it issued let devices log in.
    #[serde(skip)]
    pub device_ca_file: Option<PathBuf>,
}

fn default_reload_check_secs() -> u64 {
    5
}

impl Default for TlsConfig {
    /// No files yet; the usual reload check.
    fn default() -> TlsConfig {
        TlsConfig {
            cert_file: PathBuf::new(),
            key_file: PathBuf::new(),
            client_ca_file: None,
            reload_check_secs: default_reload_check_secs(),
            device_ca_file: None,
        }
    }
}

impl TlsConfig {
    /// A certificate and key, nothing else configured.
    pub fn new(cert_file: PathBuf, key_file: PathBuf) -> TlsConfig {
        TlsConfig {
            cert_file,
            key_file,
            ..TlsConfig::default()
        }
    }

    /// The CA files client certificates are checked against: the device CA, then the
    /// configured extra one.
    pub fn client_ca_files(&self) -> Vec<PathBuf> {
        self.device_ca_file
            .iter()
            .chain(self.client_ca_file.iter())
            .cloned()
            .collect()
    }
}

/// What happens when a session's queue of undelivered QoS 1/2 messages is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum QueueFullPolicy {
    /// Keep what is queued and drop the new message (what Mosquitto does).
    #[default]
    DropNew,
    /// Drop the oldest queued message to make room: for sensors, the latest reading
    /// matters more than an old one.
    DropOldest,
}

/// Bounds on what any one client may cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Connections accepted at once; further CONNECTs get "server unavailable".
    pub max_connections: usize,
    /// Largest packet accepted, in bytes; larger ones are refused while being read.
    pub max_packet_size: u32,
    /// QoS 1/2 messages a client may have unacknowledged towards the broker (the
    /// Receive Maximum the broker announces).
    pub receive_maximum: u16,
    /// QoS 1/2 messages the broker keeps in flight towards one client (further capped by
    /// the client's own Receive Maximum).
    pub max_inflight: u16,
    /// QoS 1/2 messages queued per session beyond the in-flight window, including while
    /// a persistent session is offline.
    pub max_queued_messages: usize,
    /// Bytes (topic + payload) queued per session, the same way; 0 means no byte limit.
    pub max_queued_bytes: usize,
    /// What to do when [`Limits::max_queued_messages`] or [`Limits::max_queued_bytes`]
    /// is reached.
    pub queue_full_policy: QueueFullPolicy,
    /// Back-pressure: once a session has this many messages queued, a QoS 1/2 publish
    /// that adds to the queue is acknowledged to its publisher only when the message
    /// moves into the subscriber's window. Publishers with a bounded window (every
    /// common client) then slow down to the pace of a slow subscriber instead of
    /// overflowing its queue. A subscriber that is offline, or has acknowledged nothing
    /// for a second, holds nobody back (one stalled client must not slow the others);
    /// its queue limit applies instead. 0 disables back-pressure.
    pub queue_backpressure_at: usize,
    /// Milliseconds without any acknowledgement after which a connected subscriber
    /// counts as stalled rather than slow, and stops holding publishers back.
    pub subscriber_stall_ms: u64,
    /// QoS 0 messages waiting in a connection's write queue before further ones are
    /// dropped: a client that stops reading loses QoS 0 messages, nobody else slows down.
    pub max_qos0_backlog: usize,
    /// Seconds a new connection has to send CONNECT.
    pub connect_timeout_secs: u64,
    /// Largest keep-alive granted, in seconds; a v5 client asking for more (or for 0) is
    /// told this value as Server Keep Alive. 0 means no limit.
    pub max_keep_alive_secs: u16,
    /// Largest session expiry interval granted to v5 clients, in seconds.
    pub max_session_expiry_secs: u32,
    /// Topic aliases a v5 client may use towards the broker.
    pub topic_alias_maximum: u16,
    /// Whether retained messages are accepted.
    pub retain_available: bool,
    /// Subscriptions one session may hold, shared ones (`$share/...`) included. Further
    /// filters of a SUBSCRIBE are refused one by one (MQTT 5: 0x97 Quota exceeded;
    /// 3.1.1: 0x80), the others granted; renewing a subscription the session already has
    /// does not count again. The hub's web app takes 4 per device on its page (at most
    /// 500 devices, so 2,000) and a device a handful, so the default leaves room.
    /// Subscribers inside the hub are not counted. Mosquitto has no such limit; EMQX
    /// has `max_subscriptions`, unlimited by default.
    ///
    /// With the three limits at their defaults, the most one client's subscriptions
    /// can cost is about 50 MB (5,000 filters of 10 levels no one else uses: one index
    /// node, about 1 KB, per level); a filter with 2 or 3 levels of its own, about 2 KB.
    pub max_subscriptions_per_client: usize,
    /// Longest topic filter accepted in a SUBSCRIBE, in bytes as written (a
    /// `$share/{group}/` prefix included); a longer one is refused (MQTT 5: 0x8F Topic
    /// Filter invalid; 3.1.1: 0x80). Hearth's own longest filter is about 150 bytes
    /// (`devices/{64-byte id}/commands/{name}`); AWS IoT allows 256.
    pub max_topic_filter_length: usize,
    /// Most levels (parts between `/`) in a topic filter, counted after the
    /// `$share/{group}/` prefix of a shared one; refused like a filter that is too long.
    /// Each level of a filter no one else uses is a node of the subscription index, the
    /// largest cost of a subscription. Hearth's topics have at most 4 levels, Homie's and
    /// Sparkplug's 5; AWS IoT allows 8, EMQX 128 (`max_topic_levels`).
    pub max_topic_levels: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 100_000,
            max_packet_size: 1024 * 1024,
            receive_maximum: 1024,
            max_inflight: 256,
            max_queued_messages: 10_000,
            max_queued_bytes: 64 * 1024 * 1024,
            queue_full_policy: QueueFullPolicy::DropNew,
            queue_backpressure_at: 1_000,
            subscriber_stall_ms: 1_000,
            max_qos0_backlog: 10_000,
            connect_timeout_secs: 10,
            max_keep_alive_secs: 0,
            max_session_expiry_secs: u32::MAX,
            topic_alias_maximum: 64,
            retain_available: true,
            max_subscriptions_per_client: 5_000,
            max_topic_filter_length: 512,
            max_topic_levels: 10,
        }
    }
}

impl Limits {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }

    pub fn subscriber_stall(&self) -> Duration {
        Duration::from_millis(self.subscriber_stall_ms)
    }
}
