//! `hearth serve`: a [`Hub`] until Ctrl-C or SIGTERM.

use anyhow::Context;

use crate::cli::ServeArgs;
use crate::config::HearthConfig;
use crate::hub::Hub;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = HearthConfig::load(&args)?;
    let admin_password = match &args.admin_password_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the admin password file {}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        ),
        None => None,
    };
    let hub = Hub::start(config, admin_password).await?;
    if args.print_addrs {
        print_addrs(&hub);
    }
    tracing::info!("hearth is running; Ctrl-C stops it");
    wait_for_signal().await;
    tracing::info!("shutting down");
    hub.shutdown().await;
    Ok(())
}

/// `name=address` per listener, then `ready`: what scripts and tests wait for.
fn print_addrs(hub: &Hub) {
    let addrs = hub.addrs();
    for (name, addr) in [
        ("mqtt", addrs.mqtt),
        ("ws", addrs.ws),
        ("mqtts", addrs.mqtts),
        ("wss", addrs.wss),
        ("http", addrs.http),
        ("https", addrs.https),
        ("http_redirect", addrs.http_redirect),
    ] {
        if let Some(addr) = addr {
            println!("{name}={addr}");
        }
    }
    println!("ready");
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        // SIGHUP asks for a reload (`systemctl reload hearth`): whoever has something to
        // reload (the TLS certificate) listens for it too. Without a handler its default
        // action would end the hub, also when nothing is configured to reload.
        let mut hangup = signal(SignalKind::hangup()).expect("installing a SIGHUP handler");
        let mut ctrl_c = std::pin::pin!(ctrl_c);
        loop {
            tokio::select! {
                _ = &mut ctrl_c => break,
                _ = term.recv() => break,
                _ = hangup.recv() => tracing::debug!("SIGHUP received"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
