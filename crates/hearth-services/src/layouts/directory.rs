//! [`LayoutDirectory`]: every mapped device with its compiled layout, built with the
//! authorizer's snapshot (one reload for the ACL, the translator and the commands'
//! encoder, so the three never disagree about a device).

use hearth_model::layout::{Layout, LayoutScope, Pattern};
use hearth_model::{Device, DeviceId};
use hearth_store::{DeviceFilter, Store, StoreError};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// A layout with its topic patterns parsed once (shared by every device that uses it).
#[derive(Debug)]
pub struct CompiledLayout {
    pub layout: Layout,
    /// One per `layout.inbound` rule, in order.
    pub inbound: Vec<Pattern>,
    /// One per `layout.commands` rule, in order.
    pub commands: Vec<Pattern>,
}

impl CompiledLayout {
    /// `None` (logged) for a stored layout that no longer checks out: the device then
    /// speaks Hearth's own topics only.
    fn compile(layout: Layout, scope: LayoutScope, owner: &str) -> Option<Arc<CompiledLayout>> {
        let compiled = layout
            .validate(scope)
            .map_err(|error| error.to_string())
            .and_then(|()| {
                Ok(CompiledLayout {
                    inbound: layout
                        .inbound
                        .iter()
                        .map(|rule| rule.pattern())
                        .collect::<Result<_, _>>()?,
                    commands: layout
                        .commands
                        .iter()
                        .map(|rule| rule.pattern())
                        .collect::<Result<_, _>>()?,
                    layout,
                })
            });
        match compiled {
            Ok(compiled) => Some(Arc::new(compiled)),
            Err(error) => {
                tracing::warn!(owner, "stored layout ignored: {error}");
                None
            }
        }
    }
}

/// A device that speaks a foreign layout.
#[derive(Debug)]
pub struct MappedDevice {
    pub id: DeviceId,
    /// Its application.
    pub app: Arc<str>,
    pub layout: Arc<CompiledLayout>,
    /// Whether the layout is its application's (else its own).
    pub from_app: bool,
    /// The application whose connections publish its inbound topics (`via_app`);
    /// `None`: the device's own login.
    pub via_app: Option<Arc<str>>,
    /// Template variables: `id`, `room`, `kind` and the metadata's string values.
    pub vars: HashMap<String, String>,
    /// The filters it may subscribe within: its command topics with `{id}` (and
    /// `{name}` of named rules) filled in, other variables as `+`.
    pub command_filters: Vec<String>,
}

impl MappedDevice {
    fn new(device: &Device, layout: Arc<CompiledLayout>, from_app: bool) -> MappedDevice {
        let mut vars: HashMap<String, String> = device
            .metadata
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
            .collect();
        vars.insert("id".into(), device.id.as_str().to_owned());
        vars.insert("kind".into(), device.kind.clone());
        match &device.room {
            Some(room) => vars.insert("room".into(), room.clone()),
            None => vars.remove("room"),
        };
        let command_filters = layout
            .commands
            .iter()
            .zip(&layout.layout.commands)
            .map(|(pattern, rule)| {
                pattern.filter_with(&|var| match var {
                    "id" => Some(device.id.as_str().to_owned()),
                    "name" if rule.name != "*" => Some(rule.name.clone()),
                    _ => None,
                })
            })
            .collect();
        MappedDevice {
            id: device.id.clone(),
            app: device.application.as_str().into(),
            via_app: layout
                .layout
                .via_app
                .as_ref()
                .map(|app| app.as_str().into()),
            layout,
            from_app,
            vars,
            command_filters,
        }
    }

    /// A template variable's value for this device.
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
}

/// Who a command pattern protects.
#[derive(Debug)]
enum Guarded {
    /// The devices of this application that follow its layout.
    App(Arc<str>),
    Device(Arc<str>),
}

/// Every mapped device, and what the ACL and the translator look up per message.
#[derive(Debug, Default)]
pub struct LayoutDirectory {
    /// By device id.
    pub devices: HashMap<Arc<str>, MappedDevice>,
    /// Application id to the devices whose inbound topics its connections publish.
    pub via_app: HashMap<Arc<str>, Vec<Arc<str>>>,
    /// Every inbound topic's MQTT filter (what the translator intercepts), sorted.
    pub filters: BTreeSet<String>,
    /// Command patterns: a topic one of them matches (for a mapped device) is the
    /// hub's alone to publish.
    guards: Vec<(Pattern, Guarded)>,
    /// Device layouts' command topics without variables (what discovery writes), by
    /// topic: one hash lookup however many such devices there are.
    exact_guards: HashMap<String, Arc<str>>,
}

impl LayoutDirectory {
    /// Reads the stored layouts and, when there are any, the devices they apply to.
    pub async fn load(store: &dyn Store) -> Result<LayoutDirectory, StoreError> {
        let all = store.layouts().await?;
        if all.apps.is_empty() && all.devices.is_empty() {
            return Ok(LayoutDirectory::default());
        }
        let devices = store.devices(&DeviceFilter::default()).await?;
        let apps: HashMap<&str, Arc<CompiledLayout>> = all
            .apps
            .iter()
            .filter_map(|(app, layout)| {
                let compiled =
                    CompiledLayout::compile(layout.clone(), LayoutScope::App, app.as_str())?;
                Some((app.as_str(), compiled))
            })
            .collect();
        let own: HashMap<&str, Arc<CompiledLayout>> = all
            .devices
            .iter()
            .filter_map(|(device, layout)| {
                let compiled =
                    CompiledLayout::compile(layout.clone(), LayoutScope::Device, device.as_str())?;
                Some((device.as_str(), compiled))
            })
            .collect();
        let mut directory = LayoutDirectory::default();
        for (app, layout) in &apps {
            for pattern in &layout.commands {
                directory
                    .guards
                    .push((pattern.clone(), Guarded::App((*app).into())));
            }
        }
        for device in &devices {
            let mapped = match own.get(device.id.as_str()) {
                Some(layout) => MappedDevice::new(device, layout.clone(), false),
                None => match apps.get(device.application.as_str()) {
                    Some(layout) => MappedDevice::new(device, layout.clone(), true),
                    None => continue,
                },
            };
            let id: Arc<str> = device.id.as_str().into();
            if !mapped.from_app {
                for pattern in &mapped.layout.commands {
                    if pattern.vars().next().is_none() {
                        directory.exact_guards.insert(pattern.filter(), id.clone());
                    } else {
                        directory
                            .guards
                            .push((pattern.clone(), Guarded::Device(id.clone())));
                    }
                }
            }
            for pattern in &mapped.layout.inbound {
                directory.filters.insert(pattern.filter());
            }
            if let Some(app) = &mapped.via_app {
                directory
                    .via_app
                    .entry(app.clone())
                    .or_default()
                    .push(id.clone());
            }
            directory.devices.insert(id, mapped);
        }
        Ok(directory)
    }

    /// The mapped device whose command topic `topic` is, if any. Hearth's own topics
    /// never are (layouts may not use them).
    pub fn command_topic_of(&self, topic: &str) -> Option<&str> {
        if topic.starts_with("devices/") {
            return None;
        }
        if let Some(device) = self.exact_guards.get(topic) {
            return Some(device);
        }
        self.guards.iter().find_map(|(pattern, guarded)| {
            let found = pattern.matches(topic)?;
            match guarded {
                Guarded::Device(device) => found
                    .id
                    .is_none_or(|id| id == &**device)
                    .then_some(&**device),
                Guarded::App(app) => {
                    let id = found.id?;
                    let (key, mapped) = self.devices.get_key_value(id)?;
                    (mapped.from_app && mapped.app == *app).then_some(&**key)
                }
            }
        })
    }
}
