//! The one error type of the load generator.
//!
//! A benchmark run fails as a whole when a connection breaks or the broker refuses
//! something: a number measured over a half-broken run would be misleading. Losses the
//! broker causes without breaking the protocol (QoS 0 drops, acknowledged messages that
//! never arrive) are not errors: they are counted in the results.

use hearth_mqtt::{DecodeError, EncodeError, ReasonCode};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("the load generator only targets loopback addresses, not {0}")]
    NotLoopback(SocketAddr),
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("the broker closed the connection")]
    Closed,
    #[error("decoding a packet from the broker: {0}")]
    Decode(#[from] DecodeError),
    #[error("encoding a packet: {0}")]
    Encode(#[from] EncodeError),
    #[error("the broker refused CONNECT ({0})")]
    Refused(ReasonCode),
    #[error("the broker refused the subscription to {filter} ({reason})")]
    SubscribeRefused { filter: String, reason: ReasonCode },
    #[error("unexpected {0} from the broker")]
    Unexpected(&'static str),
    #[error("no answer from the broker within {0:?} ({1})")]
    Timeout(Duration, &'static str),
    #[error("{needed} open files are needed but the limit is {limit}: run `ulimit -n 20000` first")]
    FileLimit { needed: u64, limit: u64 },
    #[error("reading {path}: {detail}")]
    Proc { path: String, detail: String },
    #[error("a load task failed: {0}")]
    Task(String),
}

impl From<tokio::task::JoinError> for BenchError {
    fn from(error: tokio::task::JoinError) -> BenchError {
        BenchError::Task(error.to_string())
    }
}
