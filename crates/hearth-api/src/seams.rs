//! The services the API calls but does not implement: device commands, browser MQTT
//! credentials and the automation engine's manual runs. `hearth serve` implements them over `hearth_services` (an adapter
//! in the binary, so that the services never depend on HTTP); tests use fakes.
//!
//! Both return [`ApiError`] directly: an adapter maps its service's errors with the
//! constructors there (`ApiError::invalid(field, ..)`, `ApiError::not_found(..)`,
//! `ApiError::unavailable(..)`, `ApiError::internal(..)`).

use crate::error::ApiError;
use async_trait::async_trait;
use hearth_model::{Command, DeviceId, Millis, UserName};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A command to send, already authorized (the caller may control the device) and
/// checked (name is a topic-safe level, params a JSON object).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRequest {
    /// Who sends it, for the command log and audit (`user:alice`).
    pub actor: String,
    pub device: DeviceId,
    /// The topic level: published on `devices/{device}/commands/{name}`.
    pub name: String,
    pub params: serde_json::Value,
    /// How long an offline device's command may wait before it expires (`timeout`);
    /// `None` for the service's default.
    pub ttl_ms: Option<Millis>,
}

/// Device commands (`hearth_services::commands` behind an adapter). They return
/// [`Command`] as it is, the type the hub also announces on `devices/{id}/command-status`.
#[async_trait]
pub trait CommandService: Send + Sync {
    /// Stores the command as `pending` and publishes it (or queues it until the device
    /// is online); returns it as stored.
    async fn send(&self, request: CommandRequest) -> Result<Command, ApiError>;
    /// A device's commands, newest first.
    async fn list(&self, device: &DeviceId, limit: u32) -> Result<Vec<Command>, ApiError>;
    /// One command; `ApiError::NotFound` if there is none with this id.
    async fn get(&self, id: &str) -> Result<Command, ApiError>;
}

/// An MQTT-over-WebSocket login for a browser, valid until `expires_at_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IssuedCredential {
    /// e.g. `ws://127.0.0.1:8083/mqtt`.
    pub ws_url: String,
    pub client_id: String,
    pub username: String,
    /// A short-lived signed token, used as the MQTT password.
    pub password: String,
    pub expires_at_ms: Millis,
}

/// Browser MQTT credentials (`RegistryAuthorizer`'s user tokens behind an adapter).
pub trait MqttCredentialIssuer: Send + Sync {
    /// Credentials for `user`, tied to `session` (a login session's or API token's
    /// opaque id), whose ACL follows the user's roles and grants.
    fn issue(&self, user: &UserName, session: &str) -> Result<IssuedCredential, ApiError>;
    /// `session` ended (logout): its credentials stop working and live connections
    /// using them are cut.
    fn revoke_session(&self, session: &str);
}

/// Manual runs of automations (`hearth_services::automations::engine::Engine` behind an
/// adapter). The route has already checked who may run it and that it is enabled.
#[async_trait]
pub trait AutomationRunner: Send + Sync {
    /// Starts a run of `automation_id` as its `manual` trigger (its conditions still
    /// apply) for `actor` (`user:alice`); returns the run's id at once, before its
    /// actions go.
    async fn run_now(&self, automation_id: &str, actor: &str) -> Result<String, ApiError>;

    /// Applies a scene for `actor` and waits for every device's outcome: `{"result":
    /// "4/5 confirmed, lamp-3 timeout", "confirmed", "total", "devices": {...}}`. The
    /// route has checked that the caller may control the group's devices.
    async fn apply_scene(
        &self,
        scene_id: &str,
        actor: &str,
    ) -> Result<serde_json::Value, ApiError> {
        let _ = (scene_id, actor);
        Err(ApiError::unavailable(
            "the automation engine is not running on this hub",
        ))
    }

    /// Fires an automation's `webhook` trigger with the call's body (the route checked
    /// the secret); the run's id. 404 if it has no such trigger or is disabled.
    async fn hook(&self, automation_id: &str, body: serde_json::Value) -> Result<String, ApiError> {
        let _ = (automation_id, body);
        Err(ApiError::unavailable(
            "the automation engine is not running on this hub",
        ))
    }

    /// A person's answer to a confirmation request; `role` is their membership in the
    /// request's group (`None`: not a member, whatever else they are). The request as
    /// it is afterwards.
    async fn answer(
        &self,
        request_id: &str,
        user: &hearth_model::UserName,
        role: Option<hearth_model::Role>,
        confirm: bool,
    ) -> Result<hearth_model::Confirmation, ApiError> {
        let _ = (request_id, user, role, confirm);
        Err(ApiError::unavailable(
            "the automation engine is not running on this hub",
        ))
    }
}

/// A person's actions on alerts (`hearth_services::alerts::AlertServices` behind an
/// adapter): the route has checked that the caller may act on the alert's group.
#[async_trait]
pub trait AlertDesk: Send + Sync {
    /// Marks it seen (it stays active); audited, shown live. 409 if cleared.
    async fn acknowledge(
        &self,
        alert_id: &str,
        user: &hearth_model::UserName,
    ) -> Result<hearth_model::Alert, ApiError>;
    /// Clears it; audited, shown live. 409 if already cleared.
    async fn clear(
        &self,
        alert_id: &str,
        user: &hearth_model::UserName,
    ) -> Result<hearth_model::Alert, ApiError>;
    /// Re-reads rules after a change, so that the next reading is judged by them.
    async fn reload(&self);
}

/// The running process's log filter (a `tracing_subscriber` reload handle behind an
/// adapter in the binary), so that an administrator can turn on debug logs for one
/// component while the hub runs, without a restart that would lose the state to look at.
pub trait LogLevels: Send + Sync {
    /// The filter in force, in `EnvFilter` syntax (`info,hearth_broker=debug`).
    fn current(&self) -> String;
    /// Replaces the filter; the error says why `filter` is not a valid one (nothing
    /// changes then). Returns the filter as now in force.
    fn set(&self, filter: &str) -> Result<String, String>;
}

/// A CONNECT an external MQTT broker asks about (issue 21, `routes/broker_auth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerLogin {
    /// `None` when the client sent no user name.
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub client_id: String,
    /// The client's address as the broker saw it: failed logins are counted per
    /// address as the built-in broker counts them.
    pub peer: Option<std::net::IpAddr>,
}

/// What an external broker asks about a connected client, in the built-in broker's
/// terms (see `hearth_services::auth::ExternalAccess`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerAccess {
    /// Publish on a topic name (wills and retained messages too).
    Publish,
    /// Subscribe, on a broker that never checks deliveries (EMQX, VerneMQ).
    Subscribe,
    /// Subscribe, on a broker that asks [`BrokerAccess::Receive`] per delivery
    /// (Mosquitto with go-auth).
    SubscribeCheckedPerDelivery,
    /// Deliver a message on a topic name.
    Receive,
}

/// A login the registry accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSession {
    /// When the credential expires (a browser token), for brokers that can cut then.
    pub expires_at_ms: Option<Millis>,
    /// Exact topics (or filters) the client may always publish (`true`) or subscribe to
    /// (`false`) on this connection, for brokers that take a list at CONNECT.
    pub preset: Vec<(bool, String)>,
}

/// The registry's MQTT authentication and ACL for an external broker
/// (`RegistryAuthorizer` behind an adapter): the same decisions as the built-in broker's.
#[async_trait]
pub trait BrokerAuthority: Send + Sync {
    /// Checks a CONNECT: credentials, client-id ownership, the login limit. The error
    /// says why (for the hub's log, not for the client).
    async fn login(&self, login: BrokerLogin) -> Result<BrokerSession, String>;
    /// Whether the client connected as `client_id` with `username` may do `access` on
    /// `topic` (a shared subscription's `$share/{group}/` already removed).
    fn allows(
        &self,
        username: Option<&str>,
        client_id: &str,
        access: BrokerAccess,
        topic: &str,
    ) -> bool;
}
