//! Who may connect, and what each connection may touch.

use async_trait::async_trait;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;

/// How the client reached the broker; an authorizer may, for example, refuse passwords
/// over plain TCP on a public interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Tls,
    WebSocket,
    WebSocketTls,
    /// A service inside the hub, through the in-process handle.
    InProcess,
}

/// What a client presented in CONNECT.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    pub client_id: Arc<str>,
    pub username: Option<Arc<str>>,
    pub password: Option<Bytes>,
    pub remote_addr: Option<SocketAddr>,
    pub transport: Transport,
    /// 3 for 3.1, 4 for 3.1.1, 5 for 5.0.
    pub protocol_level: u8,
    /// The DER of the client certificate the client presented in the TLS handshake
    /// (MQTTS and WSS only), already verified to chain to a CA the hub trusts for
    /// devices. The broker knows nothing of devices: which device, if any, the
    /// certificate stands for is the authorizer's decision.
    pub client_cert: Option<Bytes>,
}

/// The kinds of principal the security model (SPEC §5) knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// A device: may publish only under `devices/{id}/`.
    Device,
    /// An application (integration) with its own key and secret.
    Application,
    /// A person, through the web app's short-lived credential.
    User,
    /// An administrator: may do anything.
    Admin,
    /// A user defined in the broker's own password file.
    ConfigUser,
    /// No credentials, allowed only when anonymous access is configured.
    Anonymous,
    /// A service inside the hub.
    Service,
    /// A home hub linked to this one (issue 20): relays its devices' messages under
    /// `sites/{site}/devices/` and receives their commands there.
    Site,
}

/// The identity an [`Authorizer`] attaches to a connection at CONNECT time and is
/// handed back on every publish and subscribe check. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// Device id, application key, user name... whatever names it to the authorizer.
    pub name: Arc<str>,
}

impl Principal {
    pub fn new(kind: PrincipalKind, name: impl Into<Arc<str>>) -> Principal {
        Principal {
            kind,
            name: name.into(),
        }
    }
}

/// Why a connection was refused. `reason` is an MQTT 5 CONNACK reason code (0x86 bad user
/// name or password, 0x87 not authorized, 0x8A banned...); the broker maps it to a 3.x
/// return code for older clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connection refused ({reason:#04x}): {message}")]
pub struct AuthError {
    pub reason: u8,
    pub message: String,
}

impl AuthError {
    pub fn bad_credentials(message: impl Into<String>) -> AuthError {
        AuthError {
            reason: 0x86,
            message: message.into(),
        }
    }

    pub fn not_authorized(message: impl Into<String>) -> AuthError {
        AuthError {
            reason: 0x87,
            message: message.into(),
        }
    }
}

/// What a principal is trying to do to a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Publish to a topic name.
    Publish,
    /// Subscribe to a topic filter (wildcards included).
    Subscribe,
}

/// The answer to one SUBSCRIBE filter (see [`Authorizer::authorize_subscribe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscribeVerdict {
    /// Refused: the SUBACK says 0x87 (3.x: 0x80).
    Deny,
    /// Granted: every message the filter matches is delivered.
    Allow,
    /// Granted, but the filter may match topics the principal must not read (a wildcard
    /// in place of a device id, say), or what it may read changes while it is
    /// subscribed: the broker asks [`Authorizer::may_receive`] before each delivery on
    /// this subscription, retained messages included.
    Filtered,
}

impl SubscribeVerdict {
    /// Whether the subscription is granted at all.
    pub fn is_granted(self) -> bool {
        self != SubscribeVerdict::Deny
    }
}

/// The seam for who may do what. The broker calls `authenticate` once per CONNECT,
/// `authorize` on every PUBLISH, `authorize_subscribe` on every SUBSCRIBE filter and
/// `may_receive` on every delivery on a [`SubscribeVerdict::Filtered`] subscription, so
/// all but `authenticate` are synchronous and must be cheap: implementations precompute
/// or cache what they need.
#[async_trait]
pub trait Authorizer: Send + Sync + 'static {
    /// Decides whether the client may connect and who it is.
    async fn authenticate(&self, request: &ConnectRequest) -> Result<Principal, AuthError>;

    /// Decides whether `principal`, connected as `client_id`, may perform `action` on
    /// `topic` (a topic name for publish, a topic filter for subscribe; shared
    /// subscriptions arrive without their `$share/group/` prefix).
    fn authorize(
        &self,
        principal: &Principal,
        client_id: &str,
        action: Action,
        topic: &str,
    ) -> bool;

    /// Decides whether `principal`, connected as `client_id`, may subscribe to `filter`
    /// (without a `$share/group/` prefix), and whether each delivery on it must be
    /// checked with [`Authorizer::may_receive`]. By default [`Authorizer::authorize`]
    /// with [`Action::Subscribe`] decides, and nothing is checked per delivery.
    fn authorize_subscribe(
        &self,
        principal: &Principal,
        client_id: &str,
        filter: &str,
    ) -> SubscribeVerdict {
        if self.authorize(principal, client_id, Action::Subscribe, filter) {
            SubscribeVerdict::Allow
        } else {
            SubscribeVerdict::Deny
        }
    }

    /// Whether a message on `topic` (a topic name) may be delivered to `principal` on a
    /// subscription that [`Authorizer::authorize_subscribe`] granted as
    /// [`SubscribeVerdict::Filtered`]. Called by the broker's router for every such
    /// delivery, on its one task: it must not block and should cost a hash lookup.
    /// What it reads may change at any time (a device given to or taken from an
    /// application); the next delivery follows.
    fn may_receive(&self, _principal: &Principal, _topic: &str) -> bool {
        true
    }
}

/// Lets everyone do everything. For tests and explicit development setups only.
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

#[async_trait]
impl Authorizer for AllowAll {
    async fn authenticate(&self, request: &ConnectRequest) -> Result<Principal, AuthError> {
        let name = request
            .username
            .clone()
            .unwrap_or_else(|| request.client_id.clone());
        Ok(Principal::new(PrincipalKind::Anonymous, name))
    }

    fn authorize(&self, _: &Principal, _: &str, _: Action, _: &str) -> bool {
        true
    }
}
