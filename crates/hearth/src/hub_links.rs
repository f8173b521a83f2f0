//! The hub's links to other brokers, started when configured: the home hub's `[bridge]`
//! to a cloud hub (issue 20, docs/bridge.md) and the `[dynsec]` sync that keeps an
//! external Mosquitto's dynamic-security plugin in step with the registry (issue 21,
//! docs/scale.md). Apart from hub.rs so that its start-up order stays readable.

use crate::config::HearthConfig;
use anyhow::Context;
use hearth_bus::Bus;
use hearth_services::RegistryAuthorizer;
use hearth_services::bridge::Bridge;
use hearth_services::dynsec::{BrokerKey, DynsecSync};
use hearth_services::lease::Leadership;
use hearth_store::Store;
use std::sync::Arc;

/// The cloud link with the cloud's registry mirrored here (docs/bridge.md "Registry
/// mirror"); its interceptors are registered on `bus` before this returns.
pub(crate) fn start_bridge(
    config: &HearthConfig,
    bus: &Arc<dyn Bus>,
    store: &Arc<dyn Store>,
    authorizer: &Arc<RegistryAuthorizer>,
) -> anyhow::Result<Option<Bridge>> {
    let Some(bridge) = &config.bridge else {
        return Ok(None);
    };
    Bridge::start_with_mirror(
        bridge.clone(),
        &config.data_dir,
        bus.clone(),
        Some((store.clone(), Some(authorizer.change_notifier()))),
    )
    .map(Some)
    .map_err(anyhow::Error::msg)
    .context("starting the bridge")
}

/// Mosquitto's dynamic-security plugin kept in step with the registry, with the broker
/// passwords' key (made on first use); written only while `leadership` is held.
pub(crate) fn start_dynsec(
    config: &HearthConfig,
    store: &Arc<dyn Store>,
    leadership: Leadership,
) -> anyhow::Result<Option<DynsecSync>> {
    let Some(dynsec) = &config.dynsec else {
        return Ok(None);
    };
    let key = BrokerKey::load_or_create(&dynsec.key_path(&config.data_dir))
        .map_err(anyhow::Error::msg)
        .context("[dynsec] key_file")?;
    DynsecSync::start(dynsec.clone(), key, store.clone(), leadership)
        .map(Some)
        .map_err(anyhow::Error::msg)
        .context("starting the dynamic-security sync")
}
