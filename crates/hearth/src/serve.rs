//! `hearth serve`: start everything, stop on Ctrl-C or SIGTERM.

use anyhow::Context;
use std::sync::Arc;

use crate::adapters::{CommandAdapter, CredentialAdapter, register_metrics};
use crate::cli::ServeArgs;
use crate::config::HearthConfig;
use hearth_api::AppState;
use hearth_broker::Broker;
use hearth_broker::file_auth::FileAuthorizer;
use hearth_broker::persist::BrokerStore;
use hearth_bus::{Authorizer, Bus};
use hearth_services::commands::Commands;
use hearth_services::ingest::Ingest;
use hearth_services::{Registry, RegistryAuthorizer};
use hearth_store::RedbBrokerStore;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = HearthConfig::load(&args)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let database_url = config.database_url()?;
    let store = hearth_store::open(&database_url)
        .await
        .with_context(|| format!("opening the database {}", redact(&database_url)))?;
    tracing::info!(backend = store.backend(), "registry store ready");

    let registry = Registry::new(store.clone());
    first_start(&registry, &args).await?;

    if config.mqtt.auth.allow_anonymous {
        tracing::warn!(
            "anonymous MQTT access is enabled: any client may connect (development mode)"
        );
    }
    // The broker's password file, when configured, still admits the users it lists
    // (for setups migrated from Mosquitto); the registry is asked first.
    let (fallback, _file_watcher) = if config.mqtt.auth.password_file.is_some() {
        let file_auth = Arc::new(
            FileAuthorizer::load(&config.mqtt.auth).context("loading broker password/ACL files")?,
        );
        let watcher = file_auth.watch();
        (Some(file_auth as Arc<dyn Authorizer>), Some(watcher))
    } else {
        (None, None)
    };
    let authorizer =
        RegistryAuthorizer::load(store.clone(), config.mqtt.auth.allow_anonymous, fallback)
            .await
            .context("loading the registry for MQTT auth")?;

    let broker_store: Option<Box<dyn BrokerStore>> = if config.mqtt.persistence {
        let path = config.data_dir.join("broker.redb");
        Some(Box::new(RedbBrokerStore::open(&path)?))
    } else {
        None
    };
    // Taken before the broker starts, so that no device connection goes unseen.
    let device_connections = authorizer.device_connections();
    let broker = Broker::start_with_store(config.mqtt.clone(), authorizer.clone(), broker_store)
        .await
        .context("starting the MQTT broker")?;
    let bus: Arc<dyn Bus> = Arc::new(broker.handle());
    let auth_watcher = authorizer.watch(bus.clone());
    let ingest = Ingest::start(
        store.clone(),
        bus.clone(),
        device_connections,
        config.ingest.clone(),
    )
    .await
    .context("starting ingest")?;
    let retention = hearth_services::retention::spawn(store.clone(), config.history.clone());
    let commands = Commands::start(
        store.clone(),
        bus.clone(),
        ingest.presence_events(),
        config.commands.clone(),
    )
    .await
    .context("starting the commands service")?;

    // One count of failed logins for HTTP and MQTT: neither is a way around the other.
    let login_limiter = Arc::new(hearth_services::LoginLimiter::new(
        config.api.login_failures_per_minute,
    ));
    authorizer.use_login_limiter(login_limiter.clone());
    let (stop_http, http_stopped) = tokio::sync::watch::channel(false);
    let mut background = vec![auth_watcher, retention, crate::memory::spawn_trimmer()];
    let http_addr = match config.http {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding the HTTP listener on {addr}"))?;
            let local = listener.local_addr()?;
            let ws_url = broker.local_addrs().ws.map(|ws| format!("ws://{ws}/mqtt"));
            let state = AppState::new(
                store.clone(),
                registry
                    .clone()
                    .with_change_notifier(authorizer.change_notifier()),
                config.api.clone(),
            )
            .with_login_limiter(login_limiter.clone())
            .with_commands(Arc::new(CommandAdapter(commands.clone())))
            .with_mqtt_credentials(Arc::new(CredentialAdapter {
                authorizer: authorizer.clone(),
                bus: bus.clone(),
                ws_url,
            }));
            let broker_stats = Arc::new(parking_lot::Mutex::new(None));
            register_metrics(
                state.metrics(),
                broker_stats.clone(),
                authorizer.clone(),
                ingest.counters().clone(),
                ingest.backlog_probe(),
                commands.clone(),
            );
            let handle = broker.handle();
            background.push(tokio::spawn(async move {
                loop {
                    if let Ok(stats) = handle.stats().await {
                        *broker_stats.lock() = Some(stats);
                    }
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                }
            }));
            let mut stopped = http_stopped.clone();
            tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                if let Err(error) = hearth_api::serve(listener, state, shutdown).await {
                    tracing::error!("the HTTP server stopped: {error}");
                }
            });
            tracing::info!(%local, "HTTP API listening (docs at /api/docs)");
            Some(local)
        }
        None => None,
    };

    if args.print_addrs {
        let addrs = broker.local_addrs();
        for (name, addr) in [
            ("mqtt", addrs.mqtt),
            ("ws", addrs.ws),
            ("mqtts", addrs.mqtts),
            ("wss", addrs.wss),
            ("http", http_addr),
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
    let _ = stop_http.send(true);
    for task in background {
        task.abort();
    }
    broker.shutdown().await;
    // After the broker: what it handed over is written before the store closes.
    ingest.shutdown().await;
    store.close().await;
    Ok(())
}

/// On an empty registry, creates the owner account and says how to log in, once.
async fn first_start(registry: &Registry, args: &ServeArgs) -> anyhow::Result<()> {
    let password = match &args.admin_password_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the admin password file {}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        ),
        None => None,
    };
    let Some(first) = registry
        .ensure_owner(password)
        .await
        .context("creating the owner account")?
    else {
        return Ok(());
    };
    match &first.generated_password {
        Some(password) => tracing::warn!(
            "first start: created the owner account `{}` with the one-time password {password} \
             (shown only now; change it with `hearth user passwd {}`). \
             首次启动：已创建管理员账户 `{}`，一次性密码 {password}（仅显示这一次）",
            first.owner.name,
            first.owner.name,
            first.owner.name
        ),
        None => tracing::info!(
            "first start: created the owner account `{}` with the password from the admin password file",
            first.owner.name
        ),
    }
    tracing::info!(
        "first start: created group `{}` and application `{}`; add a device with `hearth device add <id>`",
        first.group.id,
        first.app.id
    );
    Ok(())
}

/// The URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
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

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn database_passwords_stay_out_of_logs() {
        assert_eq!(
            redact("postgres://hearth:s3cret@db:5432/hearth"),
            "postgres://hearth:***@db:5432/hearth"
        );
        assert_eq!(
            redact("postgres://hearth@db/hearth"),
            "postgres://hearth@db/hearth"
        );
        assert_eq!(redact("sqlite://data/hearth.db"), "sqlite://data/hearth.db");
    }
}
