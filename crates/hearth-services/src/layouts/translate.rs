//! The translator: an interceptor on the foreign topics of every layout. An accepted
//! message (from the device itself, or from its `via_app` application's connections)
//! becomes Hearth's `devices/{id}/{data|status|heartbeat|events}` message, handed to
//! ingest with the publisher's ack token (acknowledged means committed, as for
//! `devices/+/+`), published on that topic for live subscribers, and, on an `ack` rule,
//! reported to the commands service.

use super::LayoutDirectory;
use crate::RegistryAuthorizer;
use crate::commands::Commands;
use hearth_bus::{AckToken, Bus, Envelope, Interceptor, Principal, PrincipalKind};
use hearth_model::layout::{InboundKind, Translated};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// Canonical copies waiting to be published; beyond this they are dropped (counted):
/// live copies are a convenience for subscribers, history already has the message.
const LIVE_BACKLOG: usize = 4096;

/// What the translator did, for logs and tests.
#[derive(Debug, Default)]
pub struct TranslatorCounters {
    /// Foreign messages turned into Hearth's form.
    pub translated: AtomicU64,
    /// Messages on a layout's filters that are not the publisher's to send (another
    /// device's or layout's topic, a stale filter).
    pub ignored: AtomicU64,
    /// Live copies not published (backlog full, or the bus refused them).
    pub live_dropped: AtomicU64,
    /// Messages on one of the publisher's own topics that no rule could read (bad
    /// JSON, a plain word no `values` names): stored raw, as Hearth's own topics'.
    pub unreadable: AtomicU64,
}

/// The translator (see the module docs). Registers its filters as layouts appear; the
/// bus has no way to unregister, so filters of layouts since removed stay and their
/// messages are ignored.
pub struct Translator {
    authorizer: Arc<RegistryAuthorizer>,
    bus: Arc<dyn Bus>,
    ingest: Arc<dyn Interceptor>,
    commands: Option<Commands>,
    /// Filters registered, in registration order: a message matching several is
    /// handled by the interceptor of the first only.
    registered: Mutex<Vec<Arc<str>>>,
    live: mpsc::Sender<Envelope>,
    /// The layouts of the snapshot in effect, to tell which devices' rights changed.
    current: Mutex<Arc<LayoutDirectory>>,
    pub counters: TranslatorCounters,
}

/// One registered filter's interceptor.
struct FilterInterceptor {
    filter: Arc<str>,
    translator: Arc<Translator>,
}

impl Interceptor for FilterInterceptor {
    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        let first = self
            .translator
            .registered
            .lock()
            .iter()
            .find(|filter| topic_matches(filter, &message.topic))
            .cloned();
        if first.as_deref() == Some(&*self.filter) {
            self.translator.translate(message, ack);
        } else if let Some(token) = ack {
            // Another of our filters handles it.
            token.accept();
        }
    }
}

impl Translator {
    /// Starts the translator: registers the filters of the authorizer's current
    /// layouts, follows its reloads (filters are registered before a reloaded snapshot
    /// takes effect), and publishes live copies from a task of its own.
    pub fn start(
        authorizer: Arc<RegistryAuthorizer>,
        bus: Arc<dyn Bus>,
        ingest: Arc<dyn Interceptor>,
        commands: Option<Commands>,
    ) -> (Arc<Translator>, tokio::task::JoinHandle<()>) {
        let (live, mut queue) = mpsc::channel::<Envelope>(LIVE_BACKLOG);
        let translator = Arc::new(Translator {
            authorizer: authorizer.clone(),
            bus: bus.clone(),
            ingest,
            commands,
            registered: Mutex::new(Vec::new()),
            live,
            current: Mutex::new(authorizer.layouts()),
            counters: TranslatorCounters::default(),
        });
        translator.register(&authorizer.layouts());
        let weak = Arc::downgrade(&translator);
        authorizer.on_layouts(Arc::new(move |directory: &Arc<LayoutDirectory>| {
            if let Some(translator) = weak.upgrade() {
                translator.register(directory);
                translator.disconnect_changed(directory);
            }
        }));
        let publisher = translator.clone();
        let task = tokio::spawn(async move {
            while let Some(envelope) = queue.recv().await {
                if publisher.bus.publish(envelope).await.is_err() {
                    publisher
                        .counters
                        .live_dropped
                        .fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        (translator, task)
    }

    /// Registers the directory's filters not registered yet.
    fn register(self: &Arc<Self>, directory: &LayoutDirectory) {
        let mut registered = self.registered.lock();
        for filter in &directory.filters {
            if registered.iter().any(|known| **known == **filter) {
                continue;
            }
            let filter: Arc<str> = filter.as_str().into();
            let interceptor = Arc::new(FilterInterceptor {
                filter: filter.clone(),
                translator: self.clone(),
            });
            match self.bus.intercept(&filter, interceptor) {
                Ok(()) => registered.push(filter),
                Err(error) => tracing::warn!(%filter, "layout filter not intercepted: {error}"),
            }
        }
    }

    /// Disconnects the devices whose layout rights changed or went away (their
    /// subscriptions were granted under the old rules; a device's are not checked per
    /// delivery), so that they come back under the new ones.
    fn disconnect_changed(&self, newer: &Arc<LayoutDirectory>) {
        let older = std::mem::replace(&mut *self.current.lock(), newer.clone());
        let changed: Vec<Arc<str>> = older
            .devices
            .iter()
            .filter(|(id, old)| {
                newer.devices.get(*id).is_none_or(|new| {
                    new.layout.layout != old.layout.layout
                        || new.command_filters != old.command_filters
                        || new.via_app != old.via_app
                })
            })
            .map(|(id, _)| id.clone())
            .collect();
        if changed.is_empty() {
            return;
        }
        let bus = self.bus.clone();
        tokio::spawn(async move {
            for device in changed {
                if bus.kick(&device).await.unwrap_or(false) {
                    tracing::info!(%device, "disconnected a device whose topic layout changed");
                }
            }
        });
    }

    /// Finds the publisher's rule for the message and hands the translation on.
    fn translate(&self, message: &Envelope, ack: Option<AckToken>) {
        let directory = self.authorizer.layouts();
        let found = message
            .principal
            .as_ref()
            .and_then(|principal| find(&directory, principal, message));
        let Some((device, rule, translated, found_raw)) = found else {
            self.counters.ignored.fetch_add(1, Ordering::Relaxed);
            if let Some(token) = ack {
                token.accept();
            }
            return;
        };
        let counter = match found_raw {
            true => &self.counters.unreadable,
            false => &self.counters.translated,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let topic = format!("devices/{device}/{}", translated.kind.topic_level());
        let mut hearth = Envelope::new(topic, translated.payload)
            .with_qos(message.qos)
            .with_retain(message.retain);
        hearth.client_id = message.client_id.clone();
        hearth.principal = Some(Principal::new(PrincipalKind::Device, device.clone()));
        let reported = (rule.ack && translated.kind != InboundKind::Status)
            .then(|| serde_json::from_slice(&hearth.payload).ok())
            .flatten();
        self.ingest.intercept(&hearth, ack);
        let mut live = hearth.clone();
        live.client_id = None;
        live.principal = None;
        if self.live.try_send(live).is_err() {
            self.counters.live_dropped.fetch_add(1, Ordering::Relaxed);
        }
        if rule.ack
            && let Some(commands) = &self.commands
        {
            commands.foreign_ack(&device, reported);
        }
    }
}

/// The device, rule and translation for a message: the publisher's own rules (a
/// device without `via_app`), or those of the devices that come through the
/// publishing application. `{id}` must be the device's.
fn find(
    directory: &LayoutDirectory,
    principal: &Principal,
    message: &Envelope,
) -> Option<(
    Arc<str>,
    hearth_model::layout::InboundRule,
    Translated,
    bool,
)> {
    let candidates: Vec<&Arc<str>> = match principal.kind {
        PrincipalKind::Device => directory
            .devices
            .get_key_value(&principal.name)
            .filter(|(_, mapped)| mapped.via_app.is_none())
            .map(|(id, _)| id)
            .into_iter()
            .collect(),
        PrincipalKind::Application => directory
            .via_app
            .get(&principal.name)
            .map(|devices| devices.iter().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    // A message on the device's own topic that no rule reads is not lost: it goes to
    // ingest as received under the first matching rule's kind, and ingest stores it
    // raw and flagged as it does a bad payload on `devices/{id}/...` (never an ack).
    let mut unread = None;
    for id in candidates {
        let mapped = directory.devices.get(id)?;
        let compiled = &mapped.layout;
        for (pattern, rule) in compiled.inbound.iter().zip(&compiled.layout.inbound) {
            if !pattern.matches_device(&message.topic, id) {
                continue;
            }
            match rule.translate(&message.payload) {
                Some(translated) => return Some((id.clone(), rule.clone(), translated, false)),
                None => {
                    unread.get_or_insert_with(|| (id.clone(), rule.clone()));
                }
            }
        }
    }
    unread.map(|(id, mut rule)| {
        rule.ack = false;
        let raw = Translated {
            kind: rule.kind,
            payload: message.payload.to_vec(),
        };
        (id, rule, raw, true)
    })
}

/// MQTT filter matching (`+` one level, `#` the rest) for the translator's filters.
fn topic_matches(filter: &str, topic: &str) -> bool {
    let (mut filter, mut topic) = (filter.split('/'), topic.split('/'));
    loop {
        match (filter.next(), topic.next()) {
            (Some("#"), _) => return true,
            (None, None) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn filters_match_topics_level_by_level() {
        use super::topic_matches;
        assert!(topic_matches("home/+/bulb/+/state", "home/k/bulb/b1/state"));
        assert!(topic_matches("/+/statu", "/123/statu"));
        assert!(!topic_matches("/+/statu", "123/statu"));
        assert!(!topic_matches("home/+/bulb/+/state", "home/k/bulb/b1"));
        assert!(topic_matches("a/#", "a/b/c"));
    }
}
