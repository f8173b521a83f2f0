//! Closing a connection the broker ended, without losing what it wrote last.
//!
//! Closing a socket whose input has not all been read makes the kernel answer with a
//! reset instead of an orderly end, and a reset makes the client's kernel throw away
//! whatever the client had not read yet: the DISCONNECT that said why (0x93, 0x95, ...)
//! is lost exactly when the client is busy sending. So the broker shuts its write side
//! (the DISCONNECT, then an orderly end of stream, reach the client), reads and discards
//! the client's input until the client closes too, and only then closes, within bounds
//! of time and bytes so that a client that never stops cannot keep the socket.

use bytes::BytesMut;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest wait for the client to close its side. A client that reads the DISCONNECT
/// closes within a round trip, and that ends the wait at once; 2 s covers a slow link and
/// a client still flushing its send buffer, and is short enough that clients the broker
/// throws out (each keeping its socket and a connection slot meanwhile) cannot pile up.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// Most input read and discarded while waiting: past this the client is taken to be
/// flooding rather than finishing, and the socket is closed (reset or not).
const LINGER_MAX_BYTES: usize = 1024 * 1024;

/// Read size while discarding.
const DISCARD_CHUNK: usize = 8 * 1024;

/// Shuts the write side of a connection whose last packets are flushed (for TLS this
/// sends close_notify, for WebSocket a close frame, before the TCP FIN), then reads and
/// discards input until the client closes, [`LINGER_TIME`] passes or
/// [`LINGER_MAX_BYTES`] were read. `read_buf` is the connection's read buffer, reused
/// for the discarded bytes. Errors end the wait: there is nobody left to tell.
pub(super) async fn linger<R, W>(reader: &mut R, writer: &mut W, read_buf: &mut BytesMut)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let drain = async {
        if writer.shutdown().await.is_err() {
            return;
        }
        let mut n_discarded = 0;
        while n_discarded < LINGER_MAX_BYTES {
            read_buf.clear();
            read_buf.reserve(DISCARD_CHUNK);
            match reader.read_buf(read_buf).await {
                Ok(0) | Err(_) => return,
                Ok(n_bytes) => n_discarded += n_bytes,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}
