//! What a hub does once as it starts, apart from wiring its parts (`hub.rs`): the owner
//! account on an empty registry, the notification channels from `[notifications]`, and
//! the database URL as logs may show it.

use crate::config::HearthConfig;
use anyhow::Context;
use hearth_services::Registry;
use std::sync::Arc;

/// Adds the e-mail channel when `[notifications.email]` is set and Web Push unless
/// `[notifications.push] enabled = false` (making the VAPID key pair in the data
/// directory at first start); the VAPID public key for the API.
pub(crate) fn add_notification_channels(
    config: &HearthConfig,
    store: &Arc<dyn hearth_store::Store>,
    http_client: hearth_services::outbound::HttpClient,
    channels: &mut hearth_services::notify::Channels,
) -> anyhow::Result<Option<String>> {
    use hearth_services::notify::{email, push};
    let settings = &config.notifications;
    if let Some(email_config) = &settings.email {
        let channel = email::EmailChannel::from_config(email_config)
            .map_err(anyhow::Error::msg)
            .context("configuring e-mail")?;
        channels.add("email", Arc::new(channel));
    }
    if !settings.push.enabled {
        return Ok(None);
    }
    let keys = push::VapidKeys::load_or_create(&config.data_dir.join("vapid.pem"))
        .map_err(anyhow::Error::msg)
        .context("reading the Web Push (VAPID) key")?;
    let public_key = keys.public_key();
    channels.add(
        "push",
        Arc::new(push::PushChannel::new(
            store.clone(),
            http_client,
            Arc::new(keys),
            settings.push_subject(),
            settings.push.ttl_secs,
        )),
    );
    Ok(Some(public_key))
}

/// On an empty registry, creates the owner account and says how to log in, once.
pub(crate) async fn first_start(
    registry: &Registry,
    password: Option<String>,
) -> anyhow::Result<()> {
    let Some(first) = registry
        .ensure_owner(password)
        .await
        .context("creating the owner account")?
    else {
        return Ok(());
    };
    match &first.generated_password {
        Some(password) => tracing::warn!(
            "first start: created the owner account `{}` with the one-time password {password} \
             (shown only now; change it with `hearth user passwd {}`). \
             首次启动：已创建管理员账户 `{}`，一次性密码 {password}（仅显示这一次）",
            first.owner.name,
            first.owner.name,
            first.owner.name
        ),
        None => tracing::info!(
            "first start: created the owner account `{}` with the password from the admin password file",
            first.owner.name
        ),
    }
    tracing::info!(
        "first start: created group `{}` and application `{}`; add a device with `hearth device add <id>`",
        first.group.id,
        first.app.id
    );
    Ok(())
}

/// The URL without its password, for logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn database_passwords_stay_out_of_logs() {
        assert_eq!(
            redact("postgres://hearth:s3cret@db:5432/hearth"),
            "postgres://hearth:***@db:5432/hearth"
        );
        assert_eq!(
            redact("postgres://hearth@db/hearth"),
            "postgres://hearth@db/hearth"
        );
        assert_eq!(redact("sqlite://data/hearth.db"), "sqlite://data/hearth.db");
        assert_eq!(
            redact("mysql://hearth:s3cret@db:3306/hearth?ssl-mode=required"),
            "mysql://hearth:***@db:3306/hearth?ssl-mode=required"
        );
        assert_eq!(
            redact("mariadb://hearth:p%40ss@db/hearth"),
            "mariadb://hearth:***@db/hearth"
        );
    }
}
