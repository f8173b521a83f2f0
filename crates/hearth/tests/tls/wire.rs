//! Just enough MQTT 3.1.1 and WebSocket framing, written by hand over a TLS stream, to
//! log in with a client certificate (rumqttc is built here without TLS) and publish.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const DEADLINE: Duration = Duration::from_secs(20);

fn string(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u16).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn packet(kind: u8, body: Vec<u8>) -> Vec<u8> {
    let mut out = vec![kind];
    let mut length = body.len();
    loop {
        let mut byte = (length % 128) as u8;
        length /= 128;
        if length > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if length == 0 {
            break;
        }
    }
    out.extend(body);
    out
}

/// CONNECT (3.1.1, clean session) with a client id, an optional user name, no password.
pub fn connect(client_id: &str, username: Option<&str>) -> Vec<u8> {
    let mut body = Vec::new();
    string(&mut body, "MQTT");
    body.push(4);
    body.push(0x02 | if username.is_some() { 0x80 } else { 0 });
    body.extend_from_slice(&60u16.to_be_bytes());
    string(&mut body, client_id);
    if let Some(username) = username {
        string(&mut body, username);
    }
    packet(0x10, body)
}

/// PUBLISH at QoS 1 with packet id 1.
pub fn publish(topic: &str, payload: &str) -> Vec<u8> {
    let mut body = Vec::new();
    string(&mut body, topic);
    body.extend_from_slice(&1u16.to_be_bytes());
    body.extend_from_slice(payload.as_bytes());
    packet(0x32, body)
}

/// Reads one MQTT packet: (first byte, body). `None` when the stream ended or failed
/// (a refused TLS client certificate shows up here, at the first read).
pub async fn read_packet<S: AsyncRead + Unpin>(stream: &mut S) -> Option<(u8, Vec<u8>)> {
    let kind = stream.read_u8().await.ok()?;
    let mut length = 0usize;
    let mut shift = 0;
    loop {
        let byte = stream.read_u8().await.ok()?;
        length |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    Some((kind, body))
}

/// Sends CONNECT and returns the CONNACK return code (0 accepted, 2 identifier
/// rejected, 4 bad user name or password, 5 not authorized), or `None` when the
/// connection ended without one.
pub async fn login<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    client_id: &str,
    username: Option<&str>,
) -> Option<u8> {
    stream.write_all(&connect(client_id, username)).await.ok()?;
    let answer = tokio::time::timeout(DEADLINE, read_packet(stream))
        .await
        .expect("an answer to CONNECT within the deadline")?;
    assert_eq!(answer.0, 0x20, "CONNACK expected: {answer:?}");
    Some(answer.1[1])
}

/// Publishes `payload` to `topic` at QoS 1 and waits for the PUBACK.
pub async fn publish_acked<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    topic: &str,
    payload: &str,
) {
    stream.write_all(&publish(topic, payload)).await.unwrap();
    let answer = tokio::time::timeout(DEADLINE, read_packet(stream))
        .await
        .expect("PUBACK within the deadline")
        .expect("the connection stays open until PUBACK");
    assert_eq!(answer.0, 0x40, "PUBACK expected: {answer:?}");
}

/// Whether the broker closed the connection (read to its end) within the deadline.
pub async fn closed_by_broker<S: AsyncRead + Unpin>(stream: &mut S) -> bool {
    tokio::time::timeout(DEADLINE, async {
        let mut buffer = [0u8; 256];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// MQTT over WebSocket: the upgrade request and binary frames, masked as a client's.
pub mod ws {
    use super::*;

    /// Upgrades `stream` on `/mqtt` with the `mqtt` subprotocol; panics unless 101.
    pub async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, host: &str) {
        let request = format!(
            "GET /mqtt HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: mqtt\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(stream.read_u8().await.expect("an upgrade answer"));
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    }

    /// One masked binary frame.
    pub fn frame(payload: &[u8]) -> Vec<u8> {
        assert!(payload.len() < 126);
        let mask = [0x12, 0x34, 0x56, 0x78];
        let mut out = vec![0x82, 0x80 | payload.len() as u8];
        out.extend_from_slice(&mask);
        out.extend(
            payload
                .iter()
                .enumerate()
                .map(|(i, byte)| byte ^ mask[i % 4]),
        );
        out
    }

    /// The payload of the next binary frame, `None` at the end of the stream.
    pub async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S) -> Option<Vec<u8>> {
        let first = stream.read_u8().await.ok()?;
        let length = match stream.read_u8().await.ok()? & 0x7f {
            126 => usize::from(stream.read_u16().await.ok()?),
            127 => usize::try_from(stream.read_u64().await.ok()?).ok()?,
            short => usize::from(short),
        };
        let mut payload = vec![0; length];
        stream.read_exact(&mut payload).await.ok()?;
        if first & 0x0f == 0x8 {
            return None;
        }
        Some(payload)
    }

    /// CONNECT in a frame; the CONNACK return code, `None` if the connection ended.
    pub async fn login<S: AsyncRead + AsyncWrite + Unpin>(
        stream: &mut S,
        client_id: &str,
    ) -> Option<u8> {
        stream
            .write_all(&frame(&super::connect(client_id, None)))
            .await
            .ok()?;
        let payload = tokio::time::timeout(DEADLINE, read_frame(stream))
            .await
            .expect("an answer within the deadline")?;
        assert_eq!(payload[0], 0x20, "CONNACK expected: {payload:?}");
        Some(payload[3])
    }
}
