//! The hub's control socket, `<data_dir>/hearth.sock`: how `hearth backup` gets a
//! consistent copy of the broker state from a running hub, whose redb file it cannot
//! open itself (redb locks it).
//!
//! Who may use it: the socket is mode 0600, bound in a private directory and only then
//! renamed into place (so it is never reachable with looser modes), and every
//! connection's peer credentials must name the hub's own user (or root). Anyone who can
//! use it could read the data directory anyway; it grants nothing more.
//!
//! Protocol: one request line, then the answer. `ping` → `ok hearth <version>`;
//! `snapshot-broker` → `ok <size>` and that many bytes of a redb file, `none` (broker
//! persistence is off), or `error <why>`. Anything else → `error unknown request`,
//! and the connection closes.

use anyhow::Context;
use hearth_store::BrokerSnapshotter;
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

/// The socket's file name in the data directory.
pub const SOCKET_NAME: &str = "hearth.sock";
/// Longest request line read; anything longer is refused unread.
const MAX_REQUEST: u64 = 256;
/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the CLI waits for a hub's answer (a big broker state takes a while).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);
/// Unix socket paths longer than this do not fit `sockaddr_un` (108 bytes on Linux).
const MAX_SOCKET_PATH: usize = 100;

/// Binds the control socket in `data_dir` and serves it until the task is aborted
/// (which removes the socket file). `None` when it cannot be offered: another process
/// answers on it already, or the path is too long for a Unix socket (logged; `hearth
/// backup` then says why it cannot reach the hub).
pub fn start(
    data_dir: &Path,
    snapshotter: Option<BrokerSnapshotter>,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let path = data_dir.join(SOCKET_NAME);
    if path.as_os_str().len() > MAX_SOCKET_PATH {
        tracing::warn!(path = %path.display(), "the data directory's path is too long for the control socket: `hearth backup` cannot reach this hub");
        return Ok(None);
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            tracing::warn!(path = %path.display(), "another process answers on the control socket; this hub offers none");
            return Ok(None);
        }
        // Left over by a hub that did not stop cleanly.
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    let private = tempfile::Builder::new()
        .prefix(".hearth-sock-")
        .tempdir_in(data_dir)
        .with_context(|| format!("creating a directory in {}", data_dir.display()))?;
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700))?;
    let bound = private.path().join(SOCKET_NAME);
    let listener = std::os::unix::net::UnixListener::bind(&bound)
        .with_context(|| format!("binding {}", bound.display()))?;
    std::fs::set_permissions(&bound, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&bound, &path)
        .with_context(|| format!("moving the socket to {}", path.display()))?;
    drop(private);
    listener.set_nonblocking(true)?;
    let listener = tokio::net::UnixListener::from_std(listener)?;
    tracing::info!(path = %path.display(), "control socket listening (for `hearth backup`)");
    let server = Arc::new(Server {
        data_dir: data_dir.to_owned(),
        snapshotter,
        one_at_a_time: tokio::sync::Mutex::new(()),
    });
    let guard = RemoveOnDrop(path);
    Ok(Some(tokio::spawn(async move {
        let _guard = guard;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let server = server.clone();
            tokio::spawn(async move {
                if let Err(error) = server.answer(stream).await {
                    tracing::debug!("control socket: {error:#}");
                }
            });
        }
    })))
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct Server {
    data_dir: PathBuf,
    snapshotter: Option<BrokerSnapshotter>,
    /// Snapshots cost disk and I/O: one at a time.
    one_at_a_time: tokio::sync::Mutex<()>,
}

impl Server {
    async fn answer(&self, mut stream: tokio::net::UnixStream) -> anyhow::Result<()> {
        let peer = stream.peer_cred()?.uid();
        // SAFETY: geteuid has no preconditions and cannot fail.
        let own = unsafe { libc::geteuid() };
        if peer != own && peer != 0 {
            stream.write_all(b"error not the hub's user\n").await?;
            anyhow::bail!("refused a client of uid {peer}");
        }
        let mut line = String::new();
        let (read, mut write) = stream.split();
        let mut reader = tokio::io::BufReader::new(read.take(MAX_REQUEST));
        tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line))
            .await
            .context("no request in time")??;
        match line.trim_end_matches('\n') {
            "ping" => {
                let answer = format!("ok hearth {}\n", env!("CARGO_PKG_VERSION"));
                write.write_all(answer.as_bytes()).await?;
            }
            "snapshot-broker" => self.snapshot(&mut write).await?,
            _ => write.write_all(b"error unknown request\n").await?,
        }
        write.shutdown().await?;
        Ok(())
    }

    async fn snapshot(&self, write: &mut (impl AsyncWriteExt + Unpin)) -> anyhow::Result<()> {
        let Some(snapshotter) = self.snapshotter.clone() else {
            write.write_all(b"none\n").await?;
            return Ok(());
        };
        let _turn = self.one_at_a_time.lock().await;
        // In the data directory (the same disk as the state); removed when sent.
        let dir = tempfile::Builder::new()
            .prefix(".hearth-snapshot-")
            .tempdir_in(&self.data_dir)?;
        let file = dir.path().join("broker.redb");
        let dest = file.clone();
        let written = tokio::task::spawn_blocking(move || snapshotter.write_to(&dest)).await?;
        if let Err(error) = written {
            let answer = format!("error {}\n", error.to_string().replace('\n', " "));
            write.write_all(answer.as_bytes()).await?;
            return Ok(());
        }
        let mut copy = tokio::fs::File::open(&file).await?;
        let size = copy.metadata().await?.len();
        write.write_all(format!("ok {size}\n").as_bytes()).await?;
        tokio::io::copy(&mut copy, write).await?;
        Ok(())
    }
}

/// What the CLI got from the data directory's control socket.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// The running hub wrote this many bytes of broker state to the file.
    Written(u64),
    /// No hub listens on this data directory.
    NoHub,
    /// The hub runs without broker persistence: there is no broker state to copy.
    NoBrokerState,
}

/// Asks the hub on `data_dir` (if any) for its broker state and writes it to `dest`.
pub fn fetch_broker_snapshot(data_dir: &Path, dest: &Path) -> anyhow::Result<Fetched> {
    let path = data_dir.join(SOCKET_NAME);
    let mut stream = match std::os::unix::net::UnixStream::connect(&path) {
        Ok(stream) => stream,
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(Fetched::NoHub);
        }
        Err(error) => {
            return Err(error).with_context(|| format!("connecting to {}", path.display()));
        }
    };
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    stream.write_all(b"snapshot-broker\n")?;
    let mut reader = std::io::BufReader::new(stream);
    let mut header = String::new();
    reader
        .by_ref()
        .take(MAX_REQUEST)
        .read_line(&mut header)
        .with_context(|| format!("reading the hub's answer on {}", path.display()))?;
    let header = header.trim_end();
    if header == "none" {
        return Ok(Fetched::NoBrokerState);
    }
    let size: u64 = match header.split_once(' ') {
        Some(("ok", size)) => size.parse().context("the hub's answer has no size")?,
        Some(("error", why)) => {
            anyhow::bail!("the running hub could not copy its broker state: {why}")
        }
        _ => anyhow::bail!("unexpected answer from {}: {header:?}", path.display()),
    };
    let mut file =
        std::fs::File::create_new(dest).with_context(|| format!("creating {}", dest.display()))?;
    let copied = std::io::copy(&mut reader.take(size), &mut file)?;
    if copied != size {
        anyhow::bail!("the hub sent {copied} of {size} bytes of its broker state");
    }
    file.sync_all()?;
    Ok(Fetched::Written(size))
}

/// Whether a hub answers on `data_dir`'s control socket (restore refuses to write under
/// a running hub).
pub fn hub_answers(data_dir: &Path) -> bool {
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(data_dir.join(SOCKET_NAME)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    if stream.write_all(b"ping\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = std::io::BufReader::new(stream)
        .take(MAX_REQUEST)
        .read_line(&mut answer);
    answer.starts_with("ok")
}
