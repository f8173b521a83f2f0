//! The home's side of the registry mirror (issue 20, docs/bridge.md "Registry mirror").
//!
//! Over the link's own MQTT connection and credentials (no second login): at each
//! connection the home subscribes to `sites/{site}/registry/snapshot` and asks for it on
//! `sites/{site}/registry/request`; each snapshot that arrives (asked for, or pushed by
//! the cloud after a change) is applied to this hub's registry in one transaction
//! (`MirrorStore::apply_mirror`: the cloud wins on definitions, live state stays this
//! hub's), so that the site's devices and the group's people log in here while the
//! cloud is out of reach. Devices created here under a mirrored application go up on
//! `sites/{site}/registry/devices/{id}` at each connection and after each local change.
//!
//! Everything this module publishes is QoS 0: the link pairs its QoS 1 packet ids with
//! its queue, and a lost request or push is sent again at the next connection.

use bytes::Bytes;
use hearth_model::{AppId, DeviceId, GroupId, Millis, UserName};
use hearth_store::{MirrorConflict, MirrorDevice, MirrorSnapshot, Store};
use parking_lot::Mutex;
use rumqttc::v5::AsyncClient;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Publish;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// The largest packet the link accepts from the cloud: a snapshot of a few thousand
/// devices (~400 bytes each). The cloud's broker never sends a client a packet above
/// the size the client announced, so a larger snapshot would silently not arrive.
pub const MAX_PACKET_BYTES: u32 = 16 * 1024 * 1024;

/// Where the mirror writes (this hub's store) and whom it tells after each snapshot
/// (the authorizer's change notifier).
pub type MirrorTarget = (Arc<dyn Store>, Option<Arc<Notify>>);

/// How often this hub's own devices are read for what should go up.
const POLL: Duration = Duration::from_secs(1);

/// Devices created here go up once this hub's set of them has not changed for this
/// long: a device being registered on both hubs by hand (as before the mirror) is not
/// raced into the cloud by its home half.
const QUIET: Duration = Duration::from_secs(10);

/// The mirror's part of `GET /api/v1/bridge`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MirrorStatus {
    /// The cloud revision (its audit sequence) of the snapshot applied last.
    pub revision: Option<i64>,
    /// When it was applied (epoch ms).
    pub last_sync_ms: Option<Millis>,
    /// The cloud's refusals of devices pushed from here, and what applying the snapshot
    /// overrode or kept here.
    pub conflicts: Vec<MirrorConflict>,
    /// Devices created here sent up to the cloud since the start (each attempt).
    pub pushed_total: u64,
    /// Snapshots refused since the start (unreadable, another site, invalid ids).
    pub rejected_total: u64,
}

/// The home mirror: hooks for the link, and a task that applies and pushes.
pub struct Mirror {
    site: String,
    client: Mutex<Option<AsyncClient>>,
    snapshots: mpsc::UnboundedSender<Bytes>,
    connected: Notify,
    status: Mutex<MirrorStatus>,
    pushed: AtomicU64,
}

impl Mirror {
    /// Starts the task. `changed` is rung after a snapshot is applied (the authorizer's
    /// notifier: the mirrored devices log in without waiting for its poll).
    pub fn start(
        site: String,
        store: Arc<dyn Store>,
        changed: Option<Arc<Notify>>,
    ) -> (Arc<Mirror>, tokio::task::JoinHandle<()>) {
        let (snapshots, queue) = mpsc::unbounded_channel();
        let mirror = Arc::new(Mirror {
            site,
            client: Mutex::new(None),
            snapshots,
            connected: Notify::new(),
            status: Mutex::new(MirrorStatus::default()),
            pushed: AtomicU64::new(0),
        });
        let task = tokio::spawn(mirror.clone().run(store, changed, queue));
        (mirror, task)
    }

    fn topic(&self, rest: &str) -> String {
        format!("sites/{}/registry/{rest}", self.site)
    }

    /// The link connected (its CONNACK): subscribe to the snapshot, ask for it, and
    /// send this hub's own devices up.
    pub fn on_connect(&self, client: &AsyncClient) {
        let subscribed = client.try_subscribe(self.topic("snapshot"), QoS::AtLeastOnce);
        let asked = client.try_publish(self.topic("request"), QoS::AtMostOnce, false, "{}");
        if let Err(error) = subscribed.and(asked) {
            tracing::warn!(%error, "bridge: cannot ask for the registry snapshot");
        }
        *self.client.lock() = Some(client.clone());
        self.connected.notify_one();
    }

    /// A message from the cloud: `true` if it was the mirror's (the link then ignores it).
    pub fn on_publish(&self, publish: &Publish) -> bool {
        if publish.topic != self.topic("snapshot").as_bytes() {
            return false;
        }
        let _ = self.snapshots.send(publish.payload.clone());
        true
    }

    /// What `GET /api/v1/bridge` shows.
    pub fn status(&self) -> MirrorStatus {
        let mut status = self.status.lock().clone();
        status.pushed_total = self.pushed.load(Ordering::Relaxed);
        status
    }

    async fn run(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        changed: Option<Arc<Notify>>,
        mut snapshots: mpsc::UnboundedReceiver<Bytes>,
    ) {
        self.refresh(&store).await;
        // What went up on this connection (id → the definition sent), so that a poll
        // sends only what is new or changed.
        let mut sent: HashMap<String, MirrorDevice> = HashMap::new();
        let mut local: Vec<MirrorDevice> = Vec::new();
        let mut stable_since = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                payload = snapshots.recv() => {
                    let Some(payload) = payload else { return };
                    self.apply(&store, &payload).await;
                    if let Some(changed) = &changed {
                        changed.notify_one();
                    }
                }
                _ = self.connected.notified() => sent.clear(),
                _ = tick.tick() => {}
            }
            match store.unmirrored_devices().await {
                Ok(devices) if devices != local => {
                    local = devices;
                    stable_since = tokio::time::Instant::now();
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "bridge: cannot read this hub's devices"),
            }
            if stable_since.elapsed() >= QUIET {
                self.push(&local, &mut sent);
            }
        }
    }

    /// Applies one snapshot, if it is this site's and well formed.
    async fn apply(&self, store: &Arc<dyn Store>, payload: &[u8]) {
        let snapshot = match serde_json::from_slice::<MirrorSnapshot>(payload)
            .map_err(|error| error.to_string())
            .and_then(|snapshot| self.check(snapshot))
        {
            Ok(snapshot) => snapshot,
            Err(error) => {
                self.status.lock().rejected_total += 1;
                tracing::warn!(%error, "bridge: registry snapshot refused");
                return;
            }
        };
        match store
            .apply_mirror(&snapshot, &format!("bridge:{}", self.site))
            .await
        {
            Ok(applied) if applied.applied => {
                tracing::info!(
                    revision = snapshot.revision,
                    devices = snapshot.devices.len(),
                    removed = applied.devices_removed,
                    conflicts = applied.conflicts.len(),
                    "bridge: registry snapshot applied"
                );
                self.refresh(store).await;
            }
            Ok(_) => tracing::debug!(revision = snapshot.revision, "bridge: older snapshot"),
            Err(error) => tracing::warn!(%error, "bridge: registry snapshot not applied"),
        }
    }

    /// A snapshot names this site and only valid ids, roles and permissions: the
    /// registry never parses what it stores, each edge does.
    fn check(&self, snapshot: MirrorSnapshot) -> Result<MirrorSnapshot, String> {
        if snapshot.site != self.site {
            return Err(format!("for site {:?}, not this one", snapshot.site));
        }
        let bad = |what: &str, value: &str| format!("invalid {what} {value:?}");
        GroupId::new(&snapshot.group.id).map_err(|_| bad("group", &snapshot.group.id))?;
        for user in &snapshot.users {
            UserName::new(&user.name).map_err(|_| bad("user", &user.name))?;
            if let Some(role) = &user.role
                && !matches!(role.as_str(), "owner" | "admin" | "member" | "viewer")
            {
                return Err(bad("role", role));
            }
        }
        for app in &snapshot.apps {
            AppId::new(&app.id).map_err(|_| bad("application", &app.id))?;
        }
        for grant in &snapshot.grants {
            if !matches!(grant.permission.as_str(), "view" | "control" | "manage") {
                return Err(bad("permission", &grant.permission));
            }
        }
        for device in &snapshot.devices {
            DeviceId::new(&device.id).map_err(|_| bad("device", &device.id))?;
            AppId::new(&device.app).map_err(|_| bad("application", &device.app))?;
        }
        Ok(snapshot)
    }

    /// Reads the applied state back for the status.
    async fn refresh(&self, store: &Arc<dyn Store>) {
        let Ok(Some(state)) = store.mirror_state().await else {
            return;
        };
        let mut status = self.status.lock();
        status.revision = Some(state.revision);
        status.last_sync_ms = Some(state.last_sync_ms);
        status.conflicts = state.conflicts;
    }

    /// Sends up the devices created here that this connection has not sent as they are.
    fn push(&self, devices: &[MirrorDevice], sent: &mut HashMap<String, MirrorDevice>) {
        let Some(client) = self.client.lock().clone() else {
            return;
        };
        for device in devices {
            if sent.get(&device.id) == Some(device) {
                continue;
            }
            let Ok(payload) = serde_json::to_vec(device) else {
                continue;
            };
            let topic = self.topic(&format!("devices/{}", device.id));
            if client
                .try_publish(topic, QoS::AtMostOnce, false, payload)
                .is_err()
            {
                // The link is down or busy: everything again at the next connection.
                return;
            }
            self.pushed.fetch_add(1, Ordering::Relaxed);
            sent.insert(device.id.clone(), device.clone());
        }
    }
}
