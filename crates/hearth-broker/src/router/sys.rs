//! `$SYS/broker/...`: the broker describing itself, as Mosquitto users expect.
//!
//! Published as retained messages so that a client subscribing to `$SYS/#` sees the
//! current values at once instead of waiting for the next interval.

use bytes::Bytes;
use hearth_mqtt::{ByteStr, Properties, QoS};
use std::sync::Arc;

use super::Router;
use crate::message::Message;

impl Router {
    pub(super) fn publish_sys(&mut self) {
        let stats = self.snapshot();
        let values: [(&'static str, String); 19] = [
            (
                "$SYS/broker/version",
                format!("hearth {}", env!("CARGO_PKG_VERSION")),
            ),
            (
                "$SYS/broker/uptime",
                format!("{} seconds", stats.uptime_secs),
            ),
            (
                "$SYS/broker/clients/connected",
                stats.clients_connected.to_string(),
            ),
            (
                "$SYS/broker/clients/disconnected",
                stats.clients_disconnected.to_string(),
            ),
            ("$SYS/broker/clients/total", stats.sessions.to_string()),
            (
                "$SYS/broker/connections/total",
                stats.clients_total.to_string(),
            ),
            (
                "$SYS/broker/messages/received",
                stats.messages_received.to_string(),
            ),
            ("$SYS/broker/messages/sent", stats.messages_sent.to_string()),
            ("$SYS/broker/messages/queued", stats.queued.to_string()),
            (
                "$SYS/broker/messages/dropped",
                (stats.dropped_qos0_backlog + stats.dropped_queue_full).to_string(),
            ),
            (
                "$SYS/broker/messages/dropped/too_large",
                stats.dropped_too_large.to_string(),
            ),
            ("$SYS/broker/messages/expired", stats.expired.to_string()),
            (
                "$SYS/broker/bytes/received",
                stats.bytes_received.to_string(),
            ),
            ("$SYS/broker/bytes/sent", stats.bytes_sent.to_string()),
            (
                "$SYS/broker/subscriptions/count",
                stats.subscriptions.to_string(),
            ),
            (
                "$SYS/broker/retained messages/count",
                stats.retained.to_string(),
            ),
            (
                "$SYS/broker/denied/publish",
                stats.publish_denied.to_string(),
            ),
            (
                "$SYS/broker/denied/subscribe",
                stats.subscribe_denied.to_string(),
            ),
            (
                "$SYS/broker/publishers/paused",
                stats.publishers_paused.to_string(),
            ),
        ];
        for (topic, value) in values {
            let message = Message {
                topic: ByteStr::from_static(topic),
                payload: Bytes::from(value),
                qos: QoS::AtMostOnce,
                retain: true,
                properties: Properties::default(),
                expires_at: None,
                origin: None,
                client_id: None,
                principal: None,
            };
            self.accept_message(Arc::new(message));
        }
    }
}
