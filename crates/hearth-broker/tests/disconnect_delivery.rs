//! A client that is still sending when the broker ends its connection with a DISCONNECT
//! must be able to read that DISCONNECT. Closing a socket whose input was not read makes
//! the kernel answer with a reset, and the reset throws away what the client had not read
//! yet, the DISCONNECT included; so the broker shuts its write side, reads and discards
//! the client's input for a bounded time, and only then closes.
//!
//! Each test connects over raw sockets (TCP, TLS, WebSocket) and subscribes, and stops
//! reading while the broker sends it several megabytes, so that the broker's socket
//! buffer is full and the DISCONNECT will wait in it. It then sends one offence and a
//! quarter of a megabyte more, and only then reads: it must find the DISCONNECT with the
//! right reason code, followed by an orderly end of stream. Closing at once makes that
//! certain to fail: the close resets the connection with the DISCONNECT still unsent.

mod common;

use bytes::BytesMut;
use common::TestBroker;
use common::clients::TlsFiles;
use futures_util::{SinkExt, StreamExt};
use hearth_broker::{BrokerConfig, Limits, TlsConfig};
use hearth_bus::AllowAll;
use hearth_bus::{Bus, Envelope};
use hearth_mqtt::{
    ByteStr, Connect, Packet, ProtocolVersion, Publish, QoS, ReasonCode, Subscribe, SubscribeFilter,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// What the client keeps sending after its offence: enough that the broker cannot have
/// read it all before closing, so that closing at once certainly resets the connection.
const TRAILING_BYTES: usize = 256 * 1024;
/// The broker's limits in these tests.
const RECEIVE_MAXIMUM: u16 = 2;
const MAX_PACKET_SIZE: u32 = 64 * 1024;
/// What the broker sends the client before the offence: more than the client's receive
/// buffer and the broker's send buffer hold on loopback, so that both are full.
const FILL_BYTES: usize = 16 * 1024 * 1024;
const FILL_TOPIC: &str = "linger/fill";
/// The client reads at most this much at a time, then pauses: slower than the broker
/// writes, so that the broker's last write (the DISCONNECT) always lands behind unsent
/// data in its socket buffer, whatever the transport's speed.
const READ_CHUNK: usize = 16 * 1024;
const READ_PAUSE: Duration = Duration::from_millis(1);
/// A write that makes no progress for this long means the broker stopped reading.
const WRITE_STALL: Duration = Duration::from_millis(500);

/// What the client observed after it stopped sending.
struct Observed {
    packets: Vec<Packet>,
    /// How the stream ended: `None` for an orderly end, else the error (a reset).
    end: Option<String>,
}

impl std::fmt::Debug for Observed {
    /// The packets' kinds only: the fill's payloads would bury the message.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n_publishes = self
            .packets
            .iter()
            .filter(|packet| matches!(packet, Packet::Publish(_)))
            .count();
        let others: Vec<&Packet> = self
            .packets
            .iter()
            .filter(|packet| !matches!(packet, Packet::Publish(_)))
            .collect();
        formatter
            .debug_struct("Observed")
            .field("n_publishes", &n_publishes)
            .field("other_packets", &others)
            .field(
                "last_is_disconnect",
                &matches!(self.packets.last(), Some(Packet::Disconnect(_))),
            )
            .field("end", &self.end)
            .finish()
    }
}

impl Observed {
    fn assert_disconnect(&self, reason: ReasonCode) {
        let disconnect = self.packets.iter().find_map(|packet| match packet {
            Packet::Disconnect(disconnect) => Some(disconnect.reason),
            _ => None,
        });
        assert_eq!(
            disconnect,
            Some(reason),
            "expected DISCONNECT {reason}, observed {self:?}"
        );
        assert!(
            matches!(self.packets.last(), Some(Packet::Disconnect(_))),
            "something followed the DISCONNECT: {self:?}"
        );
        assert_eq!(self.end, None, "the stream did not end in order: {self:?}");
    }
}

async fn start_broker(tls: Option<&TlsFiles>) -> TestBroker {
    let mut config = BrokerConfig::ephemeral();
    if let Some(files) = tls {
        config.tls = Some(TlsConfig::new(files.cert.clone(), files.key.clone()));
        config.tls_listen = Some(([127, 0, 0, 1], 0).into());
    }
    config.limits = Limits {
        receive_maximum: RECEIVE_MAXIMUM,
        max_packet_size: MAX_PACKET_SIZE,
        ..config.limits
    };
    TestBroker::start_with(config, Arc::new(AllowAll)).await
}

fn encode(packets: &[Packet]) -> Vec<u8> {
    let mut out = BytesMut::new();
    for packet in packets {
        hearth_mqtt::encode(packet, ProtocolVersion::V5, &mut out).expect("encodes");
    }
    out.to_vec()
}

fn connect(client_id: &str) -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol: ProtocolVersion::V5,
        clean_start: true,
        keep_alive: 60,
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
        properties: Default::default(),
    }))
}

fn publish(packet_id: u16, payload_len: usize) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: ByteStr::from_static("linger/test"),
        packet_id,
        properties: Default::default(),
        payload: vec![b'x'; payload_len].into(),
    })
}

fn subscribe_to_fill() -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: 1,
        filters: vec![SubscribeFilter {
            filter: ByteStr::from_static(FILL_TOPIC),
            options: Default::default(),
        }],
        properties: Default::default(),
    })
}

/// Sends [`FILL_BYTES`] to the subscriber of [`FILL_TOPIC`] and gives the broker time to
/// push them into the socket.
async fn fill(broker: &TestBroker) {
    let payload = bytes::Bytes::from(vec![b'f'; 32 * 1024]);
    for _ in 0..FILL_BYTES / payload.len() {
        broker
            .handle
            .publish(Envelope::new(FILL_TOPIC, payload.clone()))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// More QoS 1 publishes than the broker's Receive Maximum, in one write.
fn too_many_in_flight() -> Vec<u8> {
    let publishes: Vec<Packet> = (1..=RECEIVE_MAXIMUM + 20)
        .map(|packet_id| publish(packet_id, 16))
        .collect();
    encode(&publishes)
}

/// One publish larger than the broker's Maximum Packet Size.
fn too_large() -> Vec<u8> {
    encode(&[publish(1, MAX_PACKET_SIZE as usize * 2)])
}

/// Further publishes, [`TRAILING_BYTES`] in all, in writes of about 8 KiB.
fn trailing_chunks() -> Vec<Vec<u8>> {
    let chunk = encode(&vec![publish(100, 1000); 8]);
    vec![chunk; TRAILING_BYTES.div_ceil(8 * 1024)]
}

/// Decodes every complete packet in `buffer`.
fn decode_all(buffer: &mut BytesMut, packets: &mut Vec<Packet>) {
    while let Some(packet) =
        hearth_mqtt::decode(buffer, Some(ProtocolVersion::V5), usize::MAX).expect("decodes")
    {
        packets.push(packet);
    }
}

/// Connects and subscribes, lets [`fill`] fill the socket, sends `offence` and the
/// trailing publishes without reading (stopping when a write fails or stalls), then reads
/// everything until the stream ends.
async fn offend_over_stream(
    broker: &TestBroker,
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    offence: Vec<u8>,
) -> Observed {
    stream
        .write_all(&encode(&[connect("offender"), subscribe_to_fill()]))
        .await
        .unwrap();
    let mut buffer = BytesMut::new();
    let mut packets = Vec::new();
    while packets.len() < 2 {
        let n = stream.read_buf(&mut buffer).await.expect("reads CONNACK");
        assert!(n > 0, "closed before SUBACK");
        decode_all(&mut buffer, &mut packets);
    }
    assert!(
        matches!(&packets[..], [Packet::ConnAck(connack), Packet::SubAck(_)] if !connack.reason.is_error()),
        "not accepted: {packets:?}"
    );
    packets.clear();
    fill(broker).await;
    for chunk in std::iter::once(offence).chain(trailing_chunks()) {
        match tokio::time::timeout(WRITE_STALL, stream.write_all(&chunk)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => break,
        }
    }
    let read_all = async {
        let mut chunk = vec![0; READ_CHUNK];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => return None,
                Ok(n_bytes) => {
                    buffer.extend_from_slice(&chunk[..n_bytes]);
                    decode_all(&mut buffer, &mut packets);
                }
                Err(error) => return Some(error.to_string()),
            }
            tokio::time::sleep(READ_PAUSE).await;
        }
    };
    let end = tokio::time::timeout(Duration::from_secs(20), read_all)
        .await
        .expect("the broker ends the stream");
    Observed { packets, end }
}

async fn offend_over_tcp(offence: Vec<u8>) -> Observed {
    let broker = start_broker(None).await;
    let stream = TcpStream::connect(broker.mqtt()).await.unwrap();
    let observed = offend_over_stream(&broker, stream, offence).await;
    broker.stop().await;
    observed
}

async fn offend_over_tls(offence: Vec<u8>) -> Observed {
    let files = TlsFiles::generate();
    let broker = start_broker(Some(&files)).await;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&files.cert).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(broker.addrs.mqtts.expect("TLS listener"))
        .await
        .unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(client_config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let observed = offend_over_stream(&broker, stream, offence).await;
    broker.stop().await;
    observed
}

/// The same over WebSocket: MQTT bytes in binary frames; the broker's close frame (or
/// the socket closing after it) is the orderly end.
async fn offend_over_websocket(offence: Vec<u8>) -> Observed {
    let broker = start_broker(None).await;
    let tcp = TcpStream::connect(broker.ws()).await.unwrap();
    let mut request = "ws://localhost/mqtt".into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mqtt"));
    let (mut websocket, _) = tokio_tungstenite::client_async(request, tcp)
        .await
        .expect("WebSocket upgrade");
    let binary = |bytes: Vec<u8>| Message::Binary(bytes.into());
    websocket
        .send(binary(encode(&[connect("offender"), subscribe_to_fill()])))
        .await
        .unwrap();
    let mut buffer = BytesMut::new();
    let mut packets = Vec::new();
    while packets.len() < 2 {
        match websocket.next().await {
            Some(Ok(Message::Binary(bytes))) => buffer.extend_from_slice(&bytes),
            other => panic!("no CONNACK: {other:?}"),
        }
        decode_all(&mut buffer, &mut packets);
    }
    packets.clear();
    fill(&broker).await;
    for chunk in std::iter::once(offence).chain(trailing_chunks()) {
        match tokio::time::timeout(WRITE_STALL, websocket.send(binary(chunk))).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => break,
        }
    }
    let read_all = async {
        loop {
            match websocket.next().await {
                Some(Ok(Message::Binary(bytes))) => {
                    buffer.extend_from_slice(&bytes);
                    decode_all(&mut buffer, &mut packets);
                    tokio::time::sleep(READ_PAUSE).await;
                }
                Some(Ok(Message::Close(_))) | None => return None,
                Some(Ok(_)) => {}
                Some(Err(error)) => return Some(error.to_string()),
            }
        }
    };
    let end = tokio::time::timeout(Duration::from_secs(20), read_all)
        .await
        .expect("the broker ends the stream");
    broker.stop().await;
    Observed { packets, end }
}

#[tokio::test]
async fn client_publishing_past_receive_maximum_reads_disconnect_0x93_over_tcp() {
    offend_over_tcp(too_many_in_flight())
        .await
        .assert_disconnect(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED);
}

#[tokio::test]
async fn client_sending_a_packet_too_large_reads_disconnect_0x95_over_tcp() {
    offend_over_tcp(too_large())
        .await
        .assert_disconnect(ReasonCode::PACKET_TOO_LARGE);
}

#[tokio::test]
async fn client_publishing_past_receive_maximum_reads_disconnect_0x93_over_tls() {
    offend_over_tls(too_many_in_flight())
        .await
        .assert_disconnect(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED);
}

#[tokio::test]
async fn client_publishing_past_receive_maximum_reads_disconnect_0x93_over_websocket() {
    offend_over_websocket(too_many_in_flight())
        .await
        .assert_disconnect(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED);
}

#[tokio::test]
async fn a_client_that_closes_after_the_disconnect_frees_its_slot_at_once() {
    // One connection at a time: the next client gets in only once the first connection's
    // socket is released, and that must not wait for the drain's time limit.
    let mut config = BrokerConfig::ephemeral();
    config.limits.receive_maximum = RECEIVE_MAXIMUM;
    config.limits.max_connections = 1;
    let broker = TestBroker::start_with(config, Arc::new(AllowAll)).await;
    let mut stream = TcpStream::connect(broker.mqtt()).await.unwrap();
    let mut offence = encode(&[connect("offender")]);
    offence.extend(too_many_in_flight());
    stream.write_all(&offence).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut received))
        .await
        .expect("the broker ends the stream")
        .expect("no reset");
    drop(stream);
    let closed_at = std::time::Instant::now();
    loop {
        let mut next = TcpStream::connect(broker.mqtt()).await.unwrap();
        next.write_all(&encode(&[connect("next")])).await.unwrap();
        let mut buffer = BytesMut::new();
        let mut packets = Vec::new();
        while packets.is_empty() && next.read_buf(&mut buffer).await.unwrap_or(0) > 0 {
            decode_all(&mut buffer, &mut packets);
        }
        if matches!(packets.first(), Some(Packet::ConnAck(connack)) if !connack.reason.is_error()) {
            break;
        }
        assert!(
            closed_at.elapsed() < Duration::from_millis(1000),
            "the next client is still refused after the first one closed: {packets:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    broker.stop().await;
}
