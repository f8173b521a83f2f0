//! Who the simulated devices are: registered here (`--demo`, `--create`) through the
//! registry, as `hearth device add` does (validation, hashed secrets, the audit log),
//! or read from a CSV of `id,secret[,kind]` (`--devices`).
//!
//! A device registered before gets a new secret rather than a second registration
//! (secrets are stored hashed, so the old one cannot be read back): running `--demo`
//! twice registers nothing twice, and no secret is ever written to disk by the
//! simulator.

use super::fleet::{Behaviour, SimDevice};
use super::kinds::Kind;
use anyhow::{Context, bail};
use hearth_model::{AppId, Device, DeviceId, GroupId};
use hearth_services::Registry;
use hearth_services::registry::DeviceSpec;
use hearth_store::StoreError;
use serde_json::json;
use std::path::Path;

/// The demo home's group and application id.
pub const DEMO_GROUP: &str = "demo";
pub const DEMO_APP: &str = "demo";

/// The demo home: id, kind, name (English / 中文), room.
const DEMO_DEVICES: [(&str, Kind, &str, &str); 13] = [
    (
        "demo-living-climate",
        Kind::Temperature,
        "Living room climate / 客厅温湿度",
        "Living room / 客厅",
    ),
    (
        "demo-floor-lamp",
        Kind::Dimmer,
        "Floor lamp / 落地灯",
        "Living room / 客厅",
    ),
    (
        "demo-thermostat",
        Kind::Thermostat,
        "Thermostat / 温控器",
        "Living room / 客厅",
    ),
    (
        "demo-living-motion",
        Kind::Motion,
        "Living room motion / 客厅人体感应",
        "Living room / 客厅",
    ),
    (
        "demo-kitchen-climate",
        Kind::Temperature,
        "Kitchen climate / 厨房温湿度",
        "Kitchen / 厨房",
    ),
    (
        "demo-coffee-plug",
        Kind::Switch,
        "Coffee machine plug / 咖啡机插座",
        "Kitchen / 厨房",
    ),
    (
        "demo-kitchen-smoke",
        Kind::Smoke,
        "Kitchen smoke detector / 厨房烟雾报警器",
        "Kitchen / 厨房",
    ),
    (
        "demo-bedroom-blinds",
        Kind::Cover,
        "Bedroom blinds / 卧室窗帘",
        "Bedroom / 卧室",
    ),
    (
        "demo-bedroom-climate",
        Kind::Temperature,
        "Bedroom climate / 卧室温湿度",
        "Bedroom / 卧室",
    ),
    (
        "demo-bedside-light",
        Kind::ColorLight,
        "Bedside light / 床头灯",
        "Bedroom / 卧室",
    ),
    (
        "demo-front-door",
        Kind::Lock,
        "Front door lock / 前门门锁",
        "Hallway / 门厅",
    ),
    (
        "demo-hall-motion",
        Kind::Motion,
        "Hallway motion / 门厅人体感应",
        "Hallway / 门厅",
    ),
    (
        "demo-garden-pump",
        Kind::Relay,
        "Garden pump / 花园水泵",
        "Garden / 花园",
    ),
];

/// Registers the demo home if it is not there (group `demo` "Demo home / 演示家庭" with
/// the hub's administrators as owners, application `demo`, twelve devices of every
/// kind in five rooms) and returns its devices with fresh secrets.
pub async fn demo_home(registry: &Registry, actor: &str) -> anyhow::Result<Vec<SimDevice>> {
    let store = registry.store();
    let group: GroupId = DEMO_GROUP.parse()?;
    match store.group(&group).await {
        Ok(_) => {}
        Err(StoreError::NotFound { .. }) => {
            let admins: Vec<_> = store
                .users()
                .await?
                .into_iter()
                .filter(|user| user.is_admin)
                .collect();
            registry
                .add_group(
                    actor,
                    &group,
                    Some("Demo home / 演示家庭"),
                    admins.first().map(|user| &user.name),
                )
                .await?;
            for admin in admins.iter().skip(1) {
                registry
                    .set_member(actor, &group, &admin.name, hearth_model::Role::Owner)
                    .await?;
            }
        }
        Err(error) => return Err(error.into()),
    }
    let app: AppId = DEMO_APP.parse()?;
    match store.app(&app).await {
        Ok(_) => {}
        Err(StoreError::NotFound { .. }) => {
            registry
                .add_app(actor, &app, &group, Some("Demo devices / 演示设备"), None)
                .await?;
        }
        Err(error) => return Err(error.into()),
    }
    let mut devices = Vec::with_capacity(DEMO_DEVICES.len());
    for (id, kind, name, room) in DEMO_DEVICES {
        let spec = DeviceSpec {
            app: Some(app.clone()),
            name: Some(name.to_owned()),
            kind: Some(kind.registry_kind().to_owned()),
            room: Some(room.to_owned()),
            metadata: Some(json!({ "simulated": kind.name() })),
            ..DeviceSpec::new(id.parse()?)
        };
        let secret = register_or_rotate(registry, actor, spec).await?;
        devices.push(SimDevice {
            id: id.parse()?,
            secret,
            kind,
            behaviour: Behaviour::default(),
        });
    }
    Ok(devices)
}

/// Registers `count` devices `{prefix}-{n}` (n from 1) in `app` (the hub's only one when
/// `None`), all of `kind` or, without one, cycling through every kind; a device that
/// exists already gets a new secret instead.
pub async fn create(
    registry: &Registry,
    actor: &str,
    count: usize,
    kind: Option<Kind>,
    app: Option<AppId>,
    prefix: &str,
) -> anyhow::Result<Vec<SimDevice>> {
    let store = registry.store();
    let mut devices = Vec::with_capacity(count);
    let mut new_specs = Vec::new();
    for n in 1..=count {
        let kind = kind.unwrap_or(Kind::ALL[(n - 1) % Kind::ALL.len()]);
        let id: DeviceId = format!("{prefix}-{n}")
            .parse()
            .with_context(|| format!("--prefix {prefix:?} does not make a valid device id"))?;
        let spec = DeviceSpec {
            app: app.clone(),
            kind: Some(kind.registry_kind().to_owned()),
            metadata: Some(json!({ "simulated": kind.name() })),
            ..DeviceSpec::new(id.clone())
        };
        let secret = match store.device(&id).await {
            Ok(_) => registry.rotate_device_secret(actor, &id).await?,
            Err(StoreError::NotFound { .. }) => {
                new_specs.push(spec);
                String::new()
            }
            Err(error) => return Err(error.into()),
        };
        devices.push(SimDevice {
            id,
            secret,
            kind,
            behaviour: Behaviour::default(),
        });
    }
    // New devices in one batch, all or nothing (as `hearth device import`).
    for (id, secret) in registry.add_devices(actor, new_specs, &|_| {}).await? {
        if let Some(device) = devices.iter_mut().find(|device| device.id == id) {
            device.secret = secret;
        }
    }
    Ok(devices)
}

async fn register_or_rotate(
    registry: &Registry,
    actor: &str,
    spec: DeviceSpec,
) -> anyhow::Result<String> {
    match registry.store().device(&spec.id).await {
        Ok(Device { id, .. }) => Ok(registry.rotate_device_secret(actor, &id).await?),
        Err(StoreError::NotFound { .. }) => Ok(registry.add_device(actor, spec).await?.1),
        Err(error) => Err(error.into()),
    }
}

/// Reads `id,secret[,kind]` rows (a first row starting with `id` is a header); devices
/// without a kind are `default_kind`.
pub fn read_csv(path: &Path, default_kind: Kind) -> anyhow::Result<Vec<SimDevice>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut devices = Vec::new();
    for (index, row) in reader.records().enumerate() {
        let row = row.with_context(|| format!("{}: row {}", path.display(), index + 1))?;
        let field = |n: usize| row.get(n).unwrap_or("").to_owned();
        if index == 0 && field(0) == "id" {
            continue;
        }
        if field(0).is_empty() && row.len() <= 1 {
            continue;
        }
        let at = || format!("{}: row {}", path.display(), index + 1);
        let id: DeviceId = field(0)
            .parse()
            .with_context(|| format!("{}: id {:?}", at(), field(0)))?;
        let secret = field(1);
        if secret.is_empty() {
            bail!("{}: no secret for device {id}", at());
        }
        let kind = match field(2).as_str() {
            "" => default_kind,
            name => {
                Kind::parse(name).with_context(|| format!("{}: unknown kind {name:?}", at()))?
            }
        };
        devices.push(SimDevice {
            id,
            secret,
            kind,
            behaviour: Behaviour::default(),
        });
    }
    Ok(devices)
}
