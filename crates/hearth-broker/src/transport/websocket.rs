//! The HTTP upgrade for MQTT over WebSocket (8083, and 8084 over TLS).
//!
//! Browsers cannot open raw TCP sockets, so the web app and browser-based tools speak MQTT
//! inside WebSocket binary frames (MQTT 3.1.1 §6, MQTT 5 §6). The upgrade request must ask
//! for the configured path (`/mqtt` by default) and, if it offers subprotocols at all, one
//! of them must be `mqtt` (or the legacy `mqttv3.1` of old Paho clients), which we echo.
//! Clients that send no `Sec-WebSocket-Protocol` header are accepted without one, as
//! mosquitto does, because some embedded WebSocket libraries never send it.
//!
//! The rejections are real HTTP answers (404, 400) with a one-line plain-text body, so that
//! whoever points a client at the wrong URL sees why in the browser's network tab.

use std::borrow::Cow;

use tokio_tungstenite::tungstenite;
use tungstenite::handshake::server::{Callback, ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::http::header::{self, HeaderMap, HeaderValue};
use tungstenite::protocol::WebSocketConfig;

use super::{ByteStream, TransportError, WsByteStream};

/// The subprotocol MQTT 3.1.1 and 5.0 register for WebSocket.
const SUBPROTOCOL_MQTT: &str = "mqtt";
/// The subprotocol MQTT 3.1 clients (old Paho JavaScript) offer instead.
const SUBPROTOCOL_MQTT_V31: &str = "mqttv3.1";

/// Largest frame payload we send. An outgoing MQTT packet larger than this spans several
/// frames, which MQTT over WebSocket allows (receivers must not assume packets align with
/// frames). The cap matters because tungstenite's write buffer keeps the capacity of the
/// largest frame it has held for the rest of the connection.
const MAX_WRITE_FRAME: usize = 16 * 1024;

/// Slack on top of one data frame in tungstenite's write buffer, for the pong or close
/// frame (at most 125 bytes of payload plus header each) it may queue next to it.
const CONTROL_FRAME_SLACK: usize = 1024;

/// Smallest read buffer we let tungstenite use: below a few hundred bytes, typical MQTT
/// packets take several socket reads each.
const MIN_READ_BUFFER: usize = 128;

/// Limits and buffer sizes for MQTT-over-WebSocket connections.
///
/// tungstenite's defaults (128 KiB read buffer, 128 KiB write batching, 64 MiB messages)
/// suit a few busy connections; a broker has thousands of mostly idle ones, so these are
/// small and tied to the MQTT packet limit instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsConfig {
    /// Largest WebSocket message (and single frame) accepted from a client. Set it to the
    /// broker's maximum MQTT packet size: clients send one packet per message, and a larger
    /// message is refused as soon as its frame header is read, before its payload is
    /// buffered.
    pub max_message_size: usize,
    /// How much each connection reads from its socket at a time (at least 128 bytes).
    /// tungstenite keeps a buffer of this size allocated for the connection's whole life,
    /// so it is most of what an idle WebSocket connection costs; larger frames are still
    /// read, in several socket reads.
    pub read_buffer_size: usize,
}

impl Default for WsConfig {
    /// 1 MiB messages, like the broker's default maximum packet size; 512-byte reads, which
    /// hold a typical sensor PUBLISH in one read and keep an idle connection near 1 KiB.
    fn default() -> Self {
        Self {
            max_message_size: 1024 * 1024,
            read_buffer_size: 512,
        }
    }
}

impl WsConfig {
    /// The largest payload [`WsByteStream`] puts in one outgoing frame.
    pub(super) fn max_write_frame(&self) -> usize {
        self.max_message_size.clamp(1, MAX_WRITE_FRAME)
    }

    /// The tungstenite settings for this config.
    ///
    /// Writes are not batched (`write_buffer_size` 0): the broker already writes whole
    /// packets, and a batch would sit in memory until the next flush. The write buffer is
    /// capped at one frame plus control frames, which [`WsByteStream`] never exceeds
    /// because it waits for the previous frame to reach the socket before queueing the next.
    pub(super) fn tungstenite_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size.max(MIN_READ_BUFFER))
            .write_buffer_size(0)
            .max_write_buffer_size(self.max_write_frame() + CONTROL_FRAME_SLACK)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_message_size))
    }
}

/// Performs the server side of the WebSocket handshake for MQTT over WebSocket with the
/// default [`WsConfig`], and returns a byte stream carrying MQTT bytes in binary frames.
///
/// See [`accept_websocket_with_config`].
pub async fn accept_websocket<S: ByteStream>(
    stream: S,
    path: &str,
) -> Result<WsByteStream<S>, TransportError> {
    accept_websocket_with_config(stream, path, &WsConfig::default()).await
}

/// Performs the server side of the WebSocket handshake for MQTT over WebSocket.
///
/// The request path must equal `path` (the query string is ignored), otherwise the client
/// gets HTTP 404. If the client offers subprotocols, one must be `mqtt` or `mqttv3.1` and
/// is echoed back, otherwise the client gets HTTP 400; a client offering none is accepted.
/// Either rejection is returned as [`TransportError::WebSocketRejected`] after the response
/// has been written; anything else that goes wrong (not an upgrade request, socket error)
/// is [`TransportError::WebSocketHandshake`].
pub async fn accept_websocket_with_config<S: ByteStream>(
    stream: S,
    path: &str,
    config: &WsConfig,
) -> Result<WsByteStream<S>, TransportError> {
    match tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        UpgradeCheck {
            expected_path: path,
        },
        Some(config.tungstenite_config()),
    )
    .await
    {
        Ok(websocket) => Ok(WsByteStream::new(websocket, config.max_write_frame())),
        Err(tungstenite::Error::Http(response)) => Err(TransportError::WebSocketRejected {
            status: response.status().as_u16(),
            reason: response
                .body()
                .as_deref()
                .map(|body| String::from_utf8_lossy(body).trim_end().to_owned())
                .unwrap_or_default(),
        }),
        Err(error) => Err(TransportError::WebSocketHandshake(Box::new(error))),
    }
}

/// Decides on the upgrade once tungstenite has checked that it is a well-formed WebSocket
/// request: path, then subprotocol.
struct UpgradeCheck<'a> {
    expected_path: &'a str,
}

impl Callback for UpgradeCheck<'_> {
    fn on_request(self, request: &Request, response: Response) -> Result<Response, ErrorResponse> {
        check_upgrade(self.expected_path, request, response).map_err(|rejection| *rejection)
    }
}

/// The checks of [`UpgradeCheck`], with the (large) error response boxed.
fn check_upgrade(
    expected_path: &str,
    request: &Request,
    mut response: Response,
) -> Result<Response, Box<ErrorResponse>> {
    let requested_path = request.uri().path();
    if requested_path != expected_path {
        return Err(reject(
            StatusCode::NOT_FOUND,
            format!(
                "no MQTT over WebSocket endpoint at {}; use {expected_path}",
                shorten(requested_path)
            ),
        ));
    }
    match choose_subprotocol(request.headers()) {
        SubprotocolChoice::Chosen(name) => {
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(name),
            );
            Ok(response)
        }
        SubprotocolChoice::NoneOffered => Ok(response),
        SubprotocolChoice::NoneAcceptable => Err(reject(
            StatusCode::BAD_REQUEST,
            format!(
                "the offered WebSocket subprotocols do not include \
                 \"{SUBPROTOCOL_MQTT}\" (or the legacy \"{SUBPROTOCOL_MQTT_V31}\")"
            ),
        )),
    }
}

/// The outcome of looking at `Sec-WebSocket-Protocol`.
#[derive(Debug, PartialEq, Eq)]
enum SubprotocolChoice {
    /// Answer with this subprotocol.
    Chosen(&'static str),
    /// The client sent no subprotocol header: answer without one.
    NoneOffered,
    /// The client offered subprotocols, none of them MQTT.
    NoneAcceptable,
}

/// Picks `mqtt` if offered, else `mqttv3.1`. The header may be repeated and each value is a
/// comma-separated list; a header with no names in it counts as no header. Names are
/// compared exactly: a browser rejects an answer that differs from what it offered.
fn choose_subprotocol(headers: &HeaderMap) -> SubprotocolChoice {
    let mut any_offered = false;
    let mut offers_v31 = false;
    for value in headers.get_all(header::SEC_WEBSOCKET_PROTOCOL) {
        // A value that is not visible ASCII cannot name either of ours.
        let Ok(value) = value.to_str() else {
            any_offered = true;
            continue;
        };
        for name in value
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            if name == SUBPROTOCOL_MQTT {
                return SubprotocolChoice::Chosen(SUBPROTOCOL_MQTT);
            }
            any_offered = true;
            offers_v31 |= name == SUBPROTOCOL_MQTT_V31;
        }
    }
    if offers_v31 {
        SubprotocolChoice::Chosen(SUBPROTOCOL_MQTT_V31)
    } else if any_offered {
        SubprotocolChoice::NoneAcceptable
    } else {
        SubprotocolChoice::NoneOffered
    }
}

/// An HTTP error answer with a plain-text reason. `Content-Length` and `Connection: close`
/// let HTTP clients finish reading it; the connection is dropped right after.
fn reject(status: StatusCode, reason: String) -> Box<ErrorResponse> {
    let mut response = ErrorResponse::new(None);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(reason.len()));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    *response.body_mut() = Some(reason);
    Box::new(response)
}

/// Keeps a client-chosen path from filling our logs and answers.
fn shorten(path: &str) -> Cow<'_, str> {
    const MAX_CHARS: usize = 100;
    match path.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => Cow::Owned(format!("{}…", &path[..cut])),
        None => Cow::Borrowed(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn subprotocol_choice() {
        use SubprotocolChoice::*;
        assert_eq!(choose_subprotocol(&offered(&[])), NoneOffered);
        assert_eq!(choose_subprotocol(&offered(&["mqtt"])), Chosen("mqtt"));
        assert_eq!(
            choose_subprotocol(&offered(&["mqttv3.1"])),
            Chosen("mqttv3.1")
        );
        assert_eq!(
            choose_subprotocol(&offered(&["mqttv3.1, mqtt"])),
            Chosen("mqtt")
        );
        assert_eq!(
            choose_subprotocol(&offered(&["chat", " mqtt "])),
            Chosen("mqtt")
        );
        assert_eq!(
            choose_subprotocol(&offered(&["chat, wamp"])),
            NoneAcceptable
        );
        assert_eq!(choose_subprotocol(&offered(&["MQTT"])), NoneAcceptable);
        assert_eq!(choose_subprotocol(&offered(&[" , "])), NoneOffered);
    }

    #[test]
    fn long_paths_are_shortened() {
        assert_eq!(shorten("/x"), "/x");
        let long = "/".repeat(500);
        assert_eq!(shorten(&long).chars().count(), 101);
    }

    #[test]
    fn config_is_small() {
        let config = WsConfig::default().tungstenite_config();
        assert_eq!(config.read_buffer_size, 512);
        assert_eq!(config.write_buffer_size, 0);
        assert_eq!(config.max_message_size, Some(1024 * 1024));
        assert_eq!(config.max_frame_size, Some(1024 * 1024));
        assert_eq!(config.max_write_buffer_size, 17 * 1024);

        let tiny = WsConfig {
            max_message_size: 100,
            read_buffer_size: 0,
        };
        assert_eq!(tiny.max_write_frame(), 100);
        assert_eq!(tiny.tungstenite_config().read_buffer_size, 128);
    }
}
