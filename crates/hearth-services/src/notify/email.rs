//! The e-mail channel: one plain-text message per notification over SMTP, with
//! STARTTLS (port 587), implicit TLS (465) or neither (a relay on the same machine, a
//! test sink), settings in `hearth.toml`'s `[notifications.email]`.
//!
//! lettre does the SMTP (with its own tokio + rustls transport, ring provider, no
//! aws-lc) and the MIME, which matters for 简体中文 subjects (RFC 2047 encoded words)
//! and bodies (quoted-printable / base64). TLS trusts the system's roots (read by
//! rustls-native-certs: Debian's ca-certificates) and the `ca_file` when set. The Message-ID is the
//! notification's id, so that a retry after an unanswered attempt is one message to
//! mail clients.

use super::text::render;
use super::{Channel, Failure};
use async_trait::async_trait;
use hearth_model::Notification;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// One attempt's deadline (connect, TLS, each command).
const TIMEOUT: Duration = Duration::from_secs(30);

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EmailTls {
    /// Plain connection upgraded with STARTTLS, which must succeed (default port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (default port 465).
    Tls,
    /// No encryption (default port 25): only for a relay on this machine or a test sink.
    None,
}

/// `[notifications.email]`: the SMTP server alerts are sent through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The server's host name (checked against its certificate).
    pub host: String,
    /// Default: 587 with STARTTLS, 465 with TLS, 25 without.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: EmailTls,
    /// Log in with these when set (PLAIN or LOGIN, over TLS only unless `tls = "none"`).
    #[serde(default)]
    pub username: Option<String>,
    /// The password in the file (preferred; keep it mode 0600) or here.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The sender, `Hearth <hearth@example.org>` or an address.
    pub from: String,
    /// Extra trusted root certificates (PEM), for a relay with its own CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Put before the alert's path in messages (`https://hearth.example.org`); the path
    /// alone when unset.
    #[serde(default)]
    pub link_base: Option<String>,
}

/// Sends through one configured server; one connection per message.
pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    link_base: String,
}

impl std::fmt::Debug for EmailChannel {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("EmailChannel")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// The password from `password` or `password_file` (one line; the newline dropped).
fn read_password(config: &EmailConfig) -> Result<Option<String>, String> {
    match (&config.password, &config.password_file) {
        (Some(_), Some(_)) => Err("set password or password_file, not both".into()),
        (Some(password), None) => Ok(Some(password.clone())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|text| Some(text.trim_end_matches(['\r', '\n']).to_owned()))
            .map_err(|error| format!("{}: {error}", path.display())),
        (None, None) => Ok(None),
    }
}

impl EmailChannel {
    /// The channel for `config`, or what is wrong with the settings (the hub refuses to
    /// start on it).
    pub fn from_config(config: &EmailConfig) -> Result<EmailChannel, String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|error| format!("notifications.email.from: {error}"))?;
        let tls_parameters = || -> Result<TlsParameters, String> {
            let mut builder = TlsParameters::builder(config.host.clone());
            if let Some(path) = &config.ca_file {
                let pem = std::fs::read(path)
                    .map_err(|error| format!("notifications.email.ca_file: {error}"))?;
                let roots = Certificate::from_pem(&pem)
                    .map_err(|error| format!("notifications.email.ca_file: {error}"))?;
                builder = builder.add_root_certificate(roots);
            }
            builder
                .build_rustls()
                .map_err(|error| format!("notifications.email: {error}"))
        };
        let (tls, default_port) = match config.tls {
            EmailTls::Starttls => (Tls::Required(tls_parameters()?), 587),
            EmailTls::Tls => (Tls::Wrapper(tls_parameters()?), 465),
            EmailTls::None => (Tls::None, 25),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port.unwrap_or(default_port))
            .tls(tls)
            .timeout(Some(TIMEOUT));
        let password =
            read_password(config).map_err(|error| format!("notifications.email: {error}"))?;
        match (&config.username, password) {
            (Some(username), Some(password)) => {
                builder = builder.credentials(Credentials::new(username.clone(), password));
            }
            (Some(_), None) => {
                return Err("notifications.email: username without password".into());
            }
            (None, Some(_)) => {
                return Err("notifications.email: password without username".into());
            }
            (None, None) => {}
        }
        Ok(EmailChannel {
            transport: builder.build(),
            from,
            link_base: config.link_base.clone().unwrap_or_default(),
        })
    }

    /// The message `notification` becomes (public for tests).
    pub fn message(&self, notification: &Notification) -> Result<Message, Failure> {
        let Some(to) = notification.target["to"].as_str() else {
            return Err(Failure::permanent("the e-mail has no address"));
        };
        let to: Mailbox = to
            .parse()
            .map_err(|error| Failure::permanent(format!("bad address {to:?}: {error}")))?;
        let text = render(notification, &self.link_base);
        let host = self.from.email.domain().to_owned();
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(text.subject)
            .message_id(Some(format!("<{}@{host}>", notification.id)))
            .header(ContentType::TEXT_PLAIN)
            .body(text.body)
            .map_err(|error| Failure::permanent(error.to_string()))
    }
}

#[async_trait]
impl Channel for EmailChannel {
    async fn deliver(&self, notification: &Notification) -> Result<String, Failure> {
        let message = self.message(notification)?;
        match self.transport.send(message).await {
            Ok(response) => Ok(format!(
                "{} {}",
                response.code(),
                response.message().collect::<Vec<_>>().join(" ")
            )
            .trim_end()
            .to_owned()),
            // A 5xx answer (no such mailbox, refused sender) will not change on retry.
            Err(error) if error.is_permanent() => Err(Failure::permanent(error.to_string())),
            Err(error) => Err(Failure::retry(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(text: serde_json::Value) -> EmailConfig {
        serde_json::from_value(text).unwrap()
    }

    #[test]
    fn settings_are_checked() {
        let good =
            config(json!({"host": "smtp.example.org", "from": "Hearth <hearth@example.org>"}));
        assert_eq!(good.tls, EmailTls::Starttls);
        assert!(EmailChannel::from_config(&good).is_ok());
        let bad_from = config(json!({"host": "smtp.example.org", "from": "nobody"}));
        assert!(
            EmailChannel::from_config(&bad_from)
                .unwrap_err()
                .contains("from")
        );
        let lonely = config(json!({"host": "h", "from": "a@example.org", "tls": "none",
            "username": "u"}));
        assert!(EmailChannel::from_config(&lonely).is_err());
    }
}
