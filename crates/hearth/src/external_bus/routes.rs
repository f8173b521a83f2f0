//! What the external bus subscribed to and who gets each delivery.
//!
//! Every distinct filter on the wire (`devices/+/status`, or
//! `$share/hearth/devices/+/+` for an interceptor) is one MQTT subscription with a
//! subscription identifier derived from its text, not from a counter: after a restart
//! the broker resumes the session and redelivers what the last process had not
//! acknowledged, tagged with the identifiers that process chose, and a hash of the
//! filter names the same subscription in every process. A delivery is handed to the
//! targets of the identifiers it carries, so a topic that matches both a shared and a
//! plain subscription (two copies on the wire) reaches each target once.

use hearth_bus::{Envelope, Interceptor, Principal, PrincipalKind, Qos};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Publish, PublishProperties};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The user property every publish of a Hearth node carries. Interceptors see client
/// publishes only (as with the built-in broker, where a service's publish is never
/// intercepted): without it, a node would ingest the presence it published itself, or
/// another node's.
pub const SERVICE_PROPERTY: &str = "hearth-service";

/// Largest subscription identifier MQTT 5 allows.
const MAX_SUBSCRIPTION_ID: u64 = 268_435_455;

/// Who takes the messages of one wire subscription.
#[derive(Clone)]
pub(crate) enum Target {
    /// A service's [`hearth_bus::Subscription`]: lossy when the service falls behind,
    /// as on the built-in broker.
    Subscriber(mpsc::Sender<Envelope>),
    /// An interceptor: the PUBACK waits for its token.
    Interceptor(Arc<dyn Interceptor>),
}

/// One filter on the wire.
pub(crate) struct Wire {
    /// As subscribed (with `$share/<group>/` for interceptors).
    pub filter: String,
    /// The filter topics are matched against (without the share prefix).
    pub matches: String,
    pub id: usize,
    pub targets: Vec<Target>,
}

/// Every wire subscription of this node.
#[derive(Default)]
pub(crate) struct Routes {
    wires: Vec<Wire>,
}

/// A subscription identifier for `filter`: FNV-1a, in 1..=268,435,455.
pub(crate) fn subscription_id(filter: &str) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in filter.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (1 + hash % MAX_SUBSCRIPTION_ID) as usize
}

/// Whether MQTT filter `filter` matches topic name `topic`.
pub(crate) fn matches(filter: &str, topic: &str) -> bool {
    // `#` and `+` at the first level do not match `$` topics (MQTT 4.7.2).
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut levels = topic.split('/');
    for part in filter.split('/') {
        match (part, levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (part, Some(level)) if part == level => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

/// The filter without its `$share/<group>/` prefix.
pub(crate) fn unshared(filter: &str) -> &str {
    filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(filter, |(_, rest)| rest)
}

/// A topic filter MQTT accepts: not empty, `#` only last and alone, `+` alone.
pub(crate) fn valid_filter(filter: &str) -> bool {
    let inner = unshared(filter);
    if inner.is_empty() || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = inner.split('/').collect();
    levels
        .iter()
        .enumerate()
        .all(|(index, level)| match *level {
            "#" => index == levels.len() - 1,
            "+" => true,
            level => !level.contains(['+', '#']),
        })
}

impl Routes {
    /// Adds `target` to the wire subscription `filter`; whether the filter is new (and
    /// must be subscribed on the wire).
    pub(crate) fn add(&mut self, filter: &str, target: Target) -> (usize, bool) {
        if let Some(wire) = self.wires.iter_mut().find(|wire| wire.filter == filter) {
            wire.targets.push(target);
            return (wire.id, false);
        }
        let id = subscription_id(filter);
        self.wires.push(Wire {
            filter: filter.to_owned(),
            matches: unshared(filter).to_owned(),
            id,
            targets: vec![target],
        });
        (id, true)
    }

    /// Every wire filter and its identifier (to subscribe again on a new session).
    pub(crate) fn filters(&self) -> Vec<(String, usize)> {
        self.wires
            .iter()
            .map(|wire| (wire.filter.clone(), wire.id))
            .collect()
    }

    /// The targets of a delivery: those of the subscriptions whose identifiers it
    /// carries, or (a broker that sends none) of every wire filter its topic matches.
    /// `None`: no subscription of this process takes it yet (one the last process made,
    /// redelivered before this one registered it).
    pub(crate) fn targets(&mut self, ids: &[usize], topic: &str) -> Option<Vec<Target>> {
        // Subscribers that went away are forgotten; their wire subscription stays.
        for wire in &mut self.wires {
            wire.targets.retain(|target| match target {
                Target::Subscriber(sender) => !sender.is_closed(),
                Target::Interceptor(_) => true,
            });
        }
        let chosen: Vec<&Wire> = if ids.is_empty() {
            self.wires
                .iter()
                .filter(|wire| matches(&wire.matches, topic))
                .collect()
        } else {
            self.wires
                .iter()
                .filter(|wire| ids.contains(&wire.id) && matches(&wire.matches, topic))
                .collect()
        };
        if chosen.is_empty() {
            return None;
        }
        Some(
            chosen
                .into_iter()
                .flat_map(|wire| wire.targets.iter().cloned())
                .collect(),
        )
    }
}

/// A delivery from the external broker as services see it. The publisher is not known
/// (MQTT does not tell subscribers who published): a topic under `devices/{id}/` is
/// taken as device `{id}`'s, which only the broker's ACL makes true (docs/security.md).
pub(crate) fn envelope(publish: &Publish, received_at_ms: i64) -> Option<(Envelope, bool)> {
    let topic: Arc<str> = Arc::from(std::str::from_utf8(&publish.topic).ok()?);
    let mut message = Envelope::new(topic.clone(), publish.payload.clone());
    message.qos = match publish.qos {
        QoS::AtMostOnce => Qos::AtMostOnce,
        QoS::AtLeastOnce => Qos::AtLeastOnce,
        QoS::ExactlyOnce => Qos::ExactlyOnce,
    };
    message.retain = publish.retain;
    message.received_at_ms = Some(received_at_ms);
    let mut from_service = false;
    if let Some(properties) = &publish.properties {
        message.response_topic = properties.response_topic.as_deref().map(Arc::from);
        message.correlation_data = properties.correlation_data.clone();
        message.content_type = properties.content_type.as_deref().map(Arc::from);
        message.message_expiry = properties.message_expiry_interval;
        for (key, value) in &properties.user_properties {
            if key == SERVICE_PROPERTY {
                from_service = true;
            } else {
                message
                    .user_properties
                    .push((Arc::from(key.as_str()), Arc::from(value.as_str())));
            }
        }
    }
    if !from_service
        && let Some(device) = topic
            .strip_prefix("devices/")
            .and_then(|rest| rest.split('/').next())
            .filter(|device| !device.is_empty())
    {
        message.principal = Some(Principal::new(PrincipalKind::Device, device));
    }
    Some((message, from_service))
}

/// The MQTT 5 properties of a service's `message`, marked as a Hearth node's.
pub(crate) fn properties(message: &Envelope) -> PublishProperties {
    let mut user_properties: Vec<(String, String)> = message
        .user_properties
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    user_properties.push((SERVICE_PROPERTY.to_owned(), "1".to_owned()));
    PublishProperties {
        message_expiry_interval: message.message_expiry,
        response_topic: message.response_topic.as_deref().map(str::to_owned),
        correlation_data: message.correlation_data.clone(),
        content_type: message.content_type.as_deref().map(str::to_owned),
        user_properties,
        ..PublishProperties::default()
    }
}

/// The subscription identifiers a delivery carries.
pub(crate) fn delivery_ids(publish: &Publish) -> Vec<usize> {
    publish
        .properties
        .as_ref()
        .map(|properties| properties.subscription_identifiers.clone())
        .unwrap_or_default()
}

/// Counts what the bus did, for logs and tests.
#[derive(Debug, Default)]
pub struct ExternalCounters {
    /// Deliveries handed to at least one target.
    pub delivered: std::sync::atomic::AtomicU64,
    /// PUBACKs sent after every interceptor accepted.
    pub acked: std::sync::atomic::AtomicU64,
    /// Deliveries refused by an interceptor (left unacknowledged: the broker sends them
    /// again on the next connection, which the refusal starts).
    pub refused: std::sync::atomic::AtomicU64,
    /// Acceptances that came after their connection ended (the broker redelivers).
    pub stale_acks: std::sync::atomic::AtomicU64,
    /// Deliveries for a subscription an earlier process made and this one does not
    /// (acknowledged and dropped after the start's grace).
    pub orphaned: std::sync::atomic::AtomicU64,
    /// Connections made (CONNACKs).
    pub connects: std::sync::atomic::AtomicU64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_as_mqtt_says() {
        assert!(matches("devices/+/+", "devices/d/data"));
        assert!(!matches("devices/+/+", "devices/d/commands/x"));
        assert!(matches("devices/#", "devices/d/commands/x"));
        assert!(matches("devices/#", "devices"));
        assert!(!matches("#", "$SYS/x"));
        assert!(matches("$SYS/#", "$SYS/x"));
        assert_eq!(unshared("$share/hearth/devices/+/+"), "devices/+/+");
        assert_eq!(unshared("devices/+/+"), "devices/+/+");
        assert!(valid_filter("$share/g/a/#"));
        assert!(!valid_filter("a/#/b"));
        assert!(!valid_filter("a/b+"));
        assert!(!valid_filter(""));
    }

    #[test]
    fn identifiers_are_stable_and_deliveries_reach_their_own_subscription() {
        assert_eq!(
            subscription_id("devices/+/+"),
            subscription_id("devices/+/+")
        );
        assert_ne!(
            subscription_id("devices/+/+"),
            subscription_id("$share/hearth/devices/+/+")
        );
        let mut routes = Routes::default();
        let (plain, _receiver) = mpsc::channel(4);
        let (shared_id, new) = routes.add(
            "$share/hearth/devices/+/+",
            Target::Subscriber(plain.clone()),
        );
        assert!(new);
        let (plain_id, _) = routes.add("devices/#", Target::Subscriber(plain.clone()));
        assert!(!routes.add("devices/#", Target::Subscriber(plain)).1);
        assert_eq!(
            routes
                .targets(&[shared_id], "devices/d/data")
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            routes.targets(&[plain_id], "devices/d/data").unwrap().len(),
            2
        );
        assert_eq!(routes.targets(&[], "devices/d/data").unwrap().len(), 3);
        assert!(routes.targets(&[12345], "devices/d/data").is_none());
    }

    #[test]
    fn device_topics_name_their_device_and_service_publishes_are_marked() {
        let mut publish = Publish::new("devices/lamp/data", QoS::AtLeastOnce, "{}", None);
        let (message, from_service) = envelope(&publish, 5).unwrap();
        assert_eq!(message.principal.unwrap().name.as_ref(), "lamp");
        assert!(!from_service);
        publish.properties = Some(properties(&Envelope::new("devices/lamp/status", "online")));
        let (message, from_service) = envelope(&publish, 5).unwrap();
        assert!(from_service && message.principal.is_none() && message.user_properties.is_empty());
    }
}
