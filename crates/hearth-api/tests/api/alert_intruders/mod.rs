//! Alerts (issue 15) against the people who should not use them (docs/security.md):
//! rules (members read, the group's admins write, other groups' ids look unknown, a
//! rule names only its group's devices and applications, webhook secrets are never
//! shown and cannot be moved to another URL), and alerts (the listing shows only the
//! caller's groups, members and up acknowledge and clear, viewers may not, other groups'
//! ids look unknown, the notifications' secrets are never shown).

use super::*;
use hearth_model::{Alert, AlertState, Role, Severity};
use hearth_testkit::Backend;

mod alerts;
mod rules;

/// The webhook secret of `home`'s rule: no response may contain it.
const SECRET: &str = "home-hook-secret-4d9f2a";
/// The secret of `elsewhere`'s alert's notification.
const THEIR_SECRET: &str = "their-hook-secret-77c1e0";
/// The secret of the webhook hearth.toml defines (`family-chat`).
const NAMED_SECRET: &str = "named-hook-secret-0b3e58";

/// Adds `name` (password `{name}-password`) with `role` in group `home`.
async fn member(hub: &Hub, name: &str, role: Role) {
    hub.add_user(name).await;
    hub.registry
        .set_member("cli:test", &ids::group("home"), &ids::user(name), role)
        .await
        .unwrap();
}

/// `stranger`, the owner of `elsewhere`, with its application `attic-app` and its device
/// `attic-sensor`.
async fn elsewhere(hub: &Hub) {
    hub.add_user("stranger").await;
    hub.registry
        .add_group(
            "cli:test",
            &ids::group("elsewhere"),
            None,
            Some(&ids::user("stranger")),
        )
        .await
        .unwrap();
    hub.registry
        .add_app(
            "cli:test",
            &ids::app("attic-app"),
            &ids::group("elsewhere"),
            None,
            None,
        )
        .await
        .unwrap();
    hub.add_device("attic-sensor", "attic-app").await;
}

/// People of `home`: gina (admin), alice (member), vera (viewer); and `elsewhere`.
async fn people(hub: &Hub) {
    member(hub, "gina", Role::Admin).await;
    member(hub, "alice", Role::Member).await;
    member(hub, "vera", Role::Viewer).await;
    elsewhere(hub).await;
}

fn other_origin(hub: &Hub) -> String {
    format!("http://127.0.0.1:{}", hub.address.port() + 1)
}

/// A token of the person logged in with `cookie`.
async fn token_of(hub: &Hub, cookie: &Auth) -> Auth {
    let created = hub
        .call(
            "POST",
            "/api/v1/tokens",
            cookie,
            Some(json!({"name": "script"})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    Auth::Bearer(created.json()["token_secret"].as_str().unwrap().to_owned())
}

/// The reply, after checking that no webhook secret is anywhere in its raw body.
fn without_secrets(what: &str, reply: Reply) -> Reply {
    let body = String::from_utf8_lossy(&reply.body);
    for secret in [SECRET, THEIR_SECRET, NAMED_SECRET] {
        assert!(!body.contains(secret), "{what} shows a secret: {body}");
    }
    reply
}

/// The error message of `reply`, with `id` written as `unknown`: another group's id
/// must be answered in the words of an id that does not exist.
fn words(reply: &Reply, id: &str, unknown: &str) -> String {
    reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .replace(id, unknown)
}

/// A rule of `group` on `device`'s temperature above 60, telling a webhook at `url`.
fn freezer_rule(group: &str, device: &str, url: &str) -> Value {
    json!({"group": group, "name": "Freezer too warm", "severity": "major",
        "condition": {"type": "reading", "device": device, "metric": "temperature", "gt": 60},
        "notify": [{"channel": "webhook", "url": url, "secret": SECRET}]})
}
