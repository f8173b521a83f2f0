//! `hearth serve`: start everything, stop on Ctrl-C or SIGTERM.

use anyhow::Context;
use std::sync::Arc;

use crate::cli::ServeArgs;
use crate::config::HearthConfig;
use hearth_broker::Broker;
use hearth_broker::file_auth::FileAuthorizer;
use hearth_broker::persist::BrokerStore;
use hearth_store::RedbBrokerStore;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = HearthConfig::load(&args)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    if config.mqtt.auth.allow_anonymous {
        tracing::warn!(
            "anonymous MQTT access is enabled: any client may connect (development mode)"
        );
    }
    let authorizer = Arc::new(
        FileAuthorizer::load(&config.mqtt.auth).context("loading broker password/ACL files")?,
    );
    let _watcher = authorizer.watch();
    let store: Option<Box<dyn BrokerStore>> = if config.mqtt.persistence {
        let path = config.data_dir.join("broker.redb");
        Some(Box::new(RedbBrokerStore::open(&path)?))
    } else {
        None
    };
    let broker = Broker::start_with_store(config.mqtt.clone(), authorizer, store)
        .await
        .context("starting the MQTT broker")?;
    if args.print_addrs {
        let addrs = broker.local_addrs();
        for (name, addr) in [
            ("mqtt", addrs.mqtt),
            ("ws", addrs.ws),
            ("mqtts", addrs.mqtts),
            ("wss", addrs.wss),
        ] {
            if let Some(addr) = addr {
                println!("{name}={addr}");
            }
        }
        println!("ready");
    }
    tracing::info!("hearth is running; Ctrl-C stops it");
    wait_for_signal().await;
    tracing::info!("shutting down");
    broker.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
