//! The home side of edge + cloud (issue 20, docs/bridge.md): a home hub forwards its
//! devices' messages to a cloud hub through a durable queue, and the cloud's commands
//! to its devices.
//!
//! - `config.rs`: `[bridge]` of hearth.toml.
//! - `queue.rs`: the durable outbound queue in `<data_dir>/bridge.redb`.
//! - `intercept.rs`: the interceptor on the bridged home topics and the writer that
//!   appends with group commit before the home PUBACK.
//! - `link.rs`: the MQTT 5 client to the cloud (in order, QoS 1, a window, delete on
//!   PUBACK, back-off; commands from the cloud onto the home bus).
//! - `status.rs`: [`BridgeStatus`] for the API and `/metrics`.
//! - `mirror.rs`: the cloud's registry mirrored into this hub's, over the link.
//! - `topics.rs`: which topics cross the link, which way, QoS and prefixes.

pub mod config;
pub mod intercept;
pub mod link;
pub mod mirror;
pub mod queue;
pub mod status;
pub mod topics;

pub use config::{BridgeConfig, BridgeUrl};
pub use link::RECEIVED_AT;
pub use mirror::{Mirror, MirrorStatus};
pub use queue::{BridgeQueue, NewMessage, Overflow, QueueLimits, QueuedMessage};
pub use status::{BridgeStatus, StatusReader};
pub use topics::{Direction, TopicRule};

use hearth_bus::Bus;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::task::JoinHandle;

/// A running bridge: the queue's writer and the link.
pub struct Bridge {
    status: StatusReader,
    stop_writer: Arc<AtomicBool>,
    stop_link: tokio::sync::watch::Sender<bool>,
    writer: JoinHandle<()>,
    link: JoinHandle<()>,
    mirror: Option<JoinHandle<()>>,
}

impl Bridge {
    /// Opens `<data_dir>/bridge.redb`, registers the interceptors on `bus` (call before
    /// devices publish: what arrives earlier is not bridged) and starts the link.
    pub fn start(
        config: BridgeConfig,
        data_dir: &Path,
        bus: Arc<dyn Bus>,
    ) -> Result<Bridge, String> {
        Bridge::start_with_mirror(config, data_dir, bus, None)
    }

    /// [`Bridge::start`] with the cloud's registry mirrored into `store`
    /// (docs/bridge.md "Registry mirror"); `changed` is rung after each snapshot
    /// applied (the authorizer's notifier).
    pub fn start_with_mirror(
        config: BridgeConfig,
        data_dir: &Path,
        bus: Arc<dyn Bus>,
        mirror: Option<mirror::MirrorTarget>,
    ) -> Result<Bridge, String> {
        let (mirror, mirror_task) = match mirror {
            Some((store, changed)) => {
                let (mirror, task) = Mirror::start(config.site.clone(), store, changed);
                (Some(mirror), Some(task))
            }
            None => (None, None),
        };
        let secret = config.load_secret()?;
        let tls = if config.url.tls {
            Some(link::tls_config(&config)?)
        } else {
            None
        };
        let queue = Arc::new(
            BridgeQueue::open(&data_dir.join("bridge.redb"), config.limits())
                .map_err(|error| error.to_string())?,
        );
        let outbound = config
            .rules()
            .into_iter()
            .filter(|rule| rule.direction.out())
            .map(|rule| rule.pattern)
            .collect();
        let inbox = intercept::Inbox::new(outbound, &queue);
        for (filter, interceptor) in inbox.interceptors() {
            bus.intercept(&filter, interceptor)
                .map_err(|error| format!("[bridge] topics {filter:?}: {error}"))?;
        }
        let stop_writer = Arc::new(AtomicBool::new(false));
        let writer = tokio::spawn(inbox.clone().run_writer(queue.clone(), stop_writer.clone()));
        let state = Arc::new(status::LinkState::new());
        let status = StatusReader {
            site: config.site.clone(),
            url: String::from(config.url.clone()),
            queue: Arc::downgrade(&queue),
            limits: queue.limits(),
            inbox: inbox.clone(),
            link: state.clone(),
            mirror: mirror.clone(),
        };
        tracing::info!(queued = queue.len(), "bridge started");
        let (stop_link, stopped) = tokio::sync::watch::channel(false);
        let link = link::Link {
            config,
            secret,
            tls,
            queue,
            committed: inbox.committed.clone(),
            bus,
            state,
            mirror,
        };
        let link = tokio::spawn(link.run(stopped));
        Ok(Bridge {
            status,
            stop_writer,
            stop_link,
            writer,
            link,
            mirror: mirror_task,
        })
    }

    /// Reads the bridge's status whenever asked (the API and `/metrics` hold one).
    pub fn status_reader(&self) -> StatusReader {
        self.status.clone()
    }

    pub fn status(&self) -> BridgeStatus {
        self.status.status()
    }

    /// Stops the link (deleting what the cloud acknowledged) and, after the broker has
    /// stopped handing over messages, writes what is waiting.
    pub async fn shutdown(self) {
        let _ = self.stop_link.send(true);
        let _ = self.link.await;
        if let Some(mirror) = self.mirror {
            mirror.abort();
            let _ = mirror.await;
        }
        self.stop_writer.store(true, Ordering::Release);
        let _ = self.writer.await;
    }
}
