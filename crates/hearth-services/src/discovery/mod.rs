//! Home Assistant MQTT discovery (issue 18): devices that run Tasmota, Zigbee2MQTT,
//! ESPHome or Shelly firmware announce themselves, and the hub lists them until someone
//! adopts them into an application (docs/discovery.md).
//!
//! [`Discovery`] is one task. It subscribes to `<prefix>/#` through the bus (retained
//! configs arrive at once), keeps `discovered_devices` in step with what each
//! discovery application's connections announce (an empty config removes a component,
//! and the device when none is left; announcing again replaces, never duplicates),
//! follows the announced availability topics, and publishes `<prefix>/status` =
//! `online` once subscribed, so that devices announce themselves again (HA's birth
//! message). Only messages published by a discovery application count, and only for
//! the devices that application announced.
//!
//! # Layout
//! - `abbreviations`: HA's table of abbreviated keys.
//! - `config`: parsing a config message (topics, keys, `~`, templates, availability).
//! - `normalize`: kind, capabilities and the topic layout of announced components.
//! - `adopt`: the registry's adoption of a discovered device.
//! - this file: the settings and the task.

mod abbreviations;
mod adopt;
pub mod config;
pub mod normalize;

pub use adopt::AdoptRequest;

use bytes::Bytes;
use hearth_bus::{Bus, Envelope, PrincipalKind, Qos};
use hearth_model::{AppId, DeviceId, DiscoveredDevice, now_millis};
use hearth_store::Store;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use config::{Config, parse_config};

/// How often the task looks for devices adopted meanwhile (to seed their presence).
const ADOPTION_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// `[discovery]` in hearth.toml.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoverySettings {
    /// Listen for announcements at all.
    pub enabled: bool,
    /// The discovery prefix the devices are configured with (HA's default).
    pub prefix: String,
}

impl Default for DiscoverySettings {
    fn default() -> DiscoverySettings {
        DiscoverySettings {
            enabled: true,
            prefix: "homeassistant".to_owned(),
        }
    }
}

impl DiscoverySettings {
    /// The prefix must be a plain topic (no wildcards, not under Hearth's namespaces).
    pub fn check(&self) -> Result<(), String> {
        let prefix = &self.prefix;
        if prefix.is_empty()
            || prefix.contains(['+', '#', '\0'])
            || prefix.starts_with('$')
            || prefix.ends_with('/')
            || prefix == "devices"
            || prefix == "hearth"
            || prefix.starts_with("devices/")
            || prefix.starts_with("hearth/")
        {
            return Err(format!(
                "discovery.prefix {prefix:?}: a topic without wildcards, not ending in '/', outside devices/ and hearth/"
            ));
        }
        Ok(())
    }

    /// `<prefix>/status`, where the hub says it is online.
    pub fn status_topic(&self) -> String {
        format!("{}/status", self.prefix)
    }
}

/// The running discovery task.
pub struct Discovery {
    task: JoinHandle<()>,
}

impl Discovery {
    /// Subscribes, then announces the hub (`<prefix>/status` = `online`) and keeps the
    /// store in step until [`Discovery::shutdown`].
    pub async fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        settings: DiscoverySettings,
        acl: Option<Arc<crate::auth::DiscoveryAcl>>,
        presence: Option<Arc<dyn hearth_bus::Interceptor>>,
    ) -> Result<Discovery, hearth_bus::BusError> {
        let configs = bus
            .subscribe_with_retained(&format!("{}/#", settings.prefix))
            .await?;
        let (availability_tx, availability_rx) = mpsc::channel(256);
        let mut worker = Worker {
            store,
            bus: bus.clone(),
            settings: settings.clone(),
            availability_tx,
            availability: HashMap::new(),
            acl,
            presence,
            seeded: std::collections::HashSet::new(),
        };
        // Devices adopted before this start had their presence from their own
        // messages; only adoptions from now on are seeded.
        if let Ok(all) = worker.store.discovered_list(None, true).await {
            worker.seeded = all
                .into_iter()
                .filter_map(|entry| entry.adopted_device)
                .collect();
        }
        worker.follow_availability().await;
        bus.publish(
            Envelope::new(settings.status_topic(), Bytes::from_static(b"online"))
                .with_qos(Qos::AtLeastOnce),
        )
        .await?;
        tracing::info!(prefix = %settings.prefix, "Home Assistant discovery listening; birth message sent");
        let task = tokio::spawn(worker.run(configs, availability_rx));
        Ok(Discovery { task })
    }

    /// Stops the task (what it wrote stays).
    pub fn shutdown(&self) {
        self.task.abort();
    }
}

struct Worker {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    settings: DiscoverySettings,
    availability_tx: mpsc::Sender<Envelope>,
    /// Availability topics followed, with the forwarding task of each.
    availability: HashMap<String, JoinHandle<()>>,
    /// Who announced which command topic, for the authorizer.
    acl: Option<Arc<crate::auth::DiscoveryAcl>>,
    /// Ingest, where a newly adopted device's presence starts from the availability
    /// its discovering login last reported (its retained word is not said again).
    presence: Option<Arc<dyn hearth_bus::Interceptor>>,
    /// Adopted devices whose presence was seeded (or needed none).
    seeded: std::collections::HashSet<DeviceId>,
}

impl Worker {
    async fn run(
        mut self,
        mut configs: hearth_bus::Subscription,
        mut availability: mpsc::Receiver<Envelope>,
    ) {
        let mut adoptions = tokio::time::interval(ADOPTION_CHECK);
        adoptions.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = configs.recv() => match message {
                    Some(message) => self.on_config(message).await,
                    None => break,
                },
                Some(message) = availability.recv() => self.on_availability(message).await,
                _ = adoptions.tick() => self.seed_adopted().await,
            }
        }
        for (_, task) in self.availability.drain() {
            task.abort();
        }
    }

    /// Newly adopted devices start with the presence their entry last had: handed to
    /// ingest as their `status` (and published on `devices/{id}/status` for live
    /// subscribers), as the layout would have from the availability topic.
    async fn seed_adopted(&mut self) {
        let Some(presence) = &self.presence else {
            return;
        };
        let Ok(all) = self.store.discovered_list(None, true).await else {
            return;
        };
        for entry in all {
            let Some(device) = entry.adopted_device else {
                continue;
            };
            if !self.seeded.insert(device.clone()) {
                continue;
            }
            let Some(online) = entry.online else {
                continue;
            };
            let word: &'static [u8] = if online { b"online" } else { b"offline" };
            let status =
                Envelope::new(format!("devices/{device}/status"), Bytes::from_static(word))
                    .with_qos(Qos::AtLeastOnce);
            presence.intercept(&status, None);
            if let Err(error) = self.bus.publish(status).await {
                tracing::debug!("discovery: publishing {device}'s presence failed: {error}");
            }
        }
    }

    /// The discovery application that published `message`, if it is one.
    async fn discovering_app(&self, message: &Envelope) -> Option<hearth_model::Application> {
        let principal = message.principal.as_ref()?;
        if principal.kind != PrincipalKind::Application {
            return None;
        }
        let id = AppId::new(&principal.name).ok()?;
        let app = self.store.app(&id).await.ok()?;
        app.discovery.then_some(app)
    }

    async fn on_config(&mut self, message: Envelope) {
        let parsed = match parse_config(&self.settings.prefix, &message.topic, &message.payload) {
            Ok(parsed) => parsed,
            Err(config::ConfigError::NotConfigTopic) => return,
            Err(error) => {
                tracing::debug!(topic = %message.topic, "discovery config ignored: {error}");
                return;
            }
        };
        let Some(app) = self.discovering_app(&message).await else {
            tracing::debug!(topic = %message.topic, "discovery config not from a discovery application: ignored");
            return;
        };
        let result = match parsed.1 {
            Config::Removed => self.remove(&app.id, &message.topic).await,
            Config::Announced(announcement) => {
                self.announce(&app, &message.topic, announcement).await
            }
        };
        match result {
            Ok(()) => self.follow_availability().await,
            Err(error) => {
                tracing::warn!(topic = %message.topic, "discovery: storing failed: {error}")
            }
        }
    }

    async fn remove(&self, app: &AppId, topic: &str) -> hearth_store::StoreResult<()> {
        for mut device in self.store.discovered_list(None, true).await? {
            if &device.app != app {
                continue;
            }
            let before = device.components.len();
            device
                .components
                .retain(|component| component.config_topic != topic);
            if device.components.len() == before {
                continue;
            }
            if device.components.is_empty() && device.adopted_device.is_none() {
                self.store.delete_discovered(app, &device.id).await?;
            } else {
                refresh(&mut device);
                self.store.upsert_discovered(&device).await?;
            }
        }
        Ok(())
    }

    async fn announce(
        &self,
        app: &hearth_model::Application,
        topic: &str,
        announcement: config::Announcement,
    ) -> hearth_store::StoreResult<()> {
        let Ok(id) = DeviceId::new(&announcement.discovery_id) else {
            return Ok(());
        };
        let now = now_millis();
        let mut device = match self.store.discovered(&app.id, &id).await {
            Ok(device) => device,
            Err(hearth_store::StoreError::NotFound { .. }) => DiscoveredDevice {
                app: app.id.clone(),
                id: id.clone(),
                group: app.group.clone(),
                name: None,
                manufacturer: None,
                model: None,
                sw_version: None,
                kind: String::new(),
                components: Vec::new(),
                capabilities: Vec::new(),
                online: None,
                first_seen_ms: now,
                last_seen_ms: now,
                adopted_device: None,
            },
            Err(error) => return Err(error),
        };
        let info = announcement.device;
        device.name = info.name.or(device.name);
        device.manufacturer = info.manufacturer.or(device.manufacturer);
        device.model = info.model.or(device.model);
        device.sw_version = info.sw_version.or(device.sw_version);
        device.last_seen_ms = now;
        device
            .components
            .retain(|component| !announcement.withdrawn.contains(&component.object_id));
        for mut component in announcement.components {
            normalize::annotate(&mut component);
            // Announcing again replaces: by object id and component, whatever the topic.
            device.components.retain(|old| {
                let same =
                    old.object_id == component.object_id && old.component == component.component;
                let same_topic =
                    old.config_topic == topic && topic_announces_one(topic, &self.settings.prefix);
                !(same || same_topic)
            });
            device.components.push(component);
        }
        if device.name.is_none() {
            device.name = device.components.iter().find_map(|c| c.name.clone());
        }
        // Entries of this app that listed the same config topic under another id (the
        // device's identifiers changed) lose it: one topic, one place.
        for mut other in self.store.discovered_list(Some(&app.group), true).await? {
            if other.app != app.id || other.id == device.id {
                continue;
            }
            let before = other.components.len();
            other
                .components
                .retain(|component| component.config_topic != topic);
            if other.components.len() != before {
                if other.components.is_empty() && other.adopted_device.is_none() {
                    self.store.delete_discovered(&app.id, &other.id).await?;
                } else {
                    refresh(&mut other);
                    self.store.upsert_discovered(&other).await?;
                }
            }
        }
        refresh(&mut device);
        self.store.upsert_discovered(&device).await
    }

    /// Subscribes to every availability topic the discovered devices name (and drops
    /// those no longer named). Retained availability arrives at once.
    async fn follow_availability(&mut self) {
        let Ok(all) = self.store.discovered_list(None, true).await else {
            return;
        };
        if let Some(acl) = &self.acl {
            acl.set_commands(command_owners(&all));
        }
        let devices: Vec<&DiscoveredDevice> = all
            .iter()
            .filter(|device| device.adopted_device.is_none())
            .collect();
        let wanted: BTreeSet<String> = devices
            .iter()
            .flat_map(|device| device.components.iter())
            .flat_map(|component| config::availability(&component.config).topics)
            .map(|topic| topic.topic)
            .filter(|topic| !topic.contains(['+', '#']) && !topic.is_empty())
            .collect();
        self.availability.retain(|topic, task| {
            let keep = wanted.contains(topic);
            if !keep {
                task.abort();
            }
            keep
        });
        for topic in wanted {
            if self.availability.contains_key(&topic) {
                continue;
            }
            let Ok(mut subscription) = self.bus.subscribe_with_retained(&topic).await else {
                continue;
            };
            let forward = self.availability_tx.clone();
            let task = tokio::spawn(async move {
                while let Some(message) = subscription.recv().await {
                    if forward.send(message).await.is_err() {
                        break;
                    }
                }
            });
            self.availability.insert(topic, task);
        }
    }

    /// An availability message: the devices of the publishing application that name the
    /// topic take its word (HA's `latest` mode; `all`/`any` read as `latest`).
    async fn on_availability(&mut self, message: Envelope) {
        let Some(app) = self.discovering_app(&message).await else {
            return;
        };
        let Ok(devices) = self.store.discovered_list(Some(&app.group), false).await else {
            return;
        };
        for mut device in devices {
            if device.app != app.id {
                continue;
            }
            let mut word = None;
            for component in &device.components {
                for topic in config::availability(&component.config).topics {
                    if topic.topic == *message.topic
                        && let Some(said) = config::availability_word(&topic, &message.payload)
                    {
                        word = Some(said);
                    }
                }
            }
            if word.is_some() && word != device.online {
                device.online = word;
                if let Err(error) = self.store.upsert_discovered(&device).await {
                    tracing::warn!("discovery: storing availability failed: {error}");
                }
            }
        }
    }
}

/// Command topic to the discovery application that announced it: an adopted device's
/// application first, then the earliest announcer (a later claim to someone else's
/// topic gains nothing).
fn command_owners(devices: &[DiscoveredDevice]) -> HashMap<Arc<str>, Arc<str>> {
    let mut ordered: Vec<&DiscoveredDevice> = devices.iter().collect();
    ordered.sort_by_key(|device| (device.adopted_device.is_none(), device.first_seen_ms));
    let mut owners = HashMap::new();
    for device in ordered {
        let app: Arc<str> = Arc::from(device.app.as_str());
        for component in &device.components {
            let Some(config) = component.config.as_object() else {
                continue;
            };
            for (key, value) in config {
                if key.ends_with("command_topic")
                    && let Some(topic) = value.as_str()
                    && !topic.is_empty()
                    && !topic.starts_with("devices/")
                    && !topic.starts_with("hearth/")
                    && !topic.starts_with('$')
                {
                    owners
                        .entry(Arc::from(topic))
                        .or_insert_with(|| app.clone());
                }
            }
        }
    }
    owners
}

/// Whether a config topic announces one component (anything but device-based discovery).
fn topic_announces_one(topic: &str, prefix: &str) -> bool {
    config::parse_topic(prefix, topic).is_some_and(|parsed| parsed.component != "device")
}

/// Recomputes what follows from the components: kind and capabilities.
fn refresh(device: &mut DiscoveredDevice) {
    device.kind = normalize::kind(&device.components);
    device.capabilities = normalize::capabilities(&device.components);
}

#[cfg(test)]
mod tests;
