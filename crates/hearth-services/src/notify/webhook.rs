//! The webhook channel: a JSON POST of the notification's payload, signed so that the
//! receiver can tell it came from the hub: `X-Hearth-Signature: sha256=<hex>` is
//! HMAC-SHA256 over `<timestamp>.<body>` with the target's secret, `X-Hearth-Timestamp`
//! the Unix seconds it was signed (receivers should refuse old ones, against replays),
//! and `X-Hearth-Delivery` the notification's id (the same on every retry).

use super::{Channel, Failure};
use crate::outbound::HttpClient;
use async_trait::async_trait;
use hearth_model::Notification;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::time::Duration;

/// The whole exchange's deadline.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct WebhookChannel {
    http: HttpClient,
}

impl WebhookChannel {
    pub fn new(http: HttpClient) -> WebhookChannel {
        WebhookChannel { http }
    }
}

/// The signature header's value for `body` signed at `timestamp` with `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[async_trait]
impl Channel for WebhookChannel {
    async fn deliver(&self, notification: &Notification) -> Result<String, Failure> {
        let Some(url) = notification.target["url"].as_str() else {
            return Err(Failure::permanent("the webhook has no url"));
        };
        let secret = notification.target["secret"].as_str().unwrap_or_default();
        let body = notification.payload.to_string();
        let timestamp = hearth_model::now_millis() / 1000;
        let signed = signature(secret, timestamp, &body);
        let timestamp = timestamp.to_string();
        let headers = [
            ("x-hearth-signature", signed.as_str()),
            ("x-hearth-timestamp", timestamp.as_str()),
            ("x-hearth-delivery", notification.id.as_str()),
            ("x-hearth-event", notification.event.as_str()),
        ];
        match self
            .http
            .post_raw(url, body.into_bytes(), &headers, TIMEOUT)
            .await
        {
            Ok(status) if (200..300).contains(&status) => Ok(format!("HTTP {status}")),
            // A 4xx other than 408/429 will not get better by asking again.
            Ok(status) if (400..500).contains(&status) && status != 408 && status != 429 => {
                Err(Failure::permanent(format!("HTTP {status}")))
            }
            Ok(status) => Err(Failure::retry(format!("HTTP {status}"))),
            Err(error) => Err(Failure::retry(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_and_body() {
        // Computed independently with
        // `printf '1700000000.{}' | openssl dgst -sha256 -hmac s3cret`.
        assert_eq!(
            signature("s3cret", 1_700_000_000, "{}"),
            "sha256=97926816e98fbb41ccb1673225ff29a2f35369099990e1b1561651e7bd097ebf"
        );
    }
}
