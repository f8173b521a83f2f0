//! Where people's browsers open their live view (MQTT over WebSocket), or why they
//! cannot: what `/api/v1/mqtt/credentials` answers with (`CredentialAdapter`).
//!
//! With the built-in broker it is the hub's own WebSocket listener. With an external
//! broker (issue 21, docs/scale.md "The web app's live view") it is
//! `[mqtt.external] browser_url`, and only when that broker checks the browsers'
//! short-lived tokens by asking a Hearth node over HTTP (`[broker_auth]`): Mosquitto's
//! dynamic security cannot (the hub writes it no tokens), and a token the broker cannot
//! check would only be a failed login. Every node then signs tokens with the key of
//! `browser_key_file`, so that the node the broker asks accepts what another issued.

use crate::config::HearthConfig;
use anyhow::Context;
use hearth_broker::external::{BrowserUrl, MqttMode};
use hearth_services::auth::RegistryAuthorizer;
use hearth_services::dynsec::BrokerKey;
use std::net::SocketAddr;

/// The purpose the token key is derived for from `browser_key_file`.
const TOKEN_KEY_PURPOSE: &str = "browser-mqtt-tokens";

/// The listeners of the built-in broker and the web that browsers may use.
pub(crate) struct BuiltinListeners {
    pub https: Option<SocketAddr>,
    pub ws: Option<SocketAddr>,
    pub wss: Option<SocketAddr>,
}

/// The WebSocket URL browsers get, or the reason they get none (answered with 503 and
/// shown by the web app as "live view unavailable"). In external mode with a
/// `browser_url` this also makes `authorizer` sign tokens with the shared key (read or
/// made now, so that a bad key file stops the start).
pub(crate) fn browser_ws_url(
    config: &HearthConfig,
    authorizer: &RegistryAuthorizer,
    builtin: BuiltinListeners,
) -> anyhow::Result<Result<String, String>> {
    let external = match (config.mqtt.mode, &config.mqtt.external) {
        (MqttMode::External, Some(external)) => external,
        _ => return Ok(builtin_url(&builtin)),
    };
    let url = match external_refusal(config, external.browser_url.as_ref()) {
        Ok(url) => url,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let path = external.browser_key_path(&config.data_dir);
    let key = BrokerKey::load_or_create(&path)
        .map_err(anyhow::Error::msg)
        .context("[mqtt.external] browser_key_file")?;
    authorizer.use_user_token_key(key.derive(TOKEN_KEY_PURPOSE));
    Ok(Ok(url.as_str().to_owned()))
}

/// The built-in broker's listener. A hub that serves HTTPS itself names its WSS
/// listener: a page loaded over HTTPS may not open ws:// (mixed content).
fn builtin_url(builtin: &BuiltinListeners) -> Result<String, String> {
    match (builtin.https, builtin.wss, builtin.ws) {
        (Some(_), Some(wss), _) => Ok(format!("wss://{wss}/mqtt")),
        (_, _, Some(ws)) => Ok(format!("ws://{ws}/mqtt")),
        _ => Err("MQTT over WebSocket is off on this hub (--ws)".to_owned()),
    }
}

/// `browser_url` when the external broker can check browsers' tokens, else why not.
fn external_refusal<'a>(
    config: &HearthConfig,
    browser_url: Option<&'a BrowserUrl>,
) -> Result<&'a BrowserUrl, String> {
    let Some(url) = browser_url else {
        return Err(
            "this hub uses an external MQTT broker and [mqtt.external] has no browser_url: \
             an administrator sets it to the broker's WebSocket address (with a broker that \
             checks logins over HTTP, [broker_auth])"
                .to_owned(),
        );
    };
    let refusal = if config.dynsec.is_some() {
        "[dynsec] is set: Mosquitto's dynamic security cannot check browsers' short-lived \
         tokens; the live view needs a broker that checks logins over HTTP ([broker_auth])"
    } else if config.broker_auth.is_none() {
        "[broker_auth] is not set: the external broker cannot check browsers' short-lived \
         tokens without asking a Hearth node over HTTP"
    } else {
        return Ok(url);
    };
    tracing::warn!("[mqtt.external] browser_url is set but the live view stays off: {refusal}");
    Err(format!("no live view on this hub: {refusal}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn external(extra: &str) -> HearthConfig {
        HearthConfig::from_toml(&format!(
            "[mqtt]\nmode = \"external\"\n[mqtt.external]\nurl = \"mqtt://127.0.0.1\"\n{extra}"
        ))
        .unwrap()
    }

    fn refusal(config: &HearthConfig) -> Result<String, String> {
        let external = config.mqtt.external.as_ref().unwrap();
        external_refusal(config, external.browser_url.as_ref()).map(|url| url.as_str().to_owned())
    }

    #[test]
    fn an_external_broker_gets_browsers_only_with_browser_url_and_http_auth() {
        const URL: &str = "browser_url = \"wss://broker.lan:8084/mqtt\"\n";
        const AUTH: &str = "[broker_auth]\nsecret = \"broker-auth-test-secret-0123456789\"\n";
        const DYNSEC: &str =
            "[dynsec]\nurl = \"mqtt://127.0.0.1:1883\"\nadmin = \"a\"\npassword = \"p\"\n";
        assert_eq!(
            refusal(&external(&format!("{URL}{AUTH}"))).unwrap(),
            "wss://broker.lan:8084/mqtt"
        );
        let no_url = refusal(&external(AUTH)).unwrap_err();
        assert!(no_url.contains("browser_url"), "{no_url}");
        let no_auth = refusal(&external(URL)).unwrap_err();
        assert!(no_auth.contains("[broker_auth]"), "{no_auth}");
        let dynsec = refusal(&external(&format!("{URL}{AUTH}{DYNSEC}"))).unwrap_err();
        assert!(dynsec.contains("dynamic security"), "{dynsec}");
    }

    #[test]
    fn the_builtin_broker_names_its_listener_and_wss_behind_https() {
        let addr = |port| Some(SocketAddr::from(([127, 0, 0, 1], port)));
        let listeners = |https, ws, wss| BuiltinListeners { https, ws, wss };
        assert_eq!(
            builtin_url(&listeners(None, addr(8083), addr(8084))).unwrap(),
            "ws://127.0.0.1:8083/mqtt"
        );
        assert_eq!(
            builtin_url(&listeners(addr(443), addr(8083), addr(8084))).unwrap(),
            "wss://127.0.0.1:8084/mqtt"
        );
        assert!(builtin_url(&listeners(None, None, addr(8084))).is_err());
    }
}
