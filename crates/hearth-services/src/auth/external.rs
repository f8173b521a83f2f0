//! The authorizer's answers for an external broker (issue 21, docs/scale.md "Broker
//! authentication over HTTP"): EMQX, VerneMQ or Mosquitto with mosquitto-go-auth ask
//! Hearth's HTTP endpoints at CONNECT, PUBLISH and SUBSCRIBE, and the endpoints ask here.
//!
//! Nothing here is a second copy of the rules: a login is [`Authorizer::authenticate`]
//! itself (the same password checks, client-id ownership, login limiter and failure
//! delay), and a later check is [`Authorizer::authorize`] / `authorize_subscribe` /
//! `may_receive` on the principal the built-in broker would have attached to the
//! connection. What differs is only what a broker can carry out:
//!
//! - A broker asks about a connected client by user name and client id, without its
//!   password, so the principal is found again from the snapshot
//!   ([`RegistryAuthorizer::connected_principal`]) the way `login.rs` and `client_id.rs`
//!   divided the names: `web:` and `site:` client ids, then devices, applications,
//!   administrators, the password file, anonymous clients.
//! - EMQX and VerneMQ never ask per delivery, so a subscription the built-in broker
//!   grants *filtered* is granted only when every message it can match passes the
//!   per-delivery check: a topic without wildcards that passes it, or a filter confined
//!   to one device (`devices/{id}/...`) that passes it. Wildcards over devices
//!   (`devices/+/data`), `#` of an administrator (the sites' registry mirrors) are
//!   refused there. Mosquitto asks for every delivery (a "read" check), which is
//!   `may_receive` itself, so go-auth keeps the built-in broker's filtered grants.

use super::*;
use hearth_bus::SubscribeVerdict;

/// What an external broker asks about a connected client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExternalAccess {
    /// Publish on a topic name (a will and a retained message too).
    Publish,
    /// Subscribe to a filter, on a broker that never checks deliveries (EMQX, VerneMQ).
    Subscribe,
    /// Subscribe to a filter, on a broker that asks [`ExternalAccess::Receive`] before
    /// each delivery (Mosquitto through go-auth).
    SubscribeCheckedPerDelivery,
    /// Deliver a message on a topic name to the client.
    Receive,
}

/// An external broker's login that the registry accepted.
#[derive(Debug, Clone)]
pub struct ExternalLogin {
    pub principal: Principal,
    /// When the credential stops being valid (a browser token's expiry), for brokers that
    /// can disconnect then (EMQX's `expire_at`).
    pub expires_at_ms: Option<hearth_model::Millis>,
    /// Actions the principal may always take on these exact topics or filters for the
    /// life of the connection, each checked with `authorize` now, so that a broker that
    /// takes a list at CONNECT (EMQX 5.8's `acl`) need not ask again for the common ones.
    /// Only grants: anything not listed is still asked about.
    pub preset: Vec<(Action, String)>,
}

impl RegistryAuthorizer {
    /// A CONNECT seen by an external broker: exactly [`Authorizer::authenticate`] (failed
    /// logins counted with the HTTP and MQTT ones for `request.remote_addr`, and slowed).
    pub async fn external_login(
        &self,
        request: &ConnectRequest,
    ) -> Result<ExternalLogin, AuthError> {
        let principal = self.authenticate(request).await?;
        // Nothing will report this connection to the watcher (the broker is not ours),
        // so the browser's login session is not kept for it: a logout refuses its
        // token from then on, and EMQX ends the connection at the token's expiry.
        self.pending_user_sessions.lock().remove(&request.client_id);
        let expires_at_ms = match principal.kind {
            PrincipalKind::User => request.password.as_ref().and_then(|password| {
                self.tokens
                    .verify(
                        &String::from_utf8_lossy(password),
                        hearth_model::now_millis(),
                    )
                    .map(|token| token.expires_at_ms)
            }),
            _ => None,
        };
        let preset = self.preset(&principal, &request.client_id);
        Ok(ExternalLogin {
            principal,
            expires_at_ms,
            preset,
        })
    }

    /// Whether the client connected as `client_id` with `username` may do `access` on
    /// `topic`. An unknown or no longer valid principal may do nothing.
    pub fn external_allows(
        &self,
        username: Option<&str>,
        client_id: &str,
        access: ExternalAccess,
        topic: &str,
    ) -> bool {
        let Some(principal) = self.connected_principal(username, client_id) else {
            return false;
        };
        match access {
            ExternalAccess::Publish => {
                self.authorize(&principal, client_id, Action::Publish, topic)
            }
            ExternalAccess::SubscribeCheckedPerDelivery => self
                .authorize_subscribe(&principal, client_id, topic)
                .is_granted(),
            ExternalAccess::Subscribe => {
                match self.authorize_subscribe(&principal, client_id, topic) {
                    SubscribeVerdict::Deny => false,
                    SubscribeVerdict::Allow => true,
                    SubscribeVerdict::Filtered => {
                        let confined = !topic.contains(['+', '#'])
                            || hearth_model::topic::split(topic).is_some();
                        confined && self.may_receive(&principal, topic)
                    }
                }
            }
            // A delivery on `topic` is one the principal could have subscribed to by
            // that exact name, and passes the per-delivery check where that is filtered.
            ExternalAccess::Receive => match self.authorize_subscribe(&principal, client_id, topic)
            {
                SubscribeVerdict::Deny => false,
                SubscribeVerdict::Allow => true,
                SubscribeVerdict::Filtered => self.may_receive(&principal, topic),
            },
        }
    }

    /// The principal the built-in broker would have attached to a connection with this
    /// user name and client id (see the module docs), if the registry still holds it and
    /// the client id is its own (`client_id::check`).
    pub fn connected_principal(
        &self,
        username: Option<&str>,
        client_id: &str,
    ) -> Option<Principal> {
        let snapshot = self.current();
        let principal = match username {
            None => self
                .allow_anonymous
                .then(|| Principal::new(PrincipalKind::Anonymous, client_id)),
            Some(name) if client_id.starts_with(super::client_id::BROWSER_CLIENT_ID_PREFIX) => {
                snapshot
                    .users
                    .contains_key(name)
                    .then(|| Principal::new(PrincipalKind::User, name))
            }
            Some(name) if client_id.starts_with(super::client_id::SITE_CLIENT_ID_PREFIX) => {
                snapshot
                    .sites
                    .get(name)
                    .is_some_and(|site| site.enabled)
                    .then(|| Principal::new(PrincipalKind::Site, name))
            }
            Some(name) => {
                if let Some(device) = snapshot.devices.get(name) {
                    (device.enabled && client_id == name)
                        .then(|| Principal::new(PrincipalKind::Device, name))
                } else if let Some(app) = snapshot.apps.get(name) {
                    Some(Principal::new(PrincipalKind::Application, app.id.clone()))
                } else if snapshot.admins.contains_key(name) {
                    Some(Principal::new(PrincipalKind::Admin, name))
                } else {
                    self.fallback
                        .is_some()
                        .then(|| Principal::new(PrincipalKind::ConfigUser, name))
                }
            }
        }?;
        super::client_id::check(&snapshot, &principal, username, client_id).ok()?;
        Some(principal)
    }

    /// The exact topics a device or a site always may use (see [`ExternalLogin::preset`]):
    /// a device's reports and its command filter, a site's command filter. Each is kept
    /// only if the rules grant it unfiltered now.
    fn preset(&self, principal: &Principal, client_id: &str) -> Vec<(Action, String)> {
        let candidates: Vec<(Action, String)> = match principal.kind {
            PrincipalKind::Device => {
                let base = format!("devices/{}/", principal.name);
                ["data", "status", "heartbeat", "events"]
                    .into_iter()
                    .map(|kind| (Action::Publish, format!("{base}{kind}")))
                    .chain([(Action::Subscribe, format!("{base}commands/#"))])
                    .collect()
            }
            PrincipalKind::Site => vec![(
                Action::Subscribe,
                format!("sites/{}/devices/+/commands/#", principal.name),
            )],
            _ => Vec::new(),
        };
        candidates
            .into_iter()
            .filter(|(action, topic)| match action {
                Action::Publish => self.authorize(principal, client_id, Action::Publish, topic),
                Action::Subscribe => {
                    self.authorize_subscribe(principal, client_id, topic) == SubscribeVerdict::Allow
                }
            })
            .collect()
    }
}
