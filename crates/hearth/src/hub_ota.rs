//! Firmware updates as the hub starts them (issue 17, docs/ota.md): where download URLs
//! point, and who follows rollouts (this hub, or a cluster's coordinator, issue 21).

use crate::config::HearthConfig;
use crate::hub::HubAddrs;
use anyhow::Context;
use hearth_bus::Bus;
use hearth_services::commands::Commands;
use hearth_services::ingest::Ingest;
use hearth_services::ota::Ota;
use hearth_store::Store;
use std::sync::Arc;

/// Starts firmware updates; a single hub follows its rollouts itself, a cluster node
/// leaves that to the coordinator's terms (coordinator.rs).
pub(crate) fn start(
    config: &HearthConfig,
    addrs: &HubAddrs,
    store: &Arc<dyn Store>,
    bus: &Arc<dyn Bus>,
    commands: &Commands,
    ingest: &Ingest,
    cluster: bool,
) -> anyhow::Result<Ota> {
    let base_url = firmware_base_url(config, addrs);
    let ota = if cluster {
        Ota::start_untracked(
            store.clone(),
            bus.clone(),
            commands.clone(),
            &config.data_dir,
            base_url,
            config.firmware.clone(),
        )
    } else {
        Ota::start(
            store.clone(),
            bus.clone(),
            commands.clone(),
            ingest,
            &config.data_dir,
            base_url,
            config.firmware.clone(),
        )
    };
    ota.context("starting firmware updates")
}

/// What firmware download URLs start with: `[firmware] public_url`, else the HTTPS or
/// HTTP listener (a wildcard address is no use to devices: set `public_url` then).
/// What the CLI's rollouts name (no listener bound there): `[firmware] public_url`, else
/// the configured HTTPS or HTTP address.
pub(crate) fn firmware_url_of(config: &HearthConfig) -> String {
    let addrs = HubAddrs {
        http: config.http,
        https: config.https,
        ..HubAddrs::default()
    };
    firmware_base_url(config, &addrs)
}

fn firmware_base_url(config: &HearthConfig, addrs: &HubAddrs) -> String {
    if let Some(url) = &config.firmware.public_url {
        return url.clone();
    }
    let (scheme, addr) = match (addrs.https, addrs.http) {
        (Some(https), _) => ("https", https),
        (None, Some(http)) => ("http", http),
        (None, None) => return String::new(),
    };
    if addr.ip().is_unspecified() {
        tracing::warn!(%addr, "firmware download URLs name a wildcard address: \
            set [firmware] public_url to the hub's address on the devices' network");
    }
    format!("{scheme}://{addr}")
}
