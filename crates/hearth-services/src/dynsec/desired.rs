//! What Mosquitto's dynamic-security plugin should hold, computed from the registry:
//! one client and one role per device and per application, with the topic rules of
//! `auth/acl.rs` written as dynsec ACLs.
//!
//! Mosquitto 2.0's dynsec does not substitute `%u`/`%c` in ACL topics (tried against
//! Debian's 2.0.11: a `devices/%u/#` rule matched nothing), so every device gets a role
//! of its own naming its id literally.
//!
//! # Broker passwords
//! Dynsec stores its own salted hash of a client's password, so it must be sent the
//! plaintext; Hearth keeps device and application secrets only hashed and never sees
//! them again after showing them once. Hearth therefore gives each device and
//! application a *broker password* it can re-derive at any time:
//! `base64url(HMAC-SHA256(key, "hearth-dynsec-v1\0" kind "\0" name "\0" secret_hash))`,
//! where `key` is a 32-byte random key in a file of its own (`[dynsec] key_file`).
//! Because the current secret hash is an input, rotating the secret changes the broker
//! password (the old one stops working). docs/security.md and docs/scale.md say what
//! this costs.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// Prefix of every role Hearth manages; roles without it are left alone.
pub const ROLE_PREFIX: &str = "hearth-";

/// `textname` of every client Hearth manages (followed by the kind); clients without it
/// (the dynsec administrator, clients made by hand) are left alone.
pub const CLIENT_MARK: &str = "hearth ";

/// Deepest command name (`commands/a/b/c/ack`) whose acknowledgement a device may
/// publish: MQTT wildcards cannot say "ends in `/ack`" at any depth.
pub const MAX_COMMAND_LEVELS: usize = 3;

/// The key broker passwords are derived from. Losing it changes every broker password;
/// every Hearth node syncing the same broker needs the same one.
#[derive(Clone)]
pub struct BrokerKey([u8; 32]);

impl std::fmt::Debug for BrokerKey {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        out.write_str("BrokerKey(..)")
    }
}

impl BrokerKey {
    /// A key from its bytes (tests, or a key kept elsewhere).
    pub fn from_bytes(bytes: [u8; 32]) -> BrokerKey {
        BrokerKey(bytes)
    }

    /// Reads the key (64 hex digits) from `path`, or makes a new random one there with
    /// mode 0600 when the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<BrokerKey, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or_else(|| format!("{}: expected 64 hex digits", path.display()))?;
                Ok(BrokerKey(bytes))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(parent)
                        .map_err(|error| format!("{}: {error}", parent.display()))?;
                }
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|error| error.to_string())?;
                write_private(path, &hex::encode(bytes))
                    .map_err(|error| format!("{}: {error}", path.display()))?;
                Ok(BrokerKey(bytes))
            }
            Err(error) => Err(format!("{}: {error}", path.display())),
        }
    }

    /// A key for another `purpose` made from this one, so that a key file in the same
    /// format can serve it without the two uses ever sharing a key (the browsers'
    /// token key of external-broker mode, `[mqtt.external] browser_key_file`).
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(b"hearth-derived-key-v1\0");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The broker password of a device (`kind` "device", `name` its id) or an
    /// application (`kind` "app", `name` its MQTT key) whose secret is hashed as
    /// `secret_hash`.
    pub fn password(&self, kind: &str, name: &str, secret_hash: &str) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        for part in ["hearth-dynsec-v1", kind, name, secret_hash] {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

/// What stands in a client's `textdescription`: a fingerprint of the password it was
/// given, so that a resync can tell a stale password (rotated while Hearth was away)
/// without the broker revealing its hash. 64 bits of SHA-256 of a 256-bit value.
pub fn fingerprint(password: &str) -> String {
    let digest = Sha256::digest(format!("hearth-dynsec-fp\0{password}").as_bytes());
    format!("hearth:v1:{}", hex::encode(&digest[..8]))
}

/// One dynsec ACL entry, as the plugin's JSON names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct Acl {
    pub acltype: String,
    pub topic: String,
    pub priority: i64,
    pub allow: bool,
}

fn acl(acltype: &str, topic: String, priority: i64, allow: bool) -> Acl {
    Acl {
        acltype: acltype.to_owned(),
        topic,
        priority,
        allow,
    }
}

/// A client Hearth wants the broker to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedClient {
    /// "device" or "app".
    pub kind: &'static str,
    pub clientid: String,
    pub password: String,
    pub enabled: bool,
    pub role: String,
}

impl WantedClient {
    /// The `textname` marking it as Hearth's.
    pub fn textname(&self) -> String {
        format!("{CLIENT_MARK}{}", self.kind)
    }
}

/// The whole wanted state, by user name and by role name (sorted, so that the commands
/// come out in a stable order).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub clients: BTreeMap<String, WantedClient>,
    pub roles: BTreeMap<String, Vec<Acl>>,
}

/// The role of a device: `devices/{id}/...` except what the hub says to it or about it
/// (its commands, `command-status`), answers on `commands/.../ack`, and subscriptions
/// within `devices/{id}/commands/#` (as `acl::device_may_publish`/`device_may_subscribe`).
/// Within one role the highest priority that matches decides.
pub fn device_acls(id: &str) -> Vec<Acl> {
    let send = "publishClientSend";
    let mut acls = vec![
        acl(send, format!("devices/{id}/#"), 1, true),
        acl(send, format!("devices/{id}"), 3, false),
        acl(send, format!("devices/{id}/commands/#"), 2, false),
        acl(send, format!("devices/{id}/command-status/#"), 2, false),
        acl(
            "subscribePattern",
            format!("devices/{id}/commands/#"),
            1,
            true,
        ),
    ];
    for depth in 1..=MAX_COMMAND_LEVELS {
        let name = vec!["+"; depth].join("/");
        acls.push(acl(
            send,
            format!("devices/{id}/commands/{name}/ack"),
            3,
            true,
        ));
    }
    acls.sort();
    acls
}

/// The role of an application holding `devices`: it commands them (not `.../ack`),
/// subscribes to `devices/...` filters (one device's, or `devices/+/...`/`devices/#`),
/// and receives only its devices' messages (a `publishClientReceive` deny under
/// `devices/` below the per-device allows is the per-delivery filter of
/// `acl::app_subscribe_verdict`). Two ACLs per device and the rest shared: Mosquitto
/// saves the whole plugin file after every command, so the role's size is paid often.
pub fn app_acls<'d>(devices: impl IntoIterator<Item = &'d str>) -> Vec<Acl> {
    let send = "publishClientSend";
    let receive = "publishClientReceive";
    let mut acls = vec![
        acl(receive, "devices/#".to_owned(), 0, false),
        acl("subscribePattern", "devices/+/#".to_owned(), 0, true),
        acl("subscribeLiteral", "devices/#".to_owned(), 0, true),
        acl("subscribeLiteral", "devices/+".to_owned(), 0, true),
    ];
    // Never a device's answer, whichever device.
    for depth in 1..=MAX_COMMAND_LEVELS {
        let name = vec!["+"; depth].join("/");
        acls.push(acl(
            send,
            format!("devices/+/commands/{name}/ack"),
            2,
            false,
        ));
    }
    for id in devices {
        acls.push(acl(send, format!("devices/{id}/commands/#"), 1, true));
        acls.push(acl(receive, format!("devices/{id}/#"), 1, true));
    }
    acls.sort();
    acls
}

/// Role names: a device's and an application's.
pub fn device_role(id: &str) -> String {
    format!("{ROLE_PREFIX}device-{id}")
}

/// See [`device_role`].
pub fn app_role(app: &str) -> String {
    format!("{ROLE_PREFIX}app-{app}")
}

/// The wanted state for the registry's credentials. A name taken twice (an application
/// key equal to a device id) goes to the device, and the application is left out with a
/// warning.
pub fn wanted(credentials: &hearth_store::Credentials, key: &BrokerKey) -> Wanted {
    let mut wanted = Wanted::default();
    let mut app_devices: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for device in &credentials.devices {
        let id = device.id.as_str();
        app_devices
            .entry(device.application.as_str())
            .or_default()
            .push(id);
        let role = device_role(id);
        wanted.roles.insert(role.clone(), device_acls(id));
        wanted.clients.insert(
            id.to_owned(),
            WantedClient {
                kind: "device",
                clientid: id.to_owned(),
                password: key.password("device", id, &device.secret_hash),
                enabled: device.enabled,
                role,
            },
        );
    }
    for app in &credentials.apps {
        let name = app.mqtt_key.as_str();
        if wanted.clients.contains_key(name) {
            tracing::warn!(app = %app.id, "dynsec: the application's MQTT key is a device's id; it is not given a broker client");
            continue;
        }
        let devices = app_devices
            .get(app.id.as_str())
            .cloned()
            .unwrap_or_default();
        let role = app_role(app.id.as_str());
        wanted.roles.insert(role.clone(), app_acls(devices));
        wanted.clients.insert(
            name.to_owned(),
            WantedClient {
                kind: "app",
                clientid: name.to_owned(),
                password: key.password("app", name, &app.secret_hash),
                enabled: true,
                role,
            },
        );
    }
    wanted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_passwords_change_with_the_secret_and_the_key_only() {
        let key = BrokerKey::from_bytes([7; 32]);
        let one = key.password("device", "d1", "$hash-1");
        assert_eq!(one, key.password("device", "d1", "$hash-1"));
        assert_eq!(one.len(), 43);
        assert_ne!(one, key.password("device", "d1", "$hash-2"));
        assert_ne!(one, key.password("device", "d2", "$hash-1"));
        assert_ne!(one, key.password("app", "d1", "$hash-1"));
        // No ambiguity from joining: ("d1", "x$h") is not ("d1x", "$h").
        assert_ne!(
            key.password("device", "d1", "x$h"),
            key.password("device", "d1x", "$h")
        );
        assert_ne!(
            one,
            BrokerKey::from_bytes([8; 32]).password("device", "d1", "$hash-1")
        );
        assert_ne!(
            fingerprint(&one),
            fingerprint(&key.password("device", "d1", "$hash-2"))
        );
    }

    #[test]
    fn a_key_file_is_made_private_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dynsec.key");
        let made = BrokerKey::load_or_create(&path).unwrap();
        let read = BrokerKey::load_or_create(&path).unwrap();
        assert_eq!(made.0, read.0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").unwrap();
        let error = BrokerKey::load_or_create(&path).unwrap_err();
        assert!(error.contains("64 hex digits"), "{error}");
    }
}
