//! Devices announced through Home Assistant MQTT discovery (issue 18), as the hub keeps
//! them until someone adopts them into an application.
//!
//! A discovery application's login (the one MQTT user a Tasmota, Zigbee2MQTT, ESPHome or
//! Shelly is configured with) publishes retained configs under
//! `<prefix>/<component>/[<node_id>/]<object_id>/config`. The hub parses them
//! (`hearth_services::discovery::config`) into one [`DiscoveredDevice`] per physical
//! device, keyed by (discovering application, discovery id), with one
//! [`DiscoveredComponent`] per announced entity. Adopting one creates a Hearth device
//! whose topic layout is generated from the components.

use crate::{AppId, DeviceId, GroupId, Millis};
use serde::{Deserialize, Serialize};

/// One Home Assistant component (entity) of an announced device: a switch, a light, a
/// sensor...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiscoveredComponent {
    /// The Home Assistant platform: `switch`, `light`, `sensor`, `binary_sensor`, ...
    pub component: String,
    /// Unique within the device: the config topic's object id (or the `cmps` key of
    /// device-based discovery).
    pub object_id: String,
    /// The config topic that announced it: an empty payload there removes it.
    pub config_topic: String,
    pub name: Option<String>,
    pub unique_id: Option<String>,
    pub device_class: Option<String>,
    /// `unit_of_measurement`.
    pub unit: Option<String>,
    /// The config with every abbreviation expanded and `~` resolved (what the layout is
    /// generated from at adoption).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: serde_json::Value,
    /// What Hearth does not understand in this config (an unsupported template, a
    /// platform without a Hearth capability...), in words, so that people know why a
    /// control is missing.
    #[serde(default)]
    pub unsupported: Vec<String>,
}

/// A device announced by a discovery application, not necessarily adopted yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DiscoveredDevice {
    /// The discovery application whose login announced it.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub app: AppId,
    /// The discovery id: the HA device's first identifier (or the config's `unique_id`,
    /// or its node id), sanitized to a Hearth device id.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: DeviceId,
    /// The discovering application's group.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub group: GroupId,
    pub name: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub sw_version: Option<String>,
    /// The kind the adopted device gets (`switch`, `light`, `sensor`, ...).
    pub kind: String,
    pub components: Vec<DiscoveredComponent>,
    /// What the components imply, in the vocabulary of `metadata.capabilities`
    /// (`{"type": "switch"}`, `{"type": "sensor", "key": "temperature", ...}`).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub capabilities: Vec<serde_json::Value>,
    /// From its availability topics, as the discovering login reported it; `None` when it
    /// has none or said nothing yet.
    pub online: Option<bool>,
    pub first_seen_ms: Millis,
    pub last_seen_ms: Millis,
    /// The Hearth device it became; adopted entries are no longer listed.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub adopted_device: Option<DeviceId>,
}
