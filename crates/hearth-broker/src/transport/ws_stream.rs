//! [`WsByteStream`]: an accepted WebSocket connection seen as a plain byte stream.
//!
//! MQTT over WebSocket puts MQTT bytes in binary frames with no alignment promise: a
//! packet may span frames and a frame may hold several packets. So the frame boundaries
//! are dropped here and the broker's MQTT codec reads the bytes exactly as it reads TCP.
//!
//! Memory per connection is what tungstenite keeps (its read buffer, see
//! [`WsConfig::read_buffer_size`](super::WsConfig::read_buffer_size)) plus the unread rest
//! of the message being consumed; between messages this type holds no allocation. Measured
//! with the defaults, an idle connection holds about 1 KiB of heap. tungstenite never
//! shrinks its buffers, though: a connection keeps read capacity for the largest message
//! it has received and write capacity for the largest frame it has sent, which is why
//! outgoing frames are capped at 16 KiB.
//!
//! Writes are bounded: each `poll_write` waits until the previous frame has reached the
//! socket, so a client that stops reading pushes back on the broker instead of growing a
//! queue here.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// An MQTT-over-WebSocket connection after the handshake, as an `AsyncRead + AsyncWrite`.
///
/// - Reads yield the payloads of binary frames, concatenated. A text frame is a protocol
///   violation (MQTT 5 §6.0) and fails the read with [`io::ErrorKind::InvalidData`]; a close
///   frame, or the client closing the socket without one, is end of stream. Pings are
///   answered while reading.
/// - Each `poll_write` sends one binary frame of up to 16 KiB (or `max_message_size`, if
///   smaller); longer buffers are accepted in part, as `AsyncWrite` allows, so a large
///   packet spans frames. `poll_flush` flushes.
/// - `poll_shutdown` sends a close frame, then shuts the underlying stream down.
#[derive(Debug)]
pub struct WsByteStream<S> {
    websocket: WebSocketStream<S>,
    /// The unread rest of the last binary message. Replaced by an empty `Bytes` as soon as
    /// it is consumed, so that tungstenite can reuse the read buffer it shares memory with.
    unread: Bytes,
    /// Largest payload one write puts in a frame.
    max_frame_payload: usize,
    /// Set once the close frame is out, so a repeated `poll_shutdown` goes straight to
    /// shutting down the underlying stream.
    close_sent: bool,
}

impl<S> WsByteStream<S> {
    pub(super) fn new(websocket: WebSocketStream<S>, max_frame_payload: usize) -> Self {
        Self {
            websocket,
            unread: Bytes::new(),
            max_frame_payload,
            close_sent: false,
        }
    }

    /// The underlying stream, e.g. to ask a TCP socket for its peer address.
    pub fn get_ref(&self) -> &S
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.websocket.get_ref()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsByteStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if !this.unread.is_empty() {
                let n_bytes = buf.remaining().min(this.unread.len());
                buf.put_slice(&this.unread[..n_bytes]);
                if n_bytes == this.unread.len() {
                    this.unread = Bytes::new();
                } else {
                    this.unread.advance(n_bytes);
                }
                return Poll::Ready(Ok(()));
            }
            match ready!(this.websocket.poll_next_unpin(cx)) {
                Some(Ok(Message::Binary(payload))) => this.unread = payload,
                // tungstenite has queued the pong; the next poll sends it.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // tungstenite has queued the close reply; the next poll sends it and then
                // reports the end of the stream.
                Some(Ok(Message::Close(_))) => {}
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "text WebSocket frame: MQTT over WebSocket allows only binary frames",
                    )));
                }
                Some(Err(error)) => return Poll::Ready(read_result(error)),
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsByteStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // Ready means the previous frame has been written to the socket, so at most one
        // frame is ever waiting in tungstenite's buffer.
        ready!(this.websocket.poll_ready_unpin(cx)).map_err(write_error)?;
        let n_bytes = buf.len().min(this.max_frame_payload);
        let frame = Message::Binary(Bytes::copy_from_slice(&buf[..n_bytes]));
        this.websocket
            .start_send_unpin(frame)
            .map_err(write_error)?;
        Poll::Ready(Ok(n_bytes))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut()
            .websocket
            .poll_flush_unpin(cx)
            .map_err(write_error)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_sent {
            ready!(this.websocket.poll_close_unpin(cx)).map_err(write_error)?;
            this.close_sent = true;
        }
        // The server closes TCP first (RFC 6455 §7.1.1), and over TLS this sends
        // close_notify. The read half stays open for the client's close reply.
        Pin::new(this.websocket.get_mut()).poll_shutdown(cx)
    }
}

/// What a failed WebSocket read means for a byte stream.
fn read_result(error: WsError) -> io::Result<()> {
    match error {
        // Already turned into `None` by tokio-tungstenite; kept for completeness.
        WsError::ConnectionClosed | WsError::AlreadyClosed => Ok(()),
        // The client closed the socket without a close frame: for the broker this is the
        // same as a TCP connection ending, and whether that was clean is its business
        // (it knows whether DISCONNECT came first).
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Ok(()),
        WsError::Io(error) => Err(error),
        // Oversized messages, bad framing, invalid close codes.
        other => Err(io::Error::new(io::ErrorKind::InvalidData, other)),
    }
}

fn write_error(error: WsError) -> io::Error {
    match error {
        WsError::Io(error) => error,
        WsError::ConnectionClosed
        | WsError::AlreadyClosed
        | WsError::Protocol(ProtocolError::SendAfterClosing) => {
            io::Error::new(io::ErrorKind::BrokenPipe, error)
        }
        other => io::Error::other(other),
    }
}
