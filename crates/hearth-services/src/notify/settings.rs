//! `[notifications]` in `hearth.toml`: the e-mail server and Web Push.
//!
//! ```toml
//! [notifications.email]
//! host = "smtp.example.org"
//! tls = "starttls"            # or "tls" (port 465), or "none" (a local relay)
//! username = "hearth@example.org"
//! password_file = "/etc/hearth/smtp-password"
//! from = "Hearth <hearth@example.org>"
//!
//! [notifications.push]
//! subject = "mailto:admin@example.org"
//! ```

use super::email::EmailConfig;
use super::push::PushConfig;
use serde::{Deserialize, Serialize};

/// The channels that need settings; webhooks need none (each rule names its URL).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsConfig {
    /// E-mail is sent only when this is set.
    pub email: Option<EmailConfig>,
    pub push: PushConfig,
}

impl NotificationsConfig {
    /// The VAPID contact: the configured one, else the e-mail sender's address.
    pub fn push_subject(&self) -> String {
        if let Some(subject) = &self.push.subject {
            return subject.clone();
        }
        self.email
            .as_ref()
            .and_then(|email| email.from.parse::<lettre::message::Mailbox>().ok())
            .map(|mailbox| format!("mailto:{}", mailbox.email))
            .unwrap_or_else(|| "mailto:hearth@localhost".into())
    }
}
