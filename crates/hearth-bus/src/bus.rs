//! Publishing, subscribing and durable interception for services inside the hub.

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::envelope::Envelope;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusError {
    /// The broker (or the link to it) has shut down.
    #[error("the message bus is closed")]
    Closed,
    /// The topic or filter is not valid MQTT.
    #[error("invalid topic {0:?}")]
    InvalidTopic(String),
    /// A part of an [`Envelope`] other than its topic cannot travel as MQTT (a NUL in a
    /// string, a string longer than MQTT allows, a wildcard in a response topic...).
    #[error("invalid message: {field}: {reason}")]
    InvalidMessage {
        field: &'static str,
        reason: &'static str,
    },
}

/// A live subscription. Messages arrive in publish order per topic. The queue is bounded:
/// when the consumer falls behind, further messages for it are dropped and counted by the
/// broker (never blocking other clients), so consumers that must not lose anything use an
/// [`Interceptor`] instead.
#[derive(Debug)]
pub struct Subscription {
    pub receiver: mpsc::Receiver<Envelope>,
}

impl Subscription {
    pub async fn recv(&mut self) -> Option<Envelope> {
        self.receiver.recv().await
    }
}

/// Publish and subscribe without a socket. Implemented by the embedded broker's handle
/// and, in scale-out mode, by an MQTT client connected to the external cluster.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Routes `message` to every matching subscriber (and stores it if retained).
    async fn publish(&self, message: Envelope) -> Result<(), BusError>;

    /// Subscribes to a topic filter (wildcards and `$share/` allowed).
    async fn subscribe(&self, filter: &str) -> Result<Subscription, BusError>;

    /// [`Bus::subscribe`], and the retained messages matching `filter` at once, as a
    /// client's subscription gets them (what a service needs to learn the current
    /// state of topics published before it subscribed, e.g. availability). Without
    /// retained messages in the implementation, a plain subscription.
    async fn subscribe_with_retained(&self, filter: &str) -> Result<Subscription, BusError> {
        self.subscribe(filter).await
    }

    /// Disconnects the client connected as `client_id` at once (MQTT 5 reason 0x98,
    /// administrative action), e.g. because its device was disabled or its secret
    /// rotated. Returns whether such a client was connected.
    async fn kick(&self, client_id: &str) -> Result<bool, BusError>;

    /// Shows every client publish matching `filter` to `interceptor` before the
    /// publisher's PUBACK / PUBREC, which waits for the interceptor's [`AckToken`]. (An
    /// external cluster implements this with a shared subscription whose acknowledgement
    /// waits the same way.)
    fn intercept(
        &self,
        filter: &str,
        interceptor: std::sync::Arc<dyn Interceptor>,
    ) -> Result<(), BusError>;

    /// Every client connection's start and end from now on (presence). A service that
    /// must see every connection subscribes before the broker starts (see
    /// [`crate::ClientEvents`]). (An external cluster implements this from its
    /// connect/disconnect events.)
    fn client_events(&self) -> tokio::sync::mpsc::UnboundedReceiver<crate::ClientEvent>;

    /// Calls `observer` on every client connection's start and end from now on,
    /// synchronously (see [`crate::ClientObserver`]).
    fn observe_client_events(&self, observer: crate::ClientObserver);
}

/// A consumer that sees inbound client publishes before they are acknowledged.
///
/// For a QoS 1/2 publish the broker holds back its PUBACK / PUBREC until every
/// interceptor that matched has completed its [`AckToken`]: this is how ingest promises
/// that "acknowledged means on disk". QoS 0 messages arrive with no token.
pub trait Interceptor: Send + Sync + 'static {
    /// Called on the broker's routing path: must not block. Hand the message and token to
    /// a queue and return.
    fn intercept(&self, message: &Envelope, ack: Option<AckToken>);

    /// Asked for a QoS 1/2 client publish before the broker routes it or shows it to
    /// any interceptor: `Err(reason)` (an MQTT 5 reason code of 0x80 or above, e.g.
    /// 0x97 quota exceeded) refuses it outright, so that no subscriber and no other
    /// interceptor (e.g. ingest) takes a message the publisher is told to send again.
    /// Must not block; the default admits everything.
    fn admit(&self, _message: &Envelope) -> Result<(), u8> {
        Ok(())
    }
}

/// The right to let the broker acknowledge one message. Complete it with
/// [`AckToken::accept`] once the message is safe; dropping it unaccepted (say, the store
/// failed) makes the broker answer with a failure code (v5: 0x80 unspecified error, or
/// the reason given to [`AckToken::refuse`]) or close the connection (3.x) so that the
/// client sends the message again.
pub struct AckToken {
    on_complete: Option<Completion>,
}

/// What a token calls once: `Ok` accepted, `Err(reason)` refused.
type Completion = Box<dyn FnOnce(Result<(), u8>) + Send>;

/// MQTT 5 "unspecified error": what a token dropped unaccepted reports.
const UNSPECIFIED_ERROR: u8 = 0x80;

impl AckToken {
    /// A token that calls `on_complete(true)` when accepted and `on_complete(false)` when
    /// dropped or refused. A callback rather than a channel so that the broker does not
    /// need a task per pending acknowledgement.
    pub fn new(on_complete: impl FnOnce(bool) + Send + 'static) -> AckToken {
        AckToken::with_reason(move |result| on_complete(result.is_ok()))
    }

    /// A token whose callback also learns why it was refused: `Err(reason)`, the MQTT 5
    /// reason code for the publisher (0x80 unspecified error when dropped), so that a
    /// holder can say "quota exceeded" rather than "failed" without the broker knowing
    /// the holder.
    pub fn with_reason(on_complete: impl FnOnce(Result<(), u8>) + Send + 'static) -> AckToken {
        AckToken {
            on_complete: Some(Box::new(on_complete)),
        }
    }

    /// The message is durable: the broker may acknowledge it.
    pub fn accept(mut self) {
        if let Some(on_complete) = self.on_complete.take() {
            on_complete(Ok(()));
        }
    }

    /// The holder will not take the message: the publisher gets `reason` (an MQTT 5
    /// reason code of 0x80 or above; lower values count as 0x80) and sends it again.
    pub fn refuse(mut self, reason: u8) {
        if let Some(on_complete) = self.on_complete.take() {
            on_complete(Err(reason.max(UNSPECIFIED_ERROR)));
        }
    }
}

impl std::fmt::Debug for AckToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckToken")
            .field("pending", &self.on_complete.is_some())
            .finish()
    }
}

impl Drop for AckToken {
    fn drop(&mut self) {
        if let Some(on_complete) = self.on_complete.take() {
            on_complete(Err(UNSPECIFIED_ERROR));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn accepted_token_reports_true_once_and_dropped_token_reports_false() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen_by_token = seen.clone();
        AckToken::new(move |ok| seen_by_token.lock().unwrap().push(ok)).accept();
        let seen_by_token = seen.clone();
        drop(AckToken::new(move |ok| {
            seen_by_token.lock().unwrap().push(ok)
        }));
        assert_eq!(*seen.lock().unwrap(), vec![true, false]);
    }

    #[test]
    fn a_refusal_carries_its_reason_and_a_drop_is_unspecified() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        for action in 0..4 {
            let seen_by_token = seen.clone();
            let token =
                AckToken::with_reason(move |result| seen_by_token.lock().unwrap().push(result));
            match action {
                0 => token.accept(),
                1 => token.refuse(0x97),
                2 => token.refuse(0x10),
                _ => drop(token),
            }
        }
        assert_eq!(
            *seen.lock().unwrap(),
            vec![Ok(()), Err(0x97), Err(0x80), Err(0x80)]
        );
    }
}
