//! The cloud's side of the registry mirror (issue 20, docs/sites.md "Registry mirror").
//!
//! A site's home hub asks for its snapshot on `sites/{site}/registry/request` each time
//! its link connects; the cloud answers on `sites/{site}/registry/snapshot` and
//! publishes again whenever a registry change alters what that site needs (the audit
//! sequence moved and the snapshot, revision aside, differs from the last one sent).
//! Snapshots go out at QoS 0 and are never retained, so that the secret and password
//! hashes they carry are not written into the broker's state for a site that is away:
//! a home that missed one asks again when it reconnects.
//!
//! Devices created at home come up on `sites/{site}/registry/devices/{id}`; the cloud
//! creates them in that site when the id is free and the application is the site
//! group's (`MirrorStore::accept_site_device`), otherwise records a conflict. Only the
//! site's own link may publish there (site_acl.rs), and this module checks again that
//! the publisher is the site the topic names.
//!
//! With several Hearth nodes behind one broker (issue 21), requests and pushed devices
//! reach one node each (shared subscriptions), which answers them; but pushing changed
//! snapshots would be done by every node that ever answered a site, and by none once
//! that node is gone. So only the coordinator (the lease holder, `crate::lease`) pushes
//! changes, to every enabled site, whichever node answered its request.

use super::{Registry, RegistryError};
use crate::lease::Leadership;
use hearth_bus::{AckToken, Bus, Envelope, Interceptor, PrincipalKind};
use hearth_model::{AppId, DeviceId, SiteId};
use hearth_store::{MirrorDevice, MirrorSnapshot, PushedDevice, Store};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// The filters the cloud listens on.
pub const MIRROR_FILTERS: [&str; 2] = ["sites/+/registry/request", "sites/+/registry/devices/+"];

/// How often the audit sequence is read for changes to push.
const POLL: Duration = Duration::from_millis(500);

/// The snapshot topic of `site`.
pub fn snapshot_topic(site: &str) -> String {
    format!("sites/{site}/registry/snapshot")
}

enum Job {
    Request(SiteId),
    Device(SiteId, bytes::Bytes),
}

/// What the cloud's mirror did since the start (tests, logs).
#[derive(Debug, Default)]
pub struct SiteMirrorCounters {
    pub snapshots_sent: AtomicU64,
    pub devices_created: AtomicU64,
    pub conflicts: AtomicU64,
    /// Messages not from the site the topic names, or unreadable.
    pub ignored: AtomicU64,
}

/// The interceptor on [`MIRROR_FILTERS`]; the work happens in its task.
pub struct SiteMirror {
    jobs: mpsc::UnboundedSender<Job>,
    pub counters: Arc<SiteMirrorCounters>,
}

impl SiteMirror {
    /// Registers the interceptors and starts the task that answers requests, takes
    /// pushed devices and pushes changed snapshots (the last only while `leadership` is
    /// held: [`Leadership::always`] for a single hub). `changed` is rung after a device
    /// is created (the authorizer's notifier, so that its site may speak for it at once).
    pub fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        changed: Option<Arc<Notify>>,
        leadership: Leadership,
    ) -> Result<(Arc<SiteMirror>, tokio::task::JoinHandle<()>), hearth_bus::BusError> {
        let (jobs, queue) = mpsc::unbounded_channel();
        let mirror = Arc::new(SiteMirror {
            jobs,
            counters: Arc::new(SiteMirrorCounters::default()),
        });
        for filter in MIRROR_FILTERS {
            bus.intercept(filter, mirror.clone())?;
        }
        let worker = Worker {
            registry: match changed {
                Some(changed) => Registry::new(store.clone()).with_change_notifier(changed),
                None => Registry::new(store.clone()),
            },
            store,
            bus,
            sent: HashMap::new(),
            counters: mirror.counters.clone(),
            leadership,
        };
        Ok((mirror, tokio::spawn(worker.run(queue))))
    }
}

impl Interceptor for SiteMirror {
    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        if let Some(token) = ack {
            token.accept();
        }
        let from_site = message
            .principal
            .as_ref()
            .filter(|principal| principal.kind == PrincipalKind::Site)
            .map(|principal| principal.name.to_string());
        let levels: Vec<&str> = message.topic.split('/').collect();
        let job = match (from_site, levels.as_slice()) {
            (Some(from), ["sites", site, "registry", "request"]) if from == *site => {
                SiteId::new(site).ok().map(Job::Request)
            }
            (Some(from), ["sites", site, "registry", "devices", _]) if from == *site => {
                SiteId::new(site)
                    .ok()
                    .map(|site| Job::Device(site, message.payload.clone()))
            }
            _ => None,
        };
        match job {
            Some(job) => {
                let _ = self.jobs.send(job);
            }
            None => {
                self.counters.ignored.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

struct Worker {
    store: Arc<dyn Store>,
    registry: Registry,
    bus: Arc<dyn Bus>,
    /// The sites whose home asked since the start, with the fingerprint of the last
    /// snapshot sent (revision aside).
    sent: HashMap<SiteId, u64>,
    counters: Arc<SiteMirrorCounters>,
    leadership: Leadership,
}

fn fingerprint(snapshot: &MirrorSnapshot) -> u64 {
    let mut unrevised = snapshot.clone();
    unrevised.revision = 0;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(&unrevised)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

impl Worker {
    async fn run(mut self, mut jobs: mpsc::UnboundedReceiver<Job>) {
        let mut seen = self.store.last_audit_seq().await.unwrap_or(0);
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                job = jobs.recv() => match job {
                    Some(Job::Request(site)) => self.send(&site, true).await,
                    Some(Job::Device(site, payload)) => self.device(&site, &payload).await,
                    None => return,
                },
                _ = tick.tick() => {
                    if !self.leadership.is_held() {
                        continue;
                    }
                    let Ok(seq) = self.store.last_audit_seq().await else { continue };
                    if seq != seen {
                        seen = seq;
                        for site in self.to_push().await {
                            self.send(&site, false).await;
                        }
                    }
                }
            }
        }
    }

    /// The sites to push a changed snapshot to: those whose home asked here, and with
    /// other nodes every enabled site (its home may have asked another node).
    async fn to_push(&self) -> Vec<SiteId> {
        let mut sites: Vec<SiteId> = self.sent.keys().cloned().collect();
        if self.leadership.is_shared() {
            match self.store.sites(None).await {
                Ok(all) => sites.extend(
                    all.into_iter()
                        .filter(|site| site.enabled && !self.sent.contains_key(&site.id))
                        .map(|site| site.id),
                ),
                Err(error) => tracing::warn!(%error, "registry mirror: sites not listed"),
            }
        }
        sites
    }

    /// Publishes `site`'s snapshot: always when asked, else only when it changed.
    async fn send(&mut self, site: &SiteId, asked: bool) {
        let snapshot = match self.store.mirror_snapshot(site).await {
            Ok(snapshot) => snapshot,
            Err(error) => {
                // A removed site: nothing more to send it.
                self.sent.remove(site);
                tracing::debug!(%site, %error, "registry mirror: no snapshot");
                return;
            }
        };
        let print = fingerprint(&snapshot);
        if !asked && self.sent.get(site) == Some(&print) {
            return;
        }
        let Ok(payload) = serde_json::to_vec(&snapshot) else {
            return;
        };
        let message = Envelope::new(snapshot_topic(site.as_str()), payload);
        match self.bus.publish(message).await {
            Ok(()) => {
                self.sent.insert(site.clone(), print);
                self.counters.snapshots_sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => tracing::warn!(%site, %error, "registry mirror: snapshot not sent"),
        }
    }

    /// A device created at home: checked as a device added here would be, then created
    /// in the site or recorded as a conflict.
    async fn device(&mut self, site: &SiteId, payload: &[u8]) {
        let device = match serde_json::from_slice::<MirrorDevice>(payload)
            .map_err(|error| RegistryError::invalid("device", error.to_string()))
            .and_then(check)
        {
            Ok(device) => device,
            Err(error) => {
                self.counters.ignored.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%site, %error, "registry mirror: a pushed device is invalid");
                return;
            }
        };
        let actor = format!("site:{site}");
        match self.store.accept_site_device(site, &device, &actor).await {
            Ok(PushedDevice::Created) => {
                self.counters
                    .devices_created
                    .fetch_add(1, Ordering::Relaxed);
                self.registry.changed();
                tracing::info!(%site, device = device.id, "registry mirror: device created from the site");
            }
            Ok(PushedDevice::Identical) => {}
            Ok(PushedDevice::Conflict(reason)) => {
                self.counters.conflicts.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%site, device = device.id, reason, "registry mirror: conflict");
            }
            Err(error) => {
                tracing::warn!(%site, %error, "registry mirror: pushed device not stored")
            }
        }
    }
}

/// A pushed device passes the checks of one added here (ids, name, kind, metadata,
/// timeout) and carries a secret hash.
fn check(mut device: MirrorDevice) -> Result<MirrorDevice, RegistryError> {
    let spec = super::DeviceSpec {
        id: super::parse_id::<DeviceId>("id", &device.id)?,
        app: Some(super::parse_id::<AppId>("app", &device.app)?),
        name: Some(device.name.clone()),
        kind: Some(device.kind.clone()),
        room: device.room.clone(),
        firmware: device.firmware.clone(),
        metadata: Some(device.metadata.clone()),
        heartbeat_timeout_secs: device.heartbeat_timeout_secs,
    };
    let app = super::parse_id::<AppId>("app", &device.app)?;
    let checked = Registry::check_spec(spec, app)?;
    if device.secret_hash.is_empty() || device.secret_hash.len() > 512 {
        return Err(RegistryError::invalid("secret_hash", "missing or too long"));
    }
    device.name = checked.name;
    device.kind = checked.kind;
    device.room = checked.room;
    device.firmware = checked.firmware;
    device.metadata = checked.metadata;
    Ok(device)
}
