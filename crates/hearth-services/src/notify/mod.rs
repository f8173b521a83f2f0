//! Notification channels (issue 15): how a stored [`Notification`] reaches its
//! destination. The alert engine writes notifications into the store's outbox with the
//! alert change that causes them; [`delivery`] sends what is due through the
//! [`Channel`] of its `channel` and records every attempt.
//!
//! - `webhook`: a JSON POST signed with HMAC-SHA256 (`webhook.rs`).
//! - `email`: SMTP (`email.rs`), `push`: Web Push (`push.rs`), when configured.
//! - `in_app` needs no delivery: the engine publishes alerts live on
//!   `hearth/alerts/{group}` and the web app lists them.
//!
//! [`people::recipients`] turns "the group's people by e-mail / push" into one
//! notification per person and destination, following each person's preferences.

pub mod delivery;
pub mod email;
pub mod people;
pub mod push;
pub mod settings;
pub mod text;
pub mod webhook;

use async_trait::async_trait;
use hearth_model::Notification;
use std::collections::HashMap;
use std::sync::Arc;

/// One way of sending. `deliver` is called once per attempt; `Ok` says what the other
/// side answered (`HTTP 204`, `250 queued`), `Err` why it failed (the attempt is
/// retried with back-off unless [`Failure::permanent`]).
#[async_trait]
pub trait Channel: Send + Sync {
    async fn deliver(&self, notification: &Notification) -> Result<String, Failure>;
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    /// Retrying cannot help (a malformed destination, a push subscription that is
    /// gone): the notification fails at once.
    pub permanent: bool,
}

impl Failure {
    pub fn retry(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            permanent: false,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            permanent: true,
        }
    }
}

/// The channels this hub can send through, by name.
#[derive(Clone, Default)]
pub struct Channels {
    by_name: HashMap<&'static str, Arc<dyn Channel>>,
}

impl Channels {
    /// The channels every hub has (webhooks); e-mail and push are added when configured.
    pub fn new(http: crate::outbound::HttpClient) -> Channels {
        let mut channels = Channels::default();
        channels.add("webhook", Arc::new(webhook::WebhookChannel::new(http)));
        channels
    }

    pub fn add(&mut self, name: &'static str, channel: Arc<dyn Channel>) {
        self.by_name.insert(name, channel);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Channel>> {
        self.by_name.get(name)
    }
}
