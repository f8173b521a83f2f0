//! A trivial in-process MQTT relay, to measure the load generator against itself.
//!
//! The relay does the least a broker can: it answers CONNECT and SUBSCRIBE, acknowledges
//! QoS 1 publishes at once, and forwards every PUBLISH to every subscriber at QoS 0,
//! whatever the topic (each scenario uses one topic family at a time). It keeps no
//! sessions, matches no topics and forwards each read's worth of publishes as one
//! shared buffer. Whatever rate the scenarios reach through it is therefore the
//! generator's ceiling on this machine: a broker measured near that rate may be faster
//! than the benchmark can show.
//!
//! It runs on a thread of its own with a single-threaded runtime, like a separate
//! single-threaded broker process would, so the generator keeps its own worker threads.
//! It is not an MQTT broker and must not be used as one.

use bytes::{Bytes, BytesMut};
use hearth_mqtt::{ConnAck, Packet, PubResponse, Publish, QoS, ReasonCode, SubAck};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::error::BenchError;

const MAX_PACKET_SIZE: usize = 1024 * 1024;
const READ_CHUNK: usize = 64 * 1024;

/// Every subscribed connection's queue. A std mutex: the relay has one thread, and the
/// lock is held only to push into unbounded channels.
type Subscribers = Arc<Mutex<Vec<mpsc::UnboundedSender<Bytes>>>>;

/// A running relay; dropping it stops the thread.
pub struct Relay {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// Binds 127.0.0.1 on a free port and starts serving.
    pub fn start() -> Result<Relay, BenchError> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("bench-relay".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        () = accept_loop(listener) => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(Relay {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: TcpListener) {
    let subscribers = Subscribers::default();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let subscribers = subscribers.clone();
        // A broken connection ends alone; the scenario reports it from its side.
        tokio::spawn(async move {
            let _ = serve(stream, subscribers).await;
        });
    }
}

async fn serve(stream: TcpStream, subscribers: Subscribers) -> Result<(), BenchError> {
    stream.set_nodelay(true)?;
    let (mut reader, mut writer) = stream.into_split();
    let mut read_buf = BytesMut::with_capacity(1024);
    let connect = loop {
        if let Some(packet) = hearth_mqtt::decode(&mut read_buf, None, MAX_PACKET_SIZE)? {
            break packet;
        }
        if reader.read_buf(&mut read_buf).await? == 0 {
            return Ok(());
        }
    };
    let Packet::Connect(connect) = connect else {
        return Err(BenchError::Unexpected(connect.kind()));
    };
    let version = connect.protocol;
    let mut reply = BytesMut::new();
    hearth_mqtt::encode(&Packet::ConnAck(ConnAck::default()), version, &mut reply)?;
    writer.write_all(&reply).await?;
    reply.clear();

    let (queue, mut queued) = mpsc::unbounded_channel::<Bytes>();
    let mut forward = BytesMut::new();
    loop {
        if read_buf.capacity() - read_buf.len() < READ_CHUNK / 4 {
            read_buf.reserve(READ_CHUNK);
        }
        tokio::select! {
            Some(chunk) = queued.recv() => writer.write_all(&chunk).await?,
            read = reader.read_buf(&mut read_buf) => {
                if read? == 0 {
                    return Ok(());
                }
                let mut disconnected = false;
                while let Some(packet) = hearth_mqtt::decode(&mut read_buf, Some(version), MAX_PACKET_SIZE)? {
                    match packet {
                        Packet::Publish(publish) => {
                            if publish.qos != QoS::AtMostOnce {
                                let ack = PubResponse::new(publish.packet_id, ReasonCode::SUCCESS);
                                hearth_mqtt::encode(&Packet::PubAck(ack), version, &mut reply)?;
                            }
                            let onward = Publish { qos: QoS::AtMostOnce, packet_id: 0, dup: false, retain: false, ..publish };
                            hearth_mqtt::encode(&Packet::Publish(onward), version, &mut forward)?;
                        }
                        Packet::Subscribe(subscribe) => {
                            subscribers.lock().expect("relay lock").push(queue.clone());
                            let reasons = subscribe.filters.iter().map(|filter| ReasonCode(filter.options.qos as u8)).collect();
                            let suback = SubAck { packet_id: subscribe.packet_id, reasons, ..SubAck::default() };
                            hearth_mqtt::encode(&Packet::SubAck(suback), version, &mut reply)?;
                        }
                        Packet::PingReq => hearth_mqtt::encode(&Packet::PingResp, version, &mut reply)?,
                        Packet::Disconnect(_) => {
                            // What came before the DISCONNECT is still forwarded.
                            disconnected = true;
                            break;
                        }
                        Packet::PubAck(_) => {}
                        other => return Err(BenchError::Unexpected(other.kind())),
                    }
                }
                if !forward.is_empty() {
                    let chunk = forward.split().freeze();
                    subscribers.lock().expect("relay lock").retain(|subscriber| subscriber.send(chunk.clone()).is_ok());
                }
                if !reply.is_empty() {
                    writer.write_all(&reply).await?;
                    reply.clear();
                }
                if disconnected {
                    return Ok(());
                }
            }
        }
    }
}
