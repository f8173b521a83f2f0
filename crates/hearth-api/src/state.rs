//! [`AppState`]: everything a handler needs, one `Clone` handle over `Arc`s, and
//! [`ApiConfig`], the API's settings.

use crate::metrics::Metrics;
use crate::seams::{AlertDesk, AutomationRunner, CommandService, LogLevels, MqttCredentialIssuer};
use hearth_services::{LoginLimiter, Registry};
use hearth_store::Store;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Who may create an account through `POST /api/v1/auth/register`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    /// Anyone who can reach the hub.
    Open,
    /// Accounts are made by a hub administrator (`POST /api/v1/users`, or
    /// `hearth user add`), who hands the person their password; self-service
    /// registration answers 403 saying so.
    Invite,
    /// Nobody registers; administrators create accounts.
    #[default]
    Closed,
}

/// The API's settings (the binary embeds this as its `[api]` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Always mark the session cookie `Secure`. Without it the cookie is still `Secure`
    /// on requests that came over HTTPS: a TLS listener, or `X-Forwarded-Proto: https`
    /// from a trusted proxy (`trust_forwarded_for`). Set it when the hub is only ever
    /// reached over HTTPS through a proxy that does not send that header.
    pub secure_cookies: bool,
    /// Self-service registration: `open`, `invite` or `closed` (default).
    pub registration: RegistrationMode,
    /// A session ends after this many days without use (sliding).
    pub session_ttl_days: u32,
    /// Failed logins per minute allowed per (user name, client address) before
    /// answering 429; an address gets 4 times as many over all names and a name 10
    /// times as many over all addresses except those it logged in from before (see
    /// `hearth_services::login_limit`).
    pub login_failures_per_minute: u32,
    /// Trust the reverse proxy's headers: the client's address from `X-Forwarded-For`,
    /// HTTPS from `X-Forwarded-Proto`, the host the browser used from
    /// `X-Forwarded-Host` (for the cross-origin check). Only behind a proxy that sets
    /// them; otherwise anyone could pick their rate-limit bucket.
    pub trust_forwarded_for: bool,
    /// A client must send a request's whole head (request line and headers) within
    /// this many seconds of starting it, or its connection is closed (slow clients).
    pub header_read_timeout_secs: u32,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            secure_cookies: false,
            registration: RegistrationMode::Closed,
            session_ttl_days: 30,
            login_failures_per_minute: 5,
            trust_forwarded_for: false,
            header_read_timeout_secs: 10,
        }
    }
}

/// Whether the broker accepts connections (for `/healthz`).
pub type ReadinessCheck = Arc<dyn Fn() -> bool + Send + Sync>;

/// The HTTP API's shared state. Cheap to clone (every field is an `Arc` or small).
///
/// `serve.rs` builds it with [`AppState::new`] from the store and the same
/// [`Registry`] the MQTT authorizer listens to (so that API changes revoke at once),
/// then adds what it has: [`AppState::with_commands`],
/// [`AppState::with_mqtt_credentials`], [`AppState::with_broker_ready`], and feeds
/// hub-wide numbers to `/metrics` with [`Metrics::add_collector`] on
/// [`AppState::metrics`].
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub registry: Registry,
    pub config: Arc<ApiConfig>,
    /// Sends and lists device commands; `None` answers 503 on the command routes.
    pub commands: Option<Arc<dyn CommandService>>,
    /// Starts manual runs of automations; `None` answers 503 on
    /// `/automations/{id}/run`.
    pub automation_runner: Option<Arc<dyn AutomationRunner>>,
    /// Acknowledges and clears alerts; `None` answers 503 there.
    pub alert_desk: Option<Arc<dyn AlertDesk>>,
    /// Firmware images and rollouts; `None` answers 503 on `/firmware` and `/rollouts`.
    pub ota: Option<hearth_services::ota::Ota>,
    /// The hub's VAPID public key (base64url) for Web Push; `None` answers 503 on
    /// `/push/key`.
    pub push_key: Option<Arc<str>>,
    /// Issues browser MQTT credentials; `None` answers 503 on `/mqtt/credentials`.
    pub mqtt_credentials: Option<Arc<dyn MqttCredentialIssuer>>,
    /// Whether the broker is ready; `/healthz` reports it. Defaults to "yes" (no
    /// broker to wait for).
    pub broker_ready: ReadinessCheck,
    pub metrics: Metrics,
    /// Reads and changes the process's log filter; `None` answers 503 on
    /// `/admin/log-level` (a process whose logger is not the hub's own, e.g. a test).
    pub log_levels: Option<Arc<dyn LogLevels>>,
    /// The home hub's link to its cloud hub; `None` (no `[bridge]`) answers 404 on
    /// `/bridge`.
    pub bridge: Option<hearth_services::bridge::StatusReader>,
    /// The sites' relay (a cloud hub): each site's link on `/sites`; `None` leaves the
    /// link out of the answers.
    pub site_relay: Option<Arc<hearth_services::ingest::SiteRelay>>,
    /// Where devices are attached (issue 20): `live.attached_via` of the device views;
    /// `None` leaves it `null`.
    pub attachments: Option<hearth_services::ingest::Attachments>,
    /// The endpoints an external MQTT broker calls for authentication and ACL (issue 21,
    /// `[broker_auth]`); `None` answers 404 there.
    pub broker_auth: Option<crate::routes::broker_auth::BrokerAuthState>,
    /// Sign-in with OpenID Connect providers (`[oidc]`, issue 23); `None` lists no
    /// providers and sends `/auth/oidc/...` back to the login page.
    pub oidc: Option<Arc<hearth_services::oidc::Oidc>>,
    /// The password-guessing limit; shared with the MQTT login through
    /// [`AppState::with_login_limiter`] / [`AppState::login_limiter`].
    pub(crate) limiter: Arc<LoginLimiter>,
    /// Taken-id refusals per user (`routes::taken`): the same sliding-window counter,
    /// keyed by the caller's name.
    pub(crate) id_probes: Arc<LoginLimiter>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, registry: Registry, config: ApiConfig) -> AppState {
        let limiter = LoginLimiter::new(config.login_failures_per_minute);
        AppState {
            store,
            registry,
            config: Arc::new(config),
            commands: None,
            automation_runner: None,
            alert_desk: None,
            ota: None,
            push_key: None,
            mqtt_credentials: None,
            broker_ready: Arc::new(|| true),
            metrics: Metrics::new(),
            log_levels: None,
            bridge: None,
            site_relay: None,
            attachments: None,
            broker_auth: None,
            oidc: None,
            limiter: Arc::new(limiter),
            id_probes: Arc::new(LoginLimiter::new(
                crate::routes::taken::TAKEN_IDS_PER_MINUTE,
            )),
        }
    }

    /// Answers an external broker's authentication and ACL calls from `authority`, for
    /// callers that present `config`'s secret (`[broker_auth]`, docs/scale.md).
    pub fn with_broker_auth(
        mut self,
        authority: Arc<dyn crate::seams::BrokerAuthority>,
        config: &crate::routes::broker_auth::BrokerAuthConfig,
    ) -> AppState {
        self.broker_auth = Some(crate::routes::broker_auth::BrokerAuthState::new(
            authority,
            config,
            self.config.login_failures_per_minute,
        ));
        self
    }

    /// Lets people sign in with the providers of `[oidc]`.
    pub fn with_oidc(mut self, oidc: Arc<hearth_services::oidc::Oidc>) -> AppState {
        self.oidc = Some(oidc);
        self
    }

    /// Fills devices' `live.attached_via` (issue 20) from ingest's attachments.
    pub fn with_attachments(
        mut self,
        attachments: hearth_services::ingest::Attachments,
    ) -> AppState {
        self.attachments = Some(attachments);
        self
    }

    /// A device as the API shows it, with where it is attached now.
    pub fn device_view(&self, device: hearth_model::Device) -> crate::dto::DeviceView {
        let attached = self
            .attachments
            .as_ref()
            .and_then(|attachments| attachments.get(device.id.as_str()));
        let mut view = crate::dto::DeviceView::from(device);
        view.live.attached_via = attached.map(|attached| match attached {
            hearth_services::ingest::Attachment::Direct => "direct".to_owned(),
            hearth_services::ingest::Attachment::Site(site) => site.to_string(),
        });
        view
    }

    /// Serves `/bridge` from the running bridge's status.
    pub fn with_bridge(mut self, bridge: hearth_services::bridge::StatusReader) -> AppState {
        self.bridge = Some(bridge);
        self
    }

    /// Shows each site's link (connected, relayed, lag) on `/sites`.
    pub fn with_site_relay(mut self, relay: Arc<hearth_services::ingest::SiteRelay>) -> AppState {
        self.site_relay = Some(relay);
        self
    }

    pub fn with_commands(mut self, commands: Arc<dyn CommandService>) -> AppState {
        self.commands = Some(commands);
        self
    }

    pub fn with_automation_runner(mut self, runner: Arc<dyn AutomationRunner>) -> AppState {
        self.automation_runner = Some(runner);
        self
    }

    pub fn with_ota(mut self, ota: hearth_services::ota::Ota) -> AppState {
        self.ota = Some(ota);
        self
    }

    pub fn with_alert_desk(mut self, desk: Arc<dyn AlertDesk>) -> AppState {
        self.alert_desk = Some(desk);
        self
    }

    /// The VAPID public key when the hub sends Web Push.
    pub fn with_push_key_if(mut self, public_key: Option<String>) -> AppState {
        self.push_key = public_key.map(Into::into);
        self
    }

    pub fn with_mqtt_credentials(mut self, issuer: Arc<dyn MqttCredentialIssuer>) -> AppState {
        self.mqtt_credentials = Some(issuer);
        self
    }

    /// Uses `limiter` (shared with the MQTT login) instead of the API's own.
    pub fn with_login_limiter(mut self, limiter: Arc<LoginLimiter>) -> AppState {
        self.limiter = limiter;
        self
    }

    /// The password-guessing limit, to share with the MQTT login.
    pub fn login_limiter(&self) -> Arc<LoginLimiter> {
        self.limiter.clone()
    }

    /// Lets hub administrators read and change the log filter while the hub runs
    /// (`None`: the process's logger cannot be changed, `/admin/log-level` answers 503).
    pub fn with_log_levels_if(mut self, levels: Option<Arc<dyn LogLevels>>) -> AppState {
        self.log_levels = levels;
        self
    }

    pub fn with_broker_ready(mut self, ready: ReadinessCheck) -> AppState {
        self.broker_ready = ready;
        self
    }

    /// The hub's metrics registry (add collectors to it before serving).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}
