//! Keeping the authorizer's snapshot current and disconnecting revoked clients.

use super::snapshot;
use super::{LiveSession, RegistryAuthorizer};
use hearth_bus::{Bus, ClientEvent, ClientObserver, PrincipalKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How often the registry's change counter is read: the CLI's changes reach a running
/// hub within this (SPEC §8 asks for a second).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// At most one registry check per this interval for unknown user names: a flood of made-up
/// names costs the store a few queries a second, not one each.
const UNKNOWN_NAME_RECHECK: std::time::Duration = std::time::Duration::from_millis(50);

/// How long a CONNECT with a name the snapshot lacks waits for the watcher to load a
/// registry that has changed.
const UNKNOWN_NAME_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

impl RegistryAuthorizer {
    /// Watches the registry for changes (polling the audit sequence, or at once when the
    /// change notifier rings), reloads the snapshot, and disconnects through `bus` every
    /// client whose credentials were revoked. Runs until the task is aborted.
    pub fn watch(self: &Arc<Self>, bus: Arc<dyn Bus>) -> JoinHandle<()> {
        bus.observe_client_events(self.client_observer());
        self.watch_registry(bus)
    }

    /// What keeps the live sessions a revocation looks for: give it to the broker's
    /// [`hearth_bus::ClientEvents`] before the broker starts (then use
    /// [`RegistryAuthorizer::watch_registry`]), or let [`RegistryAuthorizer::watch`]
    /// register it. It holds the authorizer weakly.
    pub fn client_observer(self: &Arc<Self>) -> ClientObserver {
        let authorizer = Arc::downgrade(self);
        Arc::new(move |event: &ClientEvent| {
            if let Some(authorizer) = authorizer.upgrade() {
                authorizer.on_client_event(event);
            }
        })
    }

    /// [`RegistryAuthorizer::watch`] without registering the client observer.
    pub fn watch_registry(self: &Arc<Self>, bus: Arc<dyn Bus>) -> JoinHandle<()> {
        let authorizer = self.clone();
        tokio::spawn(async move {
            let changed = authorizer.change_notifier();
            loop {
                tokio::select! {
                    _ = changed.notified() => {}
                    _ = tokio::time::sleep(POLL_INTERVAL) => {}
                }
                if let Err(error) = authorizer.refresh(bus.as_ref()).await {
                    tracing::warn!("reloading the registry for MQTT auth failed: {error}");
                }
            }
        })
    }

    /// Called for a name the snapshot does not know: a device or application added a
    /// moment ago (by the CLI, another process) must not be refused until the next
    /// poll, so the store is asked whether the registry moved on and, if it did, the
    /// watcher reloads at once and this waits for it (the watcher, not this, swaps the
    /// snapshot, so that it still sees every revocation). Returns whether the snapshot
    /// changed meanwhile.
    pub(super) async fn catch_up_for_unknown_name(&self, seen_seq: i64) -> bool {
        let arrived = tokio::time::Instant::now();
        let mut last_check = self.unknown_name_check.lock().await;
        if self.current().seq != seen_seq {
            // Someone else's check (or the poll) already loaded a newer registry.
            return true;
        }
        if let Some(started) = *last_check {
            if started >= arrived {
                // A check that began after this name arrived found nothing new: its
                // answer holds for this name too (the coalescing that bounds a flood).
                return false;
            }
            tokio::time::sleep_until(started + UNKNOWN_NAME_RECHECK).await;
        }
        *last_check = Some(tokio::time::Instant::now());
        let stored_seq = match self.store.last_audit_seq().await {
            Ok(seq) => seq,
            Err(error) => {
                tracing::warn!("checking the registry for an unknown MQTT user failed: {error}");
                return false;
            }
        };
        if stored_seq == seen_seq {
            return false;
        }
        self.changed.notify_one();
        let deadline = tokio::time::Instant::now() + UNKNOWN_NAME_WAIT;
        while self.current().seq == seen_seq && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        self.current().seq != seen_seq
    }

    /// Keeps the live sessions that a revocation must find: applications,
    /// administrators and browsers, whose client ids are not their names (a device's
    /// client id is its id). A takeover's late end carries the old connection number and
    /// removes nothing.
    fn on_client_event(&self, event: &ClientEvent) {
        let principal = &event.principal;
        // A site's link connected: when it was last seen is live state (not audited).
        if principal.kind == PrincipalKind::Site
            && event.connected
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
            && let Ok(site) = hearth_model::SiteId::new(&principal.name)
        {
            let store = self.store.clone();
            runtime.spawn(async move {
                if let Err(error) = store.set_site_seen(&site, hearth_model::now_millis()).await {
                    tracing::debug!(%site, "site's last connection not stored: {error}");
                }
            });
        }
        if !matches!(
            principal.kind,
            PrincipalKind::Application | PrincipalKind::Admin | PrincipalKind::User
        ) {
            return;
        }
        if event.connected {
            let user_session = self.pending_user_sessions.lock().remove(&event.client_id);
            self.sessions.lock().insert(
                event.client_id.clone(),
                LiveSession {
                    principal: principal.clone(),
                    connection: event.connection,
                    user_session,
                },
            );
        } else {
            let mut sessions = self.sessions.lock();
            if sessions
                .get(&event.client_id)
                .is_some_and(|live| live.connection == event.connection)
            {
                sessions.remove(&event.client_id);
            }
        }
    }

    /// Reloads the snapshot if the registry changed and kicks revoked clients. Returns
    /// how many clients were disconnected.
    pub async fn refresh(&self, bus: &dyn Bus) -> Result<usize, hearth_store::StoreError> {
        let seq = self.store.last_audit_seq().await?;
        if seq == self.current().seq {
            return Ok(0);
        }
        let newer = Arc::new(snapshot::load(self.store.as_ref()).await?);
        let older = {
            let mut current = self.snapshot.write();
            // Two reloads may overlap (the watcher and a caller of `refresh`): the one
            // that read the registry first must not undo the other's newer view (it
            // would, among other things, take a device added meanwhile for revoked).
            if current.seq > newer.seq {
                return Ok(0);
            }
            // Before the new view takes effect: the translator registers the filters of
            // new layouts (and disconnects devices whose layout changed).
            let hook = self.layouts_hook.read().clone();
            if let Some(hook) = hook {
                hook(&newer.layouts);
            }
            std::mem::replace(&mut *current, newer.clone())
        };
        let same_secret = |old: &str, new: &str| self.rehasher.same_secret(old, new);
        let revoked_devices = older.revoked_devices(&newer, same_secret);
        let apps = older.revoked_apps(&newer, same_secret);
        self.rehasher.settle(&newer);
        let mut kicked = 0;
        for device in revoked_devices {
            self.verified
                .lock()
                .remove(&(PrincipalKind::Device, device.clone()));
            if bus.kick(&device).await.unwrap_or(false) {
                tracing::info!(device = %device, "disconnected a device whose access was revoked");
                kicked += 1;
            }
        }
        for site in older.revoked_sites(&newer) {
            let client_id = format!("{}{site}", super::client_id::SITE_CLIENT_ID_PREFIX);
            if bus.kick(&client_id).await.unwrap_or(false) {
                tracing::info!(%site, "disconnected a site whose access was revoked");
                kicked += 1;
            }
        }
        let admins = older.revoked_admins(&newer);
        let users = older.narrowed_users(&newer);
        if !apps.is_empty() || !admins.is_empty() || !users.is_empty() {
            self.verified.lock().retain(|(kind, name), _| match kind {
                PrincipalKind::Admin => !admins.contains(name),
                _ => true,
            });
            // Applications are cached under their key; dropping them all is simplest
            // and costs one argon2 check per application on its next connect.
            if !apps.is_empty() {
                self.verified
                    .lock()
                    .retain(|(kind, _), _| *kind != PrincipalKind::Application);
            }
            let doomed: Vec<Arc<str>> = self
                .sessions
                .lock()
                .iter()
                .filter(|(_, session)| match session.principal.kind {
                    PrincipalKind::Application => apps.contains(&session.principal.name),
                    PrincipalKind::Admin => admins.contains(&session.principal.name),
                    PrincipalKind::User => users.contains(&session.principal.name),
                    _ => false,
                })
                .map(|(client_id, _)| client_id.clone())
                .collect();
            for client_id in doomed {
                self.sessions.lock().remove(&client_id);
                if bus.kick(&client_id).await.unwrap_or(false) {
                    tracing::info!(client_id = %client_id, "disconnected a client whose access was revoked");
                    kicked += 1;
                }
            }
        }
        self.counters
            .clients_kicked
            .fetch_add(kicked as u64, Ordering::Relaxed);
        Ok(kicked)
    }
}

/// Logs at most once per interval and says how many were left out, so that a client
/// hammering a forbidden topic cannot flood the log.
#[derive(Debug, Default)]
pub(crate) struct RateLimitedLog {
    /// Milliseconds since `epoch()` of the last line written.
    last_ms: AtomicU64,
    suppressed: AtomicU64,
}

const LOG_INTERVAL_MS: u64 = 10_000;

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl RateLimitedLog {
    pub fn warn(&self, log: impl FnOnce(u64)) {
        // +1 so that the very first event (at 0 ms) is not mistaken for "just logged".
        let now = epoch().elapsed().as_millis() as u64 + LOG_INTERVAL_MS + 1;
        let last = self.last_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= LOG_INTERVAL_MS
            && self
                .last_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            log(self.suppressed.swap(0, Ordering::Relaxed));
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl RegistryAuthorizer {
    /// Disconnects every browser connection of a login session (after logout).
    pub async fn revoke_session(&self, session: &str, bus: &dyn Bus) -> usize {
        self.tokens
            .revoke_session(session, hearth_model::now_millis());
        let doomed: Vec<Arc<str>> = self
            .sessions
            .lock()
            .iter()
            .filter(|(_, live)| live.user_session.as_deref() == Some(session))
            .map(|(client_id, _)| client_id.clone())
            .collect();
        self.kick_all(doomed, bus).await
    }

    /// Disconnects every browser connection of a person and voids their tokens
    /// (password changed, account removed).
    pub async fn revoke_user(&self, user: &str, bus: &dyn Bus) -> usize {
        self.tokens.revoke_user(user, hearth_model::now_millis());
        let doomed: Vec<Arc<str>> = self
            .sessions
            .lock()
            .iter()
            .filter(|(_, live)| {
                live.principal.kind == PrincipalKind::User && &*live.principal.name == user
            })
            .map(|(client_id, _)| client_id.clone())
            .collect();
        self.kick_all(doomed, bus).await
    }

    async fn kick_all(&self, client_ids: Vec<Arc<str>>, bus: &dyn Bus) -> usize {
        let mut kicked = 0;
        for client_id in client_ids {
            self.sessions.lock().remove(&client_id);
            if bus.kick(&client_id).await.unwrap_or(false) {
                kicked += 1;
            }
        }
        self.counters
            .clients_kicked
            .fetch_add(kicked as u64, Ordering::Relaxed);
        kicked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_logs_once_and_counts_the_rest() {
        let log = RateLimitedLog::default();
        let mut lines = Vec::new();
        for _ in 0..100 {
            log.warn(|suppressed| lines.push(suppressed));
        }
        assert_eq!(lines, vec![0]);
        assert_eq!(log.suppressed.load(Ordering::Relaxed), 99);
    }
}
