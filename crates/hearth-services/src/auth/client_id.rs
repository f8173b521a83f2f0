//! Who may use which MQTT client id (SPEC §5: a client id is owned).
//!
//! A client id names a session, and whoever connects with it takes over the live
//! connection and, without a clean start, receives what is queued for it. So ids are
//! divided among principals, and the authorizer refuses an id that belongs to someone
//! else before the broker ever sees the CONNECT:
//!
//! | id | belongs to |
//! |---|---|
//! | a registered device id | that device alone (and a device uses no other id) |
//! | `web:{user}:{anything}` | that person's browsers (the hub issues these) |
//! | `{mqtt key}` or `{mqtt key}:{anything}` | that application |
//! | `site:{site id}` | that site's link (issue 20): one at a time |
//! | anything else | administrators, password-file users and anonymous clients |
//!
//! Ids, user names and MQTT keys never contain `:`, so the namespaces cannot overlap.
//! Within the last, free-form namespace the broker keeps each stored session for the
//! principal that created it.

use hearth_bus::{AuthError, Principal, PrincipalKind};

use super::snapshot::Snapshot;

/// The prefix of a site's client id: `site:{site id}` (issue 20).
pub const SITE_CLIENT_ID_PREFIX: &str = "site:";

/// The prefix of the client ids the hub issues to a person's browser.
pub const BROWSER_CLIENT_ID_PREFIX: &str = "web:";

/// A fresh client id for `user`'s browser, in that person's namespace.
pub fn browser_client_id(user: &str, suffix: &str) -> String {
    format!("{BROWSER_CLIENT_ID_PREFIX}{user}:{suffix}")
}

/// Checks that `principal`, who logged in as `username`, may use `client_id`.
/// Refusals carry 0x85 (Client Identifier not valid); 3.x clients read "identifier
/// rejected".
pub(crate) fn check(
    snapshot: &Snapshot,
    principal: &Principal,
    username: Option<&str>,
    client_id: &str,
) -> Result<(), AuthError> {
    let refuse = |why: String| {
        Err(AuthError {
            reason: 0x85,
            message: why,
        })
    };
    match principal.kind {
        PrincipalKind::Site => {
            return if client_id.strip_prefix(SITE_CLIENT_ID_PREFIX) == Some(&*principal.name) {
                Ok(())
            } else {
                refuse(format!(
                    "site {} must connect with client id {SITE_CLIENT_ID_PREFIX}{}",
                    principal.name, principal.name
                ))
            };
        }
        PrincipalKind::Device => {
            if client_id != &*principal.name {
                return refuse(format!(
                    "device {} must connect with client id {}",
                    principal.name, principal.name
                ));
            }
            return Ok(());
        }
        PrincipalKind::User => {
            let own = client_id
                .strip_prefix(BROWSER_CLIENT_ID_PREFIX)
                .and_then(|rest| rest.strip_prefix(&*principal.name))
                .is_some_and(|rest| rest.starts_with(':'));
            if !own {
                return refuse(format!(
                    "a browser of {} connects with a client id {}{}:...",
                    principal.name, BROWSER_CLIENT_ID_PREFIX, principal.name
                ));
            }
            return Ok(());
        }
        PrincipalKind::Application => {
            let key = username.unwrap_or_default();
            let own = !key.is_empty()
                && client_id
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'));
            // A discovery login's devices keep their firmware's own client ids
            // (`DVES_ABBD20`, `shellyplus1-...`): free-form ones, below.
            if !own && !snapshot.discovery_apps.contains(&principal.name) {
                return refuse(format!(
                    "application {} connects with client id {key} or {key}:...",
                    principal.name
                ));
            }
            if own {
                return Ok(());
            }
        }
        PrincipalKind::Admin
        | PrincipalKind::ConfigUser
        | PrincipalKind::Anonymous
        | PrincipalKind::Service => {}
    }
    // Free-form ids: anything not in another principal's namespace.
    if snapshot.devices.contains_key(client_id) {
        return refuse(format!("client id {client_id} belongs to a device"));
    }
    if client_id.starts_with(SITE_CLIENT_ID_PREFIX) {
        return refuse(format!(
            "client ids {SITE_CLIENT_ID_PREFIX}... belong to sites"
        ));
    }
    if client_id.starts_with(BROWSER_CLIENT_ID_PREFIX) {
        return refuse(format!(
            "client ids {BROWSER_CLIENT_ID_PREFIX}... belong to browsers"
        ));
    }
    let key = client_id.split(':').next().unwrap_or(client_id);
    if snapshot.apps.contains_key(key) {
        return refuse(format!("client id {client_id} belongs to an application"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::snapshot::{AppEntry, DeviceEntry};
    use std::sync::Arc;

    fn snapshot() -> Snapshot {
        let mut snapshot = Snapshot::default();
        snapshot.devices.insert(
            Arc::from("lamp"),
            DeviceEntry {
                app: Arc::from("garden"),
                enabled: true,
                secret_hash: Arc::from(""),
                cert_sha256: None,
            },
        );
        snapshot.apps.insert(
            Arc::from("app-k1"),
            AppEntry {
                id: Arc::from("garden"),
                secret_hash: Arc::from(""),
            },
        );
        snapshot
    }

    fn ok(principal: &Principal, username: &str, client_id: &str) -> bool {
        check(&snapshot(), principal, Some(username), client_id).is_ok()
    }

    #[test]
    fn a_device_id_is_that_device_alone() {
        let device = Principal::new(PrincipalKind::Device, "lamp");
        assert!(ok(&device, "lamp", "lamp"));
        assert!(!ok(&device, "lamp", "lamp2"));
        for intruder in [
            Principal::new(PrincipalKind::Admin, "root"),
            Principal::new(PrincipalKind::ConfigUser, "alice"),
            Principal::new(PrincipalKind::Anonymous, "lamp"),
            Principal::new(PrincipalKind::User, "alice"),
            Principal::new(PrincipalKind::Application, "garden"),
        ] {
            let error = check(&snapshot(), &intruder, Some("app-k1"), "lamp").unwrap_err();
            assert_eq!(error.reason, 0x85, "{intruder:?}");
        }
    }

    #[test]
    fn browser_ids_are_bound_to_their_person() {
        let alice = Principal::new(PrincipalKind::User, "alice");
        assert!(ok(&alice, "alice", &browser_client_id("alice", "x1")));
        assert!(!ok(&alice, "alice", &browser_client_id("bob", "x1")));
        assert!(!ok(&alice, "alice", "web:alice"));
        assert!(!ok(&alice, "alice", "web:alicex:1"));
        assert!(!ok(&alice, "alice", "anything"));
        let admin = Principal::new(PrincipalKind::Admin, "root");
        assert!(!ok(&admin, "root", "web:alice:x1"));
    }

    #[test]
    fn application_ids_are_bound_to_their_key() {
        let app = Principal::new(PrincipalKind::Application, "garden");
        assert!(ok(&app, "app-k1", "app-k1"));
        assert!(ok(&app, "app-k1", "app-k1:worker-2"));
        assert!(!ok(&app, "app-k1", "app-k1x"));
        assert!(!ok(&app, "app-k1", "my-script"));
        let admin = Principal::new(PrincipalKind::Admin, "root");
        assert!(!ok(&admin, "root", "app-k1"));
        assert!(!ok(&admin, "root", "app-k1:worker-2"));
    }

    #[test]
    fn a_discovery_login_uses_free_form_ids_but_not_others_namespaces() {
        let mut snapshot = snapshot();
        snapshot.discovery_apps.insert(Arc::from("garden"));
        let app = Principal::new(PrincipalKind::Application, "garden");
        let ok = |id: &str| check(&snapshot, &app, Some("app-k1"), id).is_ok();
        assert!(ok("DVES_ABBD20"));
        assert!(ok("shellyplus1-a8032ab11964"));
        assert!(ok("app-k1:tasmota"));
        assert!(!ok("lamp"));
        assert!(!ok("web:alice:x1"));
        snapshot.apps.insert(
            Arc::from("app-other"),
            AppEntry {
                id: Arc::from("other"),
                secret_hash: Arc::from(""),
            },
        );
        assert!(check(&snapshot, &app, Some("app-k1"), "app-other:x").is_err());
        // An ordinary application still may not.
        let plain = Principal::new(PrincipalKind::Application, "plain");
        assert!(check(&snapshot, &plain, Some("app-k2"), "DVES_ABBD20").is_err());
    }

    #[test]
    fn free_form_ids_stay_free_outside_the_owned_namespaces() {
        let admin = Principal::new(PrincipalKind::Admin, "root");
        assert!(ok(&admin, "root", "mosq-7f3a"));
        assert!(ok(&admin, "root", "dashboard"));
        let anonymous = Principal::new(PrincipalKind::Anonymous, "x");
        assert!(ok(&anonymous, "", "sensor-script"));
    }
}
