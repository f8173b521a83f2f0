//! [`ClientEvent`]: a client connection began or ended, published by the broker for
//! every service that cares (presence in ingest, revocation in the authorizer, later
//! automations), so that none of them hooks into the broker or the authorizer.

use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

use crate::Principal;

/// One connection's start or end, as the broker saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientEvent {
    pub principal: Principal,
    pub client_id: Arc<str>,
    /// Unique per connection: when a client takes over its own session, the old
    /// connection's late `connected: false` carries the old number and can be told from
    /// the new connection's.
    pub connection: u64,
    /// `true` once the connection holds its session (after CONNACK), `false` once it
    /// has ended for whatever reason (DISCONNECT, error, keep-alive, takeover, kick).
    pub connected: bool,
}

/// The broker's fan-out of [`ClientEvent`]s. Each subscriber gets its own unbounded
/// channel: the rate is bounded by the broker's accepting and closing connections, and
/// the sender runs on a connection's task, which must never wait for a slow service.
///
/// Events go to the subscribers attached when they happen. Services that must see every
/// connection (presence, revocation) subscribe before the broker starts: the hub makes
/// this value, subscribes them, and hands it to `Broker::start_with_events`.
#[derive(Default)]
pub struct ClientEvents {
    subscribers: Mutex<Vec<mpsc::UnboundedSender<ClientEvent>>>,
    observers: Mutex<Vec<ClientObserver>>,
}

/// Called on the connection's own task, before the client can read its CONNACK (and
/// after its connection ended): for state that must be current by the time the client
/// acts, such as the live sessions a revocation looks for. Must be quick and never block.
pub type ClientObserver = Arc<dyn Fn(&ClientEvent) + Send + Sync>;

impl std::fmt::Debug for ClientEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientEvents").finish_non_exhaustive()
    }
}

impl ClientEvents {
    pub fn new() -> ClientEvents {
        ClientEvents::default()
    }

    /// Tells every observer, then sends `event` to every subscriber; forgets
    /// subscribers that are gone.
    pub fn publish(&self, event: ClientEvent) {
        let observers = self
            .observers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone();
        for observer in &observers {
            observer(&event);
        }
        self.subscribers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .retain(|subscriber| subscriber.send(event.clone()).is_ok());
    }

    /// Calls `observer` with every event from now on, synchronously.
    pub fn observe(&self, observer: ClientObserver) {
        self.observers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(observer);
    }

    /// A new subscriber: every event from now on.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<ClientEvent> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.subscribers
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(sender);
        receiver
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PrincipalKind;

    fn event(connection: u64, connected: bool) -> ClientEvent {
        ClientEvent {
            principal: Principal::new(PrincipalKind::Device, "lamp"),
            client_id: Arc::from("lamp"),
            connection,
            connected,
        }
    }

    #[test]
    fn every_subscriber_gets_what_comes_after_it_attached() {
        let events = ClientEvents::new();
        events.publish(event(1, true));
        let mut first = events.subscribe();
        events.publish(event(1, false));
        let mut second = events.subscribe();
        events.publish(event(2, true));
        assert_eq!(first.try_recv().unwrap(), event(1, false));
        assert_eq!(first.try_recv().unwrap(), event(2, true));
        assert_eq!(second.try_recv().unwrap(), event(2, true));
        assert!(second.try_recv().is_err());
    }

    #[test]
    fn observers_see_each_event_before_it_is_sent() {
        let events = ClientEvents::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        events.observe(Arc::new(move |event: &ClientEvent| {
            sink.lock().unwrap().push(event.connection)
        }));
        events.publish(event(7, true));
        assert_eq!(*seen.lock().unwrap(), vec![7]);
    }

    #[test]
    fn a_gone_subscriber_is_forgotten() {
        let events = ClientEvents::new();
        let first = events.subscribe();
        drop(first);
        let mut second = events.subscribe();
        events.publish(event(2, true));
        assert_eq!(second.try_recv().unwrap(), event(2, true));
        assert_eq!(events.subscribers.lock().unwrap().len(), 1);
    }
}
