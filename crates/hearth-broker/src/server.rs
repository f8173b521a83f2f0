//! Starting and stopping the broker: listeners, accept loops, the router task.

use hearth_bus::{Authorizer, Transport};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::config::BrokerConfig;
use crate::connection::{self, ConnectionContext};
use crate::handle::BrokerHandle;
use crate::persist::{BrokerStore, PersistError};
use crate::router::Router;
use crate::router::event::Control;
use crate::stats::SharedStats;
use crate::transport::{self, TransportError};

/// Capacity of the connection-to-router event channel. Large enough to absorb bursts
/// from many clients; when full, connections stop reading their sockets.
const EVENT_CHANNEL: usize = 8192;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        addr: SocketAddr,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{what} listener needs [mqtt.tls] cert_file and key_file")]
    TlsMissing { what: &'static str },
    #[error(transparent)]
    Tls(#[from] TransportError),
    #[error("loading broker state: {0}")]
    Store(#[from] PersistError),
}

/// Where the listeners actually bound (useful with port 0).
#[derive(Debug, Clone, Default)]
pub struct LocalAddrs {
    pub mqtt: Option<SocketAddr>,
    pub ws: Option<SocketAddr>,
    pub mqtts: Option<SocketAddr>,
    pub wss: Option<SocketAddr>,
}

/// A running broker. Dropping it does not stop it; call [`Broker::shutdown`].
pub struct Broker {
    handle: BrokerHandle,
    local_addrs: LocalAddrs,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    control: mpsc::UnboundedSender<Control>,
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Broker {
    /// Starts a broker whose state lives only in memory. Binds every configured listener
    /// and starts serving. Fails before serving anything
    /// if a listener cannot bind or the TLS files cannot be loaded.
    pub async fn start(
        config: BrokerConfig,
        authorizer: Arc<dyn Authorizer>,
    ) -> Result<Broker, BrokerError> {
        Broker::start_with_store(config, authorizer, None).await
    }

    /// Starts a broker that restores its retained messages and persistent sessions from
    /// `store` and keeps them there, acknowledging QoS 1/2 publishes only once what they
    /// changed is durable.
    pub async fn start_with_store(
        config: BrokerConfig,
        authorizer: Arc<dyn Authorizer>,
        store: Option<Box<dyn BrokerStore>>,
    ) -> Result<Broker, BrokerError> {
        let tls = match &config.tls {
            Some(tls) => Some(transport::load_tls_config(&tls.cert_file, &tls.key_file)?),
            None => None,
        };
        if tls.is_none() {
            if config.tls_listen.is_some() {
                return Err(BrokerError::TlsMissing {
                    what: "MQTT over TLS",
                });
            }
            if config.wss_listen.is_some() {
                return Err(BrokerError::TlsMissing {
                    what: "secure WebSocket",
                });
            }
        }
        let mut listeners = Vec::new();
        let mut local_addrs = LocalAddrs::default();
        for (addr, transport, what) in [
            (config.listen, Transport::Tcp, "MQTT"),
            (
                config.ws_listen,
                Transport::WebSocket,
                "MQTT over WebSocket",
            ),
            (config.tls_listen, Transport::Tls, "MQTT over TLS"),
            (
                config.wss_listen,
                Transport::WebSocketTls,
                "MQTT over secure WebSocket",
            ),
        ] {
            let Some(addr) = addr else { continue };
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| BrokerError::Bind { addr, what, source })?;
            let bound =
                listener
                    .local_addr()
                    .map_err(|source| BrokerError::Bind { addr, what, source })?;
            match transport {
                Transport::Tcp => local_addrs.mqtt = Some(bound),
                Transport::WebSocket => local_addrs.ws = Some(bound),
                Transport::Tls => local_addrs.mqtts = Some(bound),
                Transport::WebSocketTls => local_addrs.wss = Some(bound),
                Transport::InProcess => {}
            }
            tracing::info!(%bound, "{what} listening");
            listeners.push((listener, transport));
        }

        let stats = Arc::new(SharedStats::default());
        let (events_tx, events_rx) = mpsc::channel(EVENT_CHANNEL);
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let sys_interval =
            (config.sys_interval_secs > 0).then(|| Duration::from_secs(config.sys_interval_secs));
        let mut router = Router::new(
            config.limits.clone(),
            stats.clone(),
            sys_interval,
            control_tx.clone(),
            None,
        );
        let mut writer = None;
        if let Some(mut store) = store {
            let (state, store) =
                tokio::task::spawn_blocking(move || store.load().map(|state| (state, store)))
                    .await
                    .map_err(|error| PersistError(error.to_string()))??;
            let (batches_tx, batches_rx) = mpsc::unbounded_channel();
            let thread = std::thread::Builder::new()
                .name("hearth-broker-store".into())
                .spawn(move || crate::persist::writer::run(store, batches_rx))
                .map_err(|error| PersistError(error.to_string()))?;
            writer = Some(thread);
            router = Router::new(
                config.limits.clone(),
                stats.clone(),
                sys_interval,
                control_tx.clone(),
                Some(batches_tx),
            );
            router.restore(state);
        }
        let mut tasks = JoinSet::new();
        tasks.spawn(router.run(events_rx, control_rx));

        let context = Arc::new(ConnectionContext {
            events: events_tx,
            authorizer,
            limits: config.limits.clone(),
            stats,
            next_conn_id: AtomicU64::new(1),
        });
        let (stop, stopped) = watch::channel(false);
        let tls_acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        for (listener, transport) in listeners {
            let accept = AcceptLoop {
                listener,
                transport,
                context: context.clone(),
                tls: tls_acceptor.clone(),
                ws_path: Arc::from(config.ws_path.as_str()),
                stopped: stopped.clone(),
            };
            tasks.spawn(accept.run());
        }
        Ok(Broker {
            handle: BrokerHandle::new(control_tx.clone()),
            local_addrs,
            stop,
            tasks,
            control: control_tx,
            writer,
        })
    }

    pub fn handle(&self) -> BrokerHandle {
        self.handle.clone()
    }

    pub fn local_addrs(&self) -> &LocalAddrs {
        &self.local_addrs
    }

    /// Stops accepting, tells every client the server is shutting down (v5 0x8B), and
    /// waits for the router to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let _ = self.control.send(Control::Shutdown);
        while self.tasks.join_next().await.is_some() {}
        // The router has handed over its last batch and dropped its sender: the writer
        // commits it and ends.
        if let Some(writer) = self.writer.take() {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }
}

struct AcceptLoop {
    listener: TcpListener,
    transport: Transport,
    context: Arc<ConnectionContext>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ws_path: Arc<str>,
    stopped: watch::Receiver<bool>,
}

impl AcceptLoop {
    async fn run(mut self) {
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = self.stopped.changed() => return,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(serve_stream(
                        stream,
                        peer,
                        self.transport,
                        self.context.clone(),
                        self.tls.clone(),
                        self.ws_path.clone(),
                    ));
                }
                Err(error) => {
                    // Typically EMFILE: back off instead of spinning, keep serving others.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Wraps the accepted socket in TLS and/or WebSocket as the listener requires, then
/// serves MQTT on it. Errors end this connection only.
async fn serve_stream(
    stream: TcpStream,
    peer: SocketAddr,
    transport: Transport,
    context: Arc<ConnectionContext>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ws_path: Arc<str>,
) {
    let handshake_timeout = context.limits.connect_timeout();
    let result = match (transport, tls) {
        (Transport::Tcp, _) => connection::serve(stream, Some(peer), transport, context).await,
        (Transport::Tls, Some(tls)) => {
            match tokio::time::timeout(handshake_timeout, transport::accept_tls(&tls, stream)).await
            {
                Ok(Ok(stream)) => connection::serve(stream, Some(peer), transport, context).await,
                Ok(Err(error)) => return tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
        (Transport::WebSocket, _) => {
            match tokio::time::timeout(
                handshake_timeout,
                transport::accept_websocket(stream, &ws_path),
            )
            .await
            {
                Ok(Ok(stream)) => connection::serve(stream, Some(peer), transport, context).await,
                Ok(Err(error)) => {
                    return tracing::debug!(%peer, %error, "WebSocket handshake failed");
                }
                Err(_) => return tracing::debug!(%peer, "WebSocket handshake timed out"),
            }
        }
        (Transport::WebSocketTls, Some(tls)) => {
            let handshake = async {
                let stream = transport::accept_tls(&tls, stream).await?;
                transport::accept_websocket(stream, &ws_path).await
            };
            match tokio::time::timeout(handshake_timeout, handshake).await {
                Ok(Ok(stream)) => connection::serve(stream, Some(peer), transport, context).await,
                Ok(Err(error)) => {
                    return tracing::debug!(%peer, %error, "secure WebSocket handshake failed");
                }
                Err(_) => return tracing::debug!(%peer, "secure WebSocket handshake timed out"),
            }
        }
        _ => return,
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended");
    }
}
