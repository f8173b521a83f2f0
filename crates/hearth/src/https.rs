//! The hub's web listeners (plain HTTP, HTTPS, the HTTP-to-HTTPS redirect) and the TLS
//! certificate's upkeep: the device CA made on first need, the certificate re-read when
//! its files change or on SIGHUP (see docs/tls.md).

use anyhow::Context;
use hearth_api::{AppState, RedirectTarget};
use hearth_broker::transport::CertificateSource;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::HearthConfig;
use crate::hub::HubAddrs;

/// Before the broker starts: with TLS configured, the MQTTS and WSS listeners accept
/// client certificates from the hub's device CA (`<data_dir>/tls/device-ca.pem`,
/// created here on first need), and HTTPS needs the certificate.
pub(crate) fn prepare(config: &mut HearthConfig) -> anyhow::Result<()> {
    if (config.https.is_some() || config.http_redirect.is_some()) && config.mqtt.tls.is_none() {
        anyhow::bail!(
            "HTTPS needs a certificate: give --tls-cert and --tls-key (or [mqtt.tls] cert_file \
             and key_file; `hearth tls dev-cert` makes a local one)"
        );
    }
    if config.http_redirect.is_some() && config.https.is_none() {
        anyhow::bail!("--http-redirect needs --https: it sends browsers to the HTTPS listener");
    }
    let data_dir = config.data_dir.clone();
    if let Some(tls) = &mut config.mqtt.tls {
        let ca = crate::certs::LocalCa::device_ca(&data_dir).context("the device CA")?;
        if ca.created {
            tracing::info!(
                ca = %ca.cert_path.display(),
                "created the device CA; `hearth device add ID --cert` issues client certificates from it"
            );
        }
        tls.device_ca_file = Some(ca.cert_path);
    }
    Ok(())
}

/// Re-reads the certificate every `every` and on SIGHUP; a bad new pair is logged and
/// the previous certificate kept.
pub(crate) fn watch_certificate(
    source: &Arc<CertificateSource>,
    every: Duration,
) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![source.watch(every)];
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hangups) => {
                let source = source.clone();
                tasks.push(tokio::spawn(async move {
                    while hangups.recv().await.is_some() {
                        tracing::info!("SIGHUP: re-reading the TLS certificate");
                        let source = source.clone();
                        let _ = tokio::task::spawn_blocking(move || source.reload_and_log()).await;
                    }
                }));
            }
            Err(error) => tracing::warn!(%error, "cannot listen for SIGHUP"),
        }
    }
    tasks
}

/// The bound web listeners, before they serve.
pub(crate) struct WebListeners {
    http: Option<TcpListener>,
    https: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
    redirect: Option<(TcpListener, RedirectTarget)>,
}

impl WebListeners {
    /// Binds what `config` asks for; `None` when every web listener is off.
    pub(crate) async fn bind(
        config: &HearthConfig,
        certificate: Option<&Arc<CertificateSource>>,
        addrs: &mut HubAddrs,
    ) -> anyhow::Result<Option<WebListeners>> {
        let http = bind(config.http, "HTTP").await?;
        addrs.http = local(&http)?;
        let https = match (bind(config.https, "HTTPS").await?, certificate) {
            (Some(listener), Some(certificate)) => {
                let tls = hearth_broker::transport::server_config(certificate.clone(), None);
                Some((listener, tokio_rustls::TlsAcceptor::from(tls)))
            }
            (Some(_), None) => anyhow::bail!("HTTPS needs --tls-cert and --tls-key"),
            (None, _) => None,
        };
        addrs.https = local(&https.as_ref().map(|(listener, _)| listener))?;
        let redirect = match (
            bind(config.http_redirect, "HTTP redirect").await?,
            addrs.https,
        ) {
            (Some(listener), Some(https)) => Some((
                listener,
                RedirectTarget {
                    host: config.redirect_host.clone(),
                    https_port: https.port(),
                },
            )),
            _ => None,
        };
        addrs.http_redirect = local(&redirect.as_ref().map(|(listener, _)| listener))?;
        if http.is_none() && https.is_none() {
            return Ok(None);
        }
        Ok(Some(WebListeners {
            http,
            https,
            redirect,
        }))
    }

    /// Serves the API on every listener until `stopped` turns true.
    pub(crate) fn spawn(
        self,
        state: AppState,
        stopped: tokio::sync::watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let shutdown = move |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let plain = self.http.map(|listener| {
            let (state, stopped) = (state.clone(), stopped.clone());
            tokio::spawn(async move {
                if let Err(error) = hearth_api::serve(listener, state, shutdown(stopped)).await {
                    tracing::error!("the HTTP server stopped: {error}");
                }
            })
        });
        let prune = plain.is_none();
        let secure = self.https.map(|(listener, tls)| {
            let (state, stopped) = (state.clone(), stopped.clone());
            tokio::spawn(async move {
                let served = hearth_api::serve_tls(listener, tls, state, prune, shutdown(stopped));
                if let Err(error) = served.await {
                    tracing::error!("the HTTPS server stopped: {error}");
                }
            })
        });
        let redirect = self.redirect.map(|(listener, target)| {
            let stopped = stopped.clone();
            tokio::spawn(async move {
                let served = hearth_api::serve_redirect(listener, target, shutdown(stopped));
                if let Err(error) = served.await {
                    tracing::error!("the HTTP redirect listener stopped: {error}");
                }
            })
        });
        tokio::spawn(async move {
            for task in [plain, secure, redirect].into_iter().flatten() {
                let _ = task.await;
            }
        })
    }
}

async fn bind(addr: Option<SocketAddr>, what: &str) -> anyhow::Result<Option<TcpListener>> {
    match addr {
        Some(addr) => {
            Ok(Some(TcpListener::bind(addr).await.with_context(|| {
                format!("binding the {what} listener on {addr}")
            })?))
        }
        None => Ok(None),
    }
}

fn local<L: std::borrow::Borrow<TcpListener>>(
    listener: &Option<L>,
) -> anyhow::Result<Option<SocketAddr>> {
    Ok(match listener {
        Some(listener) => Some(listener.borrow().local_addr()?),
        None => None,
    })
}
