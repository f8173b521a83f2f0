//! Starting and stopping the broker: listeners, accept loops, the router task.

use bytes::Bytes;
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
use crate::transport::{self, CertificateSource, TransportError};

/// Capacity of the connection-to-router event channel. Large enough to absorb bursts
/// from many clients (the router takes up to 512 at a time); small enough that events
/// already queued when a publisher is paused cannot overrun a subscriber's backlog
/// limit. When full, connections stop reading their sockets.
const EVENT_CHANNEL: usize = 2048;

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
    /// The TLS listeners' certificate, shared with the hub's HTTPS listener and reloaded
    /// when its files change.
    certificate: Option<Arc<CertificateSource>>,
    stop: watch::Sender<bool>,
    /// Whether the listeners accept connections (see [`Broker::start_paused`]).
    accepting: watch::Sender<bool>,
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
        let client_events = Arc::new(hearth_bus::ClientEvents::new());
        Broker::start_with_events(config, authorizer, store, client_events).await
    }

    /// [`Broker::start_with_store`], announcing connections on `client_events`: services
    /// that subscribed to it before this call see every connection from the first.
    pub async fn start_with_events(
        config: BrokerConfig,
        authorizer: Arc<dyn Authorizer>,
        store: Option<Box<dyn BrokerStore>>,
        client_events: Arc<hearth_bus::ClientEvents>,
    ) -> Result<Broker, BrokerError> {
        let broker = Broker::start_paused(config, authorizer, store, client_events).await?;
        broker.accept_connections();
        Ok(broker)
    }

    /// [`Broker::start_with_events`] with its listeners bound but not yet accepting
    /// until [`Broker::accept_connections`]: connections wait in the kernel's backlog.
    /// A hub registers its interceptors in between, because a QoS 1 publish routed
    /// before ingest (or a site's relay) intercepts it would be acknowledged and stored
    /// nowhere: a device or site reconnecting the moment the hub restarts would lose
    /// its first messages.
    pub async fn start_paused(
        config: BrokerConfig,
        authorizer: Arc<dyn Authorizer>,
        store: Option<Box<dyn BrokerStore>>,
        client_events: Arc<hearth_bus::ClientEvents>,
    ) -> Result<Broker, BrokerError> {
        let certificate = match &config.tls {
            Some(tls) => Some(CertificateSource::load(&tls.cert_file, &tls.key_file)?),
            None => None,
        };
        let tls = match (&config.tls, &certificate) {
            (Some(tls), Some(certificate)) => {
                let cas = tls.client_ca_files();
                let verifier = if cas.is_empty() {
                    None
                } else {
                    Some(transport::device_client_verifier(&cas)?)
                };
                Some(transport::server_config(certificate.clone(), verifier))
            }
            _ => None,
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
            authorizer.clone(),
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
                authorizer.clone(),
            );
            router.restore(state);
        }
        let mut tasks = JoinSet::new();
        tasks.spawn(router.run(events_rx, control_rx));

        let stats_for_limits = stats.clone();
        let context = Arc::new(ConnectionContext {
            events: events_tx,
            control: control_tx.clone(),
            authorizer,
            limits: config.limits.clone(),
            stats,
            next_conn_id: AtomicU64::new(1),
            rate_limiter: crate::rate_limit::RateLimiter::new(
                config.rate_limits.clone(),
                stats_for_limits,
            ),
            client_events: client_events.clone(),
        });
        let (stop, stopped) = watch::channel(false);
        let (accepting, open) = watch::channel(false);
        let tls_acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        for (listener, transport) in listeners {
            let accept = AcceptLoop {
                listener,
                transport,
                context: context.clone(),
                tls: tls_acceptor.clone(),
                ws_path: Arc::from(config.ws_path.as_str()),
                stopped: stopped.clone(),
                open: open.clone(),
            };
            tasks.spawn(accept.run());
        }
        Ok(Broker {
            handle: BrokerHandle::new(control_tx.clone(), client_events),
            local_addrs,
            certificate,
            stop,
            accepting,
            tasks,
            control: control_tx,
            writer,
        })
    }

    /// Lets the listeners accept connections (after [`Broker::start_paused`]; a no-op
    /// once they do).
    pub fn accept_connections(&self) {
        self.accepting.send_replace(true);
    }

    pub fn handle(&self) -> BrokerHandle {
        self.handle.clone()
    }

    pub fn local_addrs(&self) -> &LocalAddrs {
        &self.local_addrs
    }

    /// The certificate of the TLS listeners (`None` without `[mqtt.tls]`). Whoever runs
    /// the broker decides when to re-read it ([`CertificateSource::watch`], SIGHUP).
    pub fn certificate(&self) -> Option<&Arc<CertificateSource>> {
        self.certificate.as_ref()
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
    /// True once the broker accepts connections.
    open: watch::Receiver<bool>,
}

impl AcceptLoop {
    async fn run(mut self) {
        while !*self.open.borrow_and_update() {
            tokio::select! {
                changed = self.open.changed() => if changed.is_err() { return },
                _ = self.stopped.changed() => return,
            }
        }
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
///
/// Returns the connection's whole work as one boxed future, which is all the task
/// holds: a task is as large as the largest state its future ever has, so an async
/// function here would make every plain TCP connection carry room for the TLS and
/// WebSocket handshakes (~3.5 KiB) for its whole life.
fn serve_stream(
    stream: TcpStream,
    peer: SocketAddr,
    transport: Transport,
    context: Arc<ConnectionContext>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    ws_path: Arc<str>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    match (transport, tls) {
        (Transport::Tcp, _) => Box::pin(serve_plain(stream, peer, context)),
        (Transport::Tls, Some(tls)) => Box::pin(serve_tls(stream, peer, context, tls)),
        (Transport::WebSocket, _) => Box::pin(serve_ws(stream, peer, context, ws_path)),
        (Transport::WebSocketTls, Some(tls)) => {
            Box::pin(serve_wss(stream, peer, context, tls, ws_path))
        }
        _ => Box::pin(std::future::ready(())),
    }
}

/// Connections end for ordinary reasons (the client left); logged at debug level.
fn log_end(peer: SocketAddr, result: Result<(), String>) {
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended");
    }
}

async fn serve_plain(stream: TcpStream, peer: SocketAddr, context: Arc<ConnectionContext>) {
    let result = connection::serve(stream, Some(peer), Transport::Tcp, None, context).await;
    log_end(peer, result.map_err(|error| error.to_string()));
}

/// Runs a transport's handshake within the CONNECT timeout, then serves MQTT over the
/// stream it yields.
async fn serve_after<S: crate::transport::ByteStream>(
    handshake: impl std::future::Future<Output = Result<(S, Option<Bytes>), TransportError>>,
    what: &str,
    peer: SocketAddr,
    transport: Transport,
    context: Arc<ConnectionContext>,
) -> Result<(), String> {
    let timeout = context.limits.connect_timeout();
    let (stream, client_cert) = tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| format!("{what} handshake timed out"))?
        .map_err(|error| format!("{what} handshake failed: {error}"))?;
    connection::serve(stream, Some(peer), transport, client_cert, context)
        .await
        .map_err(|error| error.to_string())
}

async fn serve_tls(
    stream: TcpStream,
    peer: SocketAddr,
    context: Arc<ConnectionContext>,
    tls: tokio_rustls::TlsAcceptor,
) {
    let handshake = async {
        let stream = transport::accept_tls(&tls, stream).await?;
        let client_cert = client_certificate(&stream);
        Ok((stream, client_cert))
    };
    log_end(
        peer,
        serve_after(handshake, "TLS", peer, Transport::Tls, context).await,
    );
}

async fn serve_ws(
    stream: TcpStream,
    peer: SocketAddr,
    context: Arc<ConnectionContext>,
    ws_path: Arc<str>,
) {
    let handshake = async {
        let stream = transport::accept_websocket(stream, &ws_path).await?;
        Ok((stream, None))
    };
    let result = serve_after(handshake, "WebSocket", peer, Transport::WebSocket, context).await;
    log_end(peer, result);
}

async fn serve_wss(
    stream: TcpStream,
    peer: SocketAddr,
    context: Arc<ConnectionContext>,
    tls: tokio_rustls::TlsAcceptor,
    ws_path: Arc<str>,
) {
    let handshake = async {
        let stream = transport::accept_tls(&tls, stream).await?;
        let client_cert = client_certificate(&stream);
        let stream = transport::accept_websocket(stream, &ws_path).await?;
        Ok((stream, client_cert))
    };
    let result = serve_after(
        handshake,
        "secure WebSocket",
        peer,
        Transport::WebSocketTls,
        context,
    )
    .await;
    log_end(peer, result);
}

/// The leaf of the certificate chain the client presented, which rustls has verified
/// against the device CAs (an unverifiable one fails the handshake before this).
fn client_certificate(stream: &tokio_rustls::server::TlsStream<TcpStream>) -> Option<Bytes> {
    let (_, connection) = stream.get_ref();
    connection
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|leaf| Bytes::copy_from_slice(leaf.as_ref()))
}
