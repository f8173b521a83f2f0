//! A TCP proxy the test controls: where it forwards (or nowhere: connections are
//! closed at once), and cutting every live connection mid-stream.

use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

pub struct Proxy {
    pub addr: SocketAddr,
    target: Arc<Mutex<Option<SocketAddr>>>,
    live: Arc<Mutex<Vec<AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: Option<SocketAddr>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target = Arc::new(Mutex::new(target));
        let live: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (target_of, live_of) = (target.clone(), live.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let Some(to) = *target_of.lock() else {
                    continue; // dropped: the client sees the connection closed
                };
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut live = live_of.lock();
                live.retain(|handle| !handle.is_finished());
                live.push(task.abort_handle());
            }
        });
        Proxy {
            addr,
            target,
            live,
            accept,
        }
    }

    /// Forwards new connections to `target` (`None`: refuses them).
    pub fn set_target(&self, target: Option<SocketAddr>) {
        *self.target.lock() = target;
    }

    /// Drops every live connection at once (both sockets closed mid-stream).
    pub fn cut(&self) {
        for handle in self.live.lock().drain(..) {
            handle.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
