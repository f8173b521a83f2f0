//! A minimal MQTT 3.1.1 client over one TCP socket: just what the scenarios need.
//!
//! Everything goes through the workspace's own codec (`hearth_mqtt::encode` and
//! `decode`), so the benchmark also exercises it from the client side. The client is
//! built for throughput rather than convenience:
//! - TCP_NODELAY is on, so a lone message is not held back by Nagle's algorithm and the
//!   latency numbers are the broker's, not the kernel's;
//! - packets are encoded into one write buffer and written with one system call per
//!   batch;
//! - PUBLISH packets are not encoded one by one: [`PublishTemplate`] encodes one packet
//!   once and each message copies it and patches the payload stamp and packet id, so
//!   sending costs no allocation;
//! - received packets are decoded in place from one read buffer (the codec splits them
//!   off without copying).
//!
//! The fields are public to the crate so that a scenario can `select!` over reading
//! and writing on one connection without two tasks.

use bytes::{Bytes, BytesMut};
use hearth_mqtt::{
    ByteStr, Connect, Disconnect, Packet, ProtocolVersion, Publish, QoS, Subscribe,
    SubscribeFilter, SubscriptionOptions,
};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::error::BenchError;
use crate::payload::{BLANK_PAYLOAD, PAYLOAD_LEN, Stamp};

/// Every connection speaks 3.1.1: both brokers support it, and it keeps packets free of
/// v5 properties whose handling would differ between brokers.
pub(crate) const VERSION: ProtocolVersion = ProtocolVersion::V3_1_1;
/// Largest packet accepted from the broker.
const MAX_PACKET_SIZE: usize = 1024 * 1024;
/// Read buffer growth step for connections that receive a stream of messages.
const READ_CHUNK: usize = 64 * 1024;
/// How long the broker has to answer CONNECT or SUBSCRIBE.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One client connection after a successful CONNECT.
pub(crate) struct Conn {
    pub reader: OwnedReadHalf,
    pub writer: OwnedWriteHalf,
    pub read_buf: BytesMut,
    pub write_buf: BytesMut,
}

impl Conn {
    /// Opens a TCP connection, sends CONNECT (clean session) and waits for a successful
    /// CONNACK.
    pub async fn connect(
        addr: SocketAddr,
        client_id: &str,
        keep_alive: u16,
    ) -> Result<Conn, BenchError> {
        Conn::connect_as(addr, client_id, keep_alive, None).await
    }

    /// Like [`Conn::connect`], with a user name and password (a registered device).
    pub async fn connect_as(
        addr: SocketAddr,
        client_id: &str,
        keep_alive: u16,
        credentials: Option<(&str, &str)>,
    ) -> Result<Conn, BenchError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| BenchError::Connect { addr, source })?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        let mut conn = Conn {
            reader,
            writer,
            read_buf: BytesMut::new(),
            write_buf: BytesMut::new(),
        };
        let mut connect = connect_packet(client_id, keep_alive);
        if let (Packet::Connect(connect), Some((username, password))) = (&mut connect, credentials)
        {
            connect.username = Some(ByteStr::from(username));
            connect.password = Some(Bytes::copy_from_slice(password.as_bytes()));
        }
        conn.queue(&connect)?;
        conn.flush().await?;
        let answer = tokio::time::timeout(HANDSHAKE_TIMEOUT, conn.next_packet())
            .await
            .map_err(|_| BenchError::Timeout(HANDSHAKE_TIMEOUT, "CONNACK"))??;
        match answer {
            Packet::ConnAck(connack) if connack.reason.is_error() => {
                Err(BenchError::Refused(connack.reason))
            }
            Packet::ConnAck(_) => {
                // Idle connections keep nothing: drop the buffers the handshake grew.
                if conn.read_buf.is_empty() {
                    conn.read_buf = BytesMut::new();
                }
                conn.write_buf = BytesMut::new();
                Ok(conn)
            }
            other => Err(BenchError::Unexpected(other.kind())),
        }
    }

    /// Subscribes to one filter and waits for the SUBACK. Publishes that arrive before
    /// it (retained messages of earlier runs, say) are dropped.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Result<(), BenchError> {
        let subscribe = Subscribe {
            packet_id: 1,
            filters: vec![SubscribeFilter {
                filter: ByteStr::from(filter),
                options: SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                },
            }],
            properties: Default::default(),
        };
        self.queue(&Packet::Subscribe(subscribe))?;
        self.flush().await?;
        let wait = async {
            loop {
                match self.next_packet().await? {
                    Packet::SubAck(suback) => return Ok(suback),
                    Packet::Publish(_) => continue,
                    other => return Err(BenchError::Unexpected(other.kind())),
                }
            }
        };
        let suback = tokio::time::timeout(HANDSHAKE_TIMEOUT, wait)
            .await
            .map_err(|_| BenchError::Timeout(HANDSHAKE_TIMEOUT, "SUBACK"))??;
        match suback.reasons.first() {
            Some(reason) if !reason.is_error() => Ok(()),
            reason => Err(BenchError::SubscribeRefused {
                filter: filter.to_owned(),
                reason: reason
                    .copied()
                    .unwrap_or(hearth_mqtt::ReasonCode::UNSPECIFIED_ERROR),
            }),
        }
    }

    /// Appends a packet to the write buffer.
    pub fn queue(&mut self, packet: &Packet) -> Result<(), BenchError> {
        hearth_mqtt::encode(packet, VERSION, &mut self.write_buf)?;
        Ok(())
    }

    /// Writes the whole write buffer.
    pub async fn flush(&mut self) -> Result<(), BenchError> {
        self.writer.write_all(&self.write_buf).await?;
        self.write_buf.clear();
        Ok(())
    }

    /// Makes room for a large read; call before `reader.read_buf(&mut read_buf)`.
    pub fn reserve_read(&mut self) {
        if self.read_buf.capacity() - self.read_buf.len() < READ_CHUNK / 4 {
            self.read_buf.reserve(READ_CHUNK);
        }
    }

    /// Reads at least one byte; the broker closing the connection is an error.
    pub async fn fill(&mut self) -> Result<(), BenchError> {
        self.reserve_read();
        let n = self.reader.read_buf(&mut self.read_buf).await?;
        if n == 0 {
            return Err(BenchError::Closed);
        }
        Ok(())
    }

    /// The next complete packet in the read buffer, if any.
    pub fn try_decode(&mut self) -> Result<Option<Packet>, BenchError> {
        Ok(hearth_mqtt::decode(
            &mut self.read_buf,
            Some(VERSION),
            MAX_PACKET_SIZE,
        )?)
    }

    pub async fn next_packet(&mut self) -> Result<Packet, BenchError> {
        loop {
            if let Some(packet) = self.try_decode()? {
                return Ok(packet);
            }
            self.fill().await?;
        }
    }

    /// Sends DISCONNECT and closes the socket. Errors are ignored: the run is over.
    pub async fn disconnect(mut self) {
        if self
            .queue(&Packet::Disconnect(Disconnect::default()))
            .is_ok()
        {
            let _ = self.flush().await;
        }
        let _ = self.writer.shutdown().await;
    }
}

/// The CONNECT every benchmark client sends: clean session, no credentials.
pub(crate) fn connect_packet(client_id: &str, keep_alive: u16) -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol: VERSION,
        clean_start: true,
        keep_alive,
        client_id: ByteStr::from(client_id),
        will: None,
        username: None,
        password: None,
        properties: Default::default(),
    }))
}

/// A packet id no real message uses, written into the template so that its position
/// can be checked.
const PLACEHOLDER_ID: u16 = 0xA55A;

/// One PUBLISH encoded once; [`PublishTemplate::append`] stamps copies of it.
#[derive(Debug, Clone)]
pub(crate) struct PublishTemplate {
    bytes: Vec<u8>,
    payload_at: usize,
    packet_id_at: Option<usize>,
}

impl PublishTemplate {
    pub fn new(topic: &str, qos: QoS) -> Result<PublishTemplate, BenchError> {
        let publish = Publish {
            qos,
            topic: ByteStr::from(topic),
            packet_id: if qos == QoS::AtMostOnce {
                0
            } else {
                PLACEHOLDER_ID
            },
            payload: Bytes::from_static(&BLANK_PAYLOAD),
            ..Publish::default()
        };
        let mut encoded = BytesMut::new();
        hearth_mqtt::encode(&Packet::Publish(publish), VERSION, &mut encoded)?;
        // In 3.1.1 the payload ends the packet and the packet id sits just before it.
        let payload_at = encoded.len() - PAYLOAD_LEN;
        let packet_id_at = (qos != QoS::AtMostOnce).then(|| payload_at - 2);
        if encoded[payload_at..] != BLANK_PAYLOAD[..]
            || packet_id_at.is_some_and(|at| encoded[at..at + 2] != PLACEHOLDER_ID.to_be_bytes())
        {
            return Err(BenchError::Unexpected("PUBLISH layout from the encoder"));
        }
        Ok(PublishTemplate {
            bytes: encoded.to_vec(),
            payload_at,
            packet_id_at,
        })
    }

    /// Appends one message. `packet_id` is ignored for QoS 0.
    pub fn append(&self, out: &mut BytesMut, stamp: &Stamp, packet_id: u16) {
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        let packet = &mut out[start..];
        stamp.write(&mut packet[self.payload_at..]);
        if let Some(at) = self.packet_id_at {
            packet[at..at + 2].copy_from_slice(&packet_id.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(buf: &mut BytesMut) -> Vec<Publish> {
        let mut out = Vec::new();
        while let Some(packet) = hearth_mqtt::decode(buf, Some(VERSION), MAX_PACKET_SIZE).unwrap() {
            match packet {
                Packet::Publish(publish) => out.push(publish),
                other => panic!("unexpected {}", other.kind()),
            }
        }
        out
    }

    #[test]
    fn stamped_qos1_copies_decode_with_their_own_id_and_stamp() {
        let template = PublishTemplate::new("bench/3", QoS::AtLeastOnce).unwrap();
        let mut buf = BytesMut::new();
        for seq in 0..3u64 {
            let stamp = Stamp {
                sent_nanos: 1_000 + seq,
                publisher: 3,
                seq,
            };
            template.append(&mut buf, &stamp, seq as u16 + 1);
        }
        assert_eq!(buf.len(), 3 * template.bytes.len());
        let publishes = decode_all(&mut buf);
        assert_eq!(publishes.len(), 3);
        for (seq, publish) in publishes.iter().enumerate() {
            assert_eq!(publish.topic.as_str(), "bench/3");
            assert_eq!(publish.qos, QoS::AtLeastOnce);
            assert_eq!(publish.packet_id, seq as u16 + 1);
            let stamp = Stamp::read(&publish.payload).unwrap();
            assert_eq!(
                stamp,
                Stamp {
                    sent_nanos: 1_000 + seq as u64,
                    publisher: 3,
                    seq: seq as u64
                }
            );
        }
    }

    #[test]
    fn qos0_copies_carry_no_packet_id() {
        let template = PublishTemplate::new("bench/fanout", QoS::AtMostOnce).unwrap();
        let mut buf = BytesMut::new();
        template.append(
            &mut buf,
            &Stamp {
                sent_nanos: 5,
                publisher: 0,
                seq: 9,
            },
            77,
        );
        let publishes = decode_all(&mut buf);
        assert_eq!(publishes[0].packet_id, 0);
        assert_eq!(Stamp::read(&publishes[0].payload).unwrap().seq, 9);
    }
}
