//! MQTT authentication and ACL from the registry (SPEC §5).
//!
//! [`RegistryAuthorizer`] answers the broker from an in-memory [`Snapshot`] of the
//! registry, so that a PUBLISH check is a prefix comparison (devices) or one hash lookup
//! (applications) and never touches the database. The snapshot is rebuilt when the audit
//! log's sequence number moves, which covers changes made by this process and by the CLI
//! in another one; clients that lost their right to connect are then disconnected at once.
//!
//! Device and application secrets are stored as salted HMACs (`secret::hash_secret`)
//! and checked inline in about a microsecond. Passwords (administrators) and secrets
//! still stored as argon2id are slow by design, so they are checked on the blocking pool,
//! and a successful check is remembered (as a SHA-256 of the password, tied to the stored
//! hash) so that a client reconnecting with the same password costs a hash lookup. A
//! device or application that logs in with an argon2id-hashed secret gets it rehashed
//! (see [`Rehasher`]): once, off the connection's path, without an audit entry.

mod acl;
mod cert;
mod client_id;
mod cluster_acl;
mod discovery_acl;
mod external;
mod layout_acl;
mod login;
pub use layout_acl::LayoutsHook;
mod rehash;
mod site_acl;
mod snapshot;
mod user_token;
mod watch;

pub(crate) use watch::RateLimitedLog;

pub use acl::{
    app_may_publish, app_may_subscribe, device_may_publish, device_may_subscribe, filter_within,
};
pub use cert::{certificate_common_name, certificate_sha256};
pub use client_id::{BROWSER_CLIENT_ID_PREFIX, browser_client_id};
pub use discovery_acl::DiscoveryAcl;
pub use external::{ExternalAccess, ExternalLogin};

use async_trait::async_trait;
use cluster_acl::{is_cluster_topic, may_reach_cluster};
use hearth_bus::{Action, AuthError, Authorizer, ConnectRequest, Principal, PrincipalKind};
use hearth_store::Store;
use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};
use snapshot::Snapshot;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;
pub use user_token::{UserToken, UserTokens};

use crate::LoginLimiter;
use crate::secret;
use rehash::{HashOwner, Rehasher};

/// Failed MQTT logins a minute per name and address until the hub shares the HTTP
/// login's limiter (the API's default).
const DEFAULT_LOGIN_FAILURES_PER_MINUTE: u32 = 5;

/// A password that matched: the stored hash it matched and the password's SHA-256.
type VerifiedPassword = (Arc<str>, [u8; 32]);

/// Longest life of a browser's MQTT password.
pub const MAX_USER_TOKEN_TTL_MS: hearth_model::Millis = 3_600_000;

/// A connected application, administrator or browser.
#[derive(Debug, Clone)]
struct LiveSession {
    principal: Principal,
    connection: u64,
    /// For browsers: the login session their token was issued for.
    user_session: Option<String>,
}

/// Counters for `/metrics` and logs.
#[derive(Debug, Default)]
pub struct AuthCounters {
    pub connects_accepted: AtomicU64,
    pub connects_refused: AtomicU64,
    pub publishes_denied: AtomicU64,
    pub subscribes_denied: AtomicU64,
    pub clients_kicked: AtomicU64,
    /// CONNECTs refused (0x9F) because their user name or address failed too often.
    pub logins_throttled: AtomicU64,
}

/// How long a failed MQTT login waits before its CONNACK: a guesser on one connection
/// gets two tries a second, and the refusal limit (the [`LoginLimiter`] shared with the
/// HTTP login) stops guessers on many. The wait is an async sleep: it costs a timer.
pub const FAILED_LOGIN_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

/// The broker's [`Authorizer`] backed by the registry. Cheap to share (`Arc`).
pub struct RegistryAuthorizer {
    store: Arc<dyn Store>,
    /// Read on every publish, replaced whole on a change: a read-write lock held for a
    /// few instructions, never across an await.
    snapshot: RwLock<Arc<Snapshot>>,
    allow_anonymous: bool,
    /// Tried for user names the registry does not know (the broker's password file).
    fallback: Option<Arc<dyn Authorizer>>,
    /// (kind, name) to (stored hash, SHA-256 of the password that matched it).
    verified: Mutex<HashMap<(PrincipalKind, Arc<str>), VerifiedPassword>>,
    /// Replaces argon2id hashes of device and application secrets after a login.
    rehasher: Rehasher,
    /// Client ids of connected applications and administrators, whose client ids are
    /// free-form (a device's client id is its id), so that a revocation can find them;
    /// with the connection number, so a takeover's late disconnect removes nothing.
    sessions: Mutex<HashMap<Arc<str>, LiveSession>>,
    /// Login session of a browser between its CONNECT check and `connected`.
    pending_user_sessions: Mutex<HashMap<Arc<str>, String>>,
    tokens: UserTokens,
    /// Rung by in-process changes so the watcher reloads without waiting for its poll.
    changed: Arc<Notify>,
    counters: AuthCounters,
    denial_log: watch::RateLimitedLog,
    /// Failed logins per name and address; the hub shares one with the HTTP login
    /// ([`RegistryAuthorizer::use_login_limiter`]) so that neither gets around the other.
    login_limiter: RwLock<Arc<LoginLimiter>>,
    /// When the store was last asked whether the registry changed for a name the
    /// snapshot did not know: held while asking, so that concurrent unknown names wait
    /// for one answer instead of each sending a query.
    unknown_name_check: tokio::sync::Mutex<Option<tokio::time::Instant>>,
    /// See [`RegistryAuthorizer::on_layouts`].
    layouts_hook: RwLock<Option<LayoutsHook>>,
    /// The rules of discovery applications (issue 18), kept current by the discovery
    /// service.
    discovery: Arc<DiscoveryAcl>,
}

impl RegistryAuthorizer {
    /// Loads the registry and returns an authorizer answering from it. Call
    /// [`RegistryAuthorizer::watch`] to keep it current.
    pub async fn load(
        store: Arc<dyn Store>,
        allow_anonymous: bool,
        fallback: Option<Arc<dyn Authorizer>>,
    ) -> Result<Arc<RegistryAuthorizer>, hearth_store::StoreError> {
        let snapshot = snapshot::load(store.as_ref()).await?;
        Ok(Arc::new(RegistryAuthorizer {
            rehasher: Rehasher::start(store.clone()),
            store,
            snapshot: RwLock::new(Arc::new(snapshot)),
            allow_anonymous,
            fallback,
            verified: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            pending_user_sessions: Mutex::new(HashMap::new()),
            tokens: UserTokens::new(MAX_USER_TOKEN_TTL_MS),
            changed: Arc::new(Notify::new()),
            counters: AuthCounters::default(),
            denial_log: watch::RateLimitedLog::default(),
            login_limiter: RwLock::new(Arc::new(LoginLimiter::new(
                DEFAULT_LOGIN_FAILURES_PER_MINUTE,
            ))),
            unknown_name_check: tokio::sync::Mutex::new(None),
            layouts_hook: RwLock::new(None),
            discovery: Arc::default(),
        }))
    }

    /// The rules of discovery applications: the hub sets the prefix, the discovery
    /// service the announced command topics.
    pub fn discovery_acl(&self) -> Arc<DiscoveryAcl> {
        self.discovery.clone()
    }

    /// The notifier to ring after changing the registry in this process, so that
    /// revocations take effect without waiting for the next poll.
    pub fn change_notifier(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// Signs browsers' tokens with `key` instead of this process's random one: every
    /// node behind one external broker uses the same key, so that a token one node
    /// issued passes at whichever node the broker asks. Call it before issuing any.
    pub fn use_user_token_key(&self, key: [u8; 32]) {
        self.tokens.use_key(key);
    }

    /// Counts MQTT login failures in `limiter` (the one the HTTP login uses).
    pub fn use_login_limiter(&self, limiter: Arc<LoginLimiter>) {
        *self.login_limiter.write() = limiter;
    }

    pub fn counters(&self) -> &AuthCounters {
        &self.counters
    }

    /// A short-lived MQTT password for `user`'s browser, tied to their login `session`
    /// (see [`RegistryAuthorizer::revoke_session`]). Returns the token and when it
    /// expires (ms). The ACL comes from the person's roles and grants at each check.
    pub fn issue_user_token(
        &self,
        user: &str,
        session: &str,
        ttl_ms: hearth_model::Millis,
    ) -> (String, hearth_model::Millis) {
        let now_ms = hearth_model::now_millis();
        let token = self.tokens.issue(user, session, now_ms, ttl_ms);
        let expires = self
            .tokens
            .verify(&token, now_ms)
            .map_or(now_ms, |verified| verified.expires_at_ms);
        (token, expires)
    }

    /// Whether messages from `device` should be ingested: `Some(true)` for an enabled
    /// registered device, `Some(false)` for a disabled one, `None` for an unknown id.
    pub fn device_enabled(&self, device: &str) -> Option<bool> {
        self.snapshot
            .read()
            .devices
            .get(device)
            .map(|entry| entry.enabled)
    }

    /// Whether `device` belongs to `site` in the registry as this hub holds it now (the
    /// sites' relay checks each message again at its hand-over).
    pub fn site_holds(&self, site: &str, device: &str) -> bool {
        self.snapshot
            .read()
            .sites
            .get(site)
            .is_some_and(|entry| entry.enabled && entry.devices.contains(device))
    }

    /// The site a device belongs to, if any (its commands go through that site).
    pub fn site_of(&self, device: &str) -> Option<Arc<str>> {
        self.snapshot
            .read()
            .sites
            .iter()
            .find(|(_, entry)| entry.devices.contains(device))
            .map(|(site, _)| site.clone())
    }

    /// The ids of the sites registered now (for `/metrics`: a site whose link never
    /// connected is shown down, not left out).
    pub fn site_ids(&self) -> Vec<Arc<str>> {
        self.snapshot.read().sites.keys().cloned().collect()
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot.read().clone()
    }

    fn denied(&self, principal: &Principal, client_id: &str, action: Action, topic: &str) {
        let counter = match action {
            Action::Publish => &self.counters.publishes_denied,
            Action::Subscribe => &self.counters.subscribes_denied,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.denial_log.warn(|suppressed| {
            tracing::warn!(
                kind = ?principal.kind,
                principal = %principal.name,
                client_id,
                ?action,
                topic,
                suppressed,
                "MQTT action denied"
            )
        });
    }
}

#[async_trait]
impl Authorizer for RegistryAuthorizer {
    async fn authenticate(&self, request: &ConnectRequest) -> Result<Principal, AuthError> {
        let limiter = self.login_limiter.read().clone();
        let address = request.remote_addr.map(|addr| addr.ip());
        if let Some(username) = &request.username
            && let Err(wait) = limiter.check(username, address, std::time::Instant::now())
        {
            self.counters
                .logins_throttled
                .fetch_add(1, Ordering::Relaxed);
            self.counters
                .connects_refused
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(client_id = %request.client_id, username = %username, remote = ?request.remote_addr, "MQTT login refused: too many failures");
            return Err(AuthError {
                reason: 0x9F,
                message: format!(
                    "too many failed logins; try again in {} s",
                    wait.as_secs().max(1)
                ),
            });
        }
        // A verified client certificate decides alone (see `cert`): no fallback to a
        // password, so a certificate that no longer counts cannot be topped up by one.
        let result = if let Some(der) = &request.client_cert {
            let seen_seq = self.current().seq;
            let mut result = cert::authenticate(&self.current(), request, der);
            // A device added or given its certificate a moment ago, by another process.
            if result.is_err() && self.catch_up_for_unknown_name(seen_seq).await {
                result = cert::authenticate(&self.current(), request, der);
            }
            result
        } else {
            match (&request.username, &request.password) {
                (None, _) if self.allow_anonymous => Ok(Principal::new(
                    PrincipalKind::Anonymous,
                    request.client_id.clone(),
                )),
                (None, _) => Err(AuthError::not_authorized(
                    "credentials required (anonymous access is off)",
                )),
                (Some(_), None) => Err(AuthError::bad_credentials("password missing")),
                (Some(username), Some(password)) => {
                    let mut seen_seq = self.current().seq;
                    let mut known = self
                        .authenticate_registry(request, username, password)
                        .await;
                    // Twice: a snapshot that a poll loaded just before the name's commit
                    // moves the sequence without holding the name; the second catch-up
                    // sees the store ahead of it and waits for the next load.
                    for _ in 0..2 {
                        if known.is_some() || !self.catch_up_for_unknown_name(seen_seq).await {
                            break;
                        }
                        seen_seq = self.current().seq;
                        known = self
                            .authenticate_registry(request, username, password)
                            .await;
                    }
                    match known {
                        Some(result) => result,
                        None => match &self.fallback {
                            Some(fallback) => fallback.authenticate(request).await,
                            None => {
                                // As slow as a wrong password, so that timing does not
                                // tell which names exist.
                                let candidate = password.to_vec();
                                let _ = tokio::task::spawn_blocking(move || {
                                    secret::dummy_verify(&candidate)
                                })
                                .await;
                                Err(AuthError::bad_credentials("unknown user name"))
                            }
                        },
                    }
                }
            }
        };
        // The client id must be the principal's own (see `client_id`), whoever vouched
        // for the principal (the registry or the password file).
        let result = result.and_then(|principal| {
            client_id::check(
                &self.current(),
                &principal,
                request.username.as_deref(),
                &request.client_id,
            )
            .map(|()| principal)
            .inspect_err(|_| {
                self.pending_user_sessions.lock().remove(&request.client_id);
            })
        });
        if let Some(username) = &request.username {
            match &result {
                Ok(_) => limiter.succeed(username, address, std::time::Instant::now()),
                Err(error) if error.reason == 0x86 => {
                    limiter.fail(username, address, std::time::Instant::now());
                    tokio::time::sleep(FAILED_LOGIN_DELAY).await;
                }
                Err(_) => {}
            }
        }
        match &result {
            Ok(_) => {
                self.counters
                    .connects_accepted
                    .fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                self.counters
                    .connects_refused
                    .fetch_add(1, Ordering::Relaxed);
                tracing::info!(client_id = %request.client_id, username = ?request.username, remote = ?request.remote_addr, "MQTT connection refused: {}", error.message);
            }
        }
        result
    }

    fn authorize(
        &self,
        principal: &Principal,
        client_id: &str,
        action: Action,
        topic: &str,
    ) -> bool {
        let allowed = match principal.kind {
            PrincipalKind::Device => {
                (match action {
                    Action::Publish => device_may_publish(&principal.name, topic),
                    Action::Subscribe => device_may_subscribe(&principal.name, topic),
                }) || self.layout_allows(&principal.name, action, topic)
            }
            PrincipalKind::Application => {
                let snapshot = self.snapshot.read();
                let held = match snapshot.app_devices.get(&principal.name) {
                    Some(devices) => match action {
                        Action::Publish => app_may_publish(devices, topic),
                        Action::Subscribe => app_may_subscribe(devices, topic),
                    },
                    None => false,
                };
                held || (snapshot.discovery_apps.contains(&principal.name)
                    && match action {
                        Action::Publish => self.discovery.may_publish(&principal.name, topic),
                        Action::Subscribe => self.discovery.may_subscribe(topic),
                    })
            }
            PrincipalKind::Site => {
                let snapshot = self.snapshot.read();
                snapshot.sites.get(&principal.name).is_some_and(|site| {
                    site.enabled
                        && match action {
                            Action::Publish => {
                                site_acl::site_may_publish(&principal.name, site, topic)
                            }
                            Action::Subscribe => {
                                site_acl::site_may_subscribe(&principal.name, topic)
                            }
                        }
                })
            }
            PrincipalKind::Admin | PrincipalKind::Service => true,
            // With an ACL file, anonymous clients get its anonymous section (the `topic`
            // lines before the first `user` line, and the `pattern` lines), as in
            // Mosquitto; without one, anything (development mode).
            PrincipalKind::Anonymous => {
                self.allow_anonymous
                    && self.fallback.as_ref().is_none_or(|fallback| {
                        fallback.authorize(principal, client_id, action, topic)
                    })
            }
            PrincipalKind::ConfigUser => self
                .fallback
                .as_ref()
                .is_some_and(|fallback| fallback.authorize(principal, client_id, action, topic)),
            PrincipalKind::User => {
                let snapshot = self.snapshot.read();
                match snapshot.users.get(&principal.name) {
                    Some(access) if access.is_admin => true,
                    Some(access) => match action {
                        Action::Publish => app_may_publish(&access.control, topic),
                        Action::Subscribe => app_may_subscribe(&access.view, topic),
                    },
                    None => false,
                }
            }
        };
        // A mapped device's command topic is the hub's alone (layout_acl.rs).
        let allowed = allowed && !self.hub_only(principal, action, topic);
        // The sites' namespace is theirs (site_acl.rs): no device, application or
        // browser speaks or listens there, whatever else its rules allow.
        let allowed = allowed
            && !(matches!(
                principal.kind,
                PrincipalKind::Device | PrincipalKind::Application | PrincipalKind::User
            ) && hearth_model::topic::under_sites(topic));
        // The nodes' requests to one another (external mode, docs/scale.md): their own
        // broker login's alone, never a principal of the registry's (an administrator
        // could otherwise act as anyone through the coordinator).
        let allowed =
            allowed && (principal.kind == PrincipalKind::Service || !is_cluster_topic(topic));
        if !allowed {
            self.denied(principal, client_id, action, topic);
        }
        allowed
    }

    /// Applications and browsers get their subscriptions under `devices/` filtered per
    /// delivery by the devices they hold or may view (`acl::app_subscribe_verdict`), so a
    /// wildcard in place of the device id is granted and a device given or taken away
    /// counts from the next message. Everyone else is decided by `authorize`.
    fn authorize_subscribe(
        &self,
        principal: &Principal,
        client_id: &str,
        filter: &str,
    ) -> hearth_bus::SubscribeVerdict {
        use hearth_bus::SubscribeVerdict;
        let verdict = match principal.kind {
            PrincipalKind::Application => {
                let snapshot = self.snapshot.read();
                match snapshot.app_devices.get(&principal.name) {
                    Some(devices) => match acl::app_subscribe_verdict(devices, filter) {
                        // A discovery login's filters outside Hearth's namespaces, checked
                        // per delivery (discovery_acl.rs).
                        SubscribeVerdict::Deny
                            if snapshot.discovery_apps.contains(&principal.name)
                                && self.discovery.may_subscribe(filter) =>
                        {
                            SubscribeVerdict::Filtered
                        }
                        verdict => verdict,
                    },
                    None => SubscribeVerdict::Deny,
                }
            }
            PrincipalKind::User => {
                let snapshot = self.snapshot.read();
                match snapshot.users.get(&principal.name) {
                    // Filtered too, so that an administrator demoted meanwhile reads
                    // only what their new rights allow from the next message on.
                    Some(access) if access.is_admin => SubscribeVerdict::Filtered,
                    // Filtered, so that leaving the group stops them from the next
                    // message on.
                    Some(access)
                        if acl::group_topic(filter)
                            .is_some_and(|group| access.groups.contains(group)) =>
                    {
                        SubscribeVerdict::Filtered
                    }
                    Some(access) => acl::app_subscribe_verdict(&access.view, filter),
                    None => SubscribeVerdict::Deny,
                }
            }
            _ => {
                return if !self.authorize(principal, client_id, Action::Subscribe, filter) {
                    SubscribeVerdict::Deny
                } else if (principal.kind != PrincipalKind::Site
                    && site_acl::may_reach_registry(filter))
                    || (principal.kind != PrincipalKind::Service && may_reach_cluster(filter))
                {
                    // `#`, `sites/#`: everything but the sites' registry mirrors, which
                    // carry secret hashes for one site's link only (site_acl.rs).
                    SubscribeVerdict::Filtered
                } else {
                    SubscribeVerdict::Allow
                };
            }
        };
        if verdict == SubscribeVerdict::Deny {
            self.denied(principal, client_id, Action::Subscribe, filter);
        }
        verdict
    }

    /// One read of the snapshot and a hash lookup of the topic's device id in the
    /// application's devices (a browser's: those its person may view). Applications
    /// and browsers have filtered subscriptions, and anyone else's filter that could
    /// reach a site's registry mirror (`#`, `sites/#`).
    fn may_receive(&self, principal: &Principal, topic: &str) -> bool {
        // A site's registry mirror reaches only that site, through its own (unfiltered)
        // subscription.
        if site_acl::is_registry_topic(topic)
            || (principal.kind != PrincipalKind::Service && is_cluster_topic(topic))
        {
            return false;
        }
        match principal.kind {
            PrincipalKind::Application => {
                let snapshot = self.snapshot.read();
                snapshot
                    .app_devices
                    .get(&principal.name)
                    .is_some_and(|devices| acl::app_may_receive(devices, topic))
                    || (snapshot.discovery_apps.contains(&principal.name)
                        && self.discovery.may_receive(&principal.name, topic))
            }
            PrincipalKind::User => {
                self.snapshot
                    .read()
                    .users
                    .get(&principal.name)
                    .is_some_and(|access| {
                        access.is_admin
                            || match acl::group_topic(topic) {
                                Some(group) => access.groups.contains(group),
                                None => acl::app_may_receive(&access.view, topic),
                            }
                    })
            }
            _ => true,
        }
    }
}
