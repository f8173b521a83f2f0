//! The commands that take the broker from what it holds to what the registry wants.
//! Pure: the sync reads the broker (or remembers what it last wrote), calls [`plan`],
//! and sends the result.

use super::desired::{Acl, CLIENT_MARK, ROLE_PREFIX, Wanted, fingerprint};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// A client as the broker holds it (`getClient`'s `client`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerClient {
    pub clientid: Option<String>,
    pub textname: Option<String>,
    pub textdescription: Option<String>,
    pub disabled: bool,
    pub roles: Vec<String>,
}

impl BrokerClient {
    /// Reads `getClient`'s `data.client`.
    pub fn from_json(client: &Value) -> BrokerClient {
        let text = |field: &str| {
            client
                .get(field)
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
        };
        BrokerClient {
            clientid: text("clientid"),
            textname: text("textname"),
            textdescription: text("textdescription"),
            disabled: client
                .get("disabled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            roles: client
                .get("roles")
                .and_then(Value::as_array)
                .map(|roles| {
                    roles
                        .iter()
                        .filter_map(|role| role.get("rolename").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Whether Hearth made it (its `textname` carries [`CLIENT_MARK`]).
    pub fn is_hearths(&self) -> bool {
        self.textname
            .as_deref()
            .is_some_and(|name| name.starts_with(CLIENT_MARK))
    }
}

/// What the broker holds of Hearth's (and the names of clients that are not Hearth's,
/// which it never touches).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerState {
    pub clients: BTreeMap<String, BrokerClient>,
    pub roles: BTreeMap<String, Vec<Acl>>,
    pub foreign: BTreeSet<String>,
}

impl BrokerState {
    /// What the broker holds once a plan for `wanted` went through.
    pub fn after(wanted: &Wanted, foreign: BTreeSet<String>) -> BrokerState {
        let clients = wanted
            .clients
            .iter()
            .filter(|(name, _)| !foreign.contains(*name))
            .map(|(name, want)| {
                (
                    name.clone(),
                    BrokerClient {
                        clientid: Some(want.clientid.clone()),
                        textname: Some(want.textname()),
                        textdescription: Some(fingerprint(&want.password)),
                        disabled: !want.enabled,
                        roles: vec![want.role.clone()],
                    },
                )
            })
            .collect();
        BrokerState {
            clients,
            roles: wanted.roles.clone(),
            foreign,
        }
    }

    /// Reads a role's ACLs from `getRole`'s `data.role` (sorted as `desired.rs` sorts).
    pub fn acls_from_json(role: &Value) -> Vec<Acl> {
        let mut acls: Vec<Acl> = role
            .get("acls")
            .and_then(Value::as_array)
            .map(|acls| {
                acls.iter()
                    .filter_map(|acl| serde_json::from_value(acl.clone()).ok())
                    .collect()
            })
            .unwrap_or_default();
        acls.sort();
        acls
    }
}

/// Whether a role name is Hearth's to manage.
pub fn is_hearth_role(name: &str) -> bool {
    name.starts_with(ROLE_PREFIX)
}

/// The commands, in an order the plugin accepts: roles made or changed, then clients,
/// then roles no longer used deleted. A client to go is disabled first (which
/// disconnects it: "revocation kicks"), then deleted; a client whose password changed
/// is disabled and enabled again for the same reason.
pub fn plan(have: &BrokerState, want: &Wanted) -> Vec<Value> {
    let mut commands = Vec::new();
    for (name, acls) in &want.roles {
        match have.roles.get(name) {
            None => commands.push(json!({"command": "createRole", "rolename": name, "acls": acls})),
            Some(old) if old != acls => {
                commands.push(json!({"command": "modifyRole", "rolename": name, "acls": acls}));
            }
            Some(_) => {}
        }
    }
    for (name, client) in &want.clients {
        if have.foreign.contains(name) {
            continue;
        }
        let fp = fingerprint(&client.password);
        let Some(old) = have.clients.get(name) else {
            commands.push(json!({
                "command": "createClient",
                "username": name,
                "password": client.password,
                "clientid": client.clientid,
                "textname": client.textname(),
                "textdescription": fp,
                "roles": [{"rolename": client.role}],
            }));
            if !client.enabled {
                commands.push(json!({"command": "disableClient", "username": name}));
            }
            continue;
        };
        let mut modify = serde_json::Map::new();
        let new_password = old.textdescription.as_deref() != Some(fp.as_str());
        if new_password {
            modify.insert("password".into(), client.password.clone().into());
            modify.insert("textdescription".into(), fp.into());
        }
        if old.clientid.as_deref() != Some(client.clientid.as_str()) {
            modify.insert("clientid".into(), client.clientid.clone().into());
        }
        if old.textname.as_deref() != Some(client.textname().as_str()) {
            modify.insert("textname".into(), client.textname().into());
        }
        if old.roles != [client.role.clone()] {
            modify.insert("roles".into(), json!([{"rolename": client.role}]));
        }
        if !modify.is_empty() {
            modify.insert("command".into(), "modifyClient".into());
            modify.insert("username".into(), name.clone().into());
            commands.push(Value::Object(modify));
        }
        let disable = |commands: &mut Vec<Value>| {
            commands.push(json!({"command": "disableClient", "username": name}));
        };
        let enable = |commands: &mut Vec<Value>| {
            commands.push(json!({"command": "enableClient", "username": name}));
        };
        match (old.disabled, client.enabled) {
            (false, false) => disable(&mut commands),
            (true, true) => enable(&mut commands),
            (false, true) if new_password => {
                disable(&mut commands);
                enable(&mut commands);
            }
            _ => {}
        }
    }
    for (name, old) in &have.clients {
        if !want.clients.contains_key(name) {
            if !old.disabled {
                commands.push(json!({"command": "disableClient", "username": name}));
            }
            commands.push(json!({"command": "deleteClient", "username": name}));
        }
    }
    for name in have.roles.keys() {
        if !want.roles.contains_key(name) {
            commands.push(json!({"command": "deleteRole", "rolename": name}));
        }
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::super::desired::{BrokerKey, device_acls, wanted};
    use super::*;
    use hearth_store::{AppCredential, Credentials, DeviceCredential};

    fn credentials(devices: &[(&str, bool, &str)]) -> Credentials {
        Credentials {
            devices: devices
                .iter()
                .map(|(id, enabled, hash)| DeviceCredential {
                    id: hearth_model::DeviceId::new(id).unwrap(),
                    application: hearth_model::AppId::new("app1").unwrap(),
                    enabled: *enabled,
                    secret_hash: (*hash).to_owned(),
                    cert_sha256: None,
                })
                .collect(),
            apps: vec![AppCredential {
                id: hearth_model::AppId::new("app1").unwrap(),
                mqtt_key: "app-key".into(),
                secret_hash: "h".into(),
            }],
            admins: Vec::new(),
        }
    }

    fn names(commands: &[Value]) -> Vec<String> {
        commands
            .iter()
            .map(|command| {
                let target = command
                    .get("username")
                    .or_else(|| command.get("rolename"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                format!("{} {target}", command["command"].as_str().unwrap())
            })
            .collect()
    }

    #[test]
    fn an_empty_broker_gets_every_role_and_client_and_nothing_more_after() {
        let key = BrokerKey::from_bytes([1; 32]);
        let want = wanted(&credentials(&[("d1", true, "a"), ("d2", false, "b")]), &key);
        let commands = plan(&BrokerState::default(), &want);
        assert_eq!(
            names(&commands),
            [
                "createRole hearth-app-app1",
                "createRole hearth-device-d1",
                "createRole hearth-device-d2",
                "createClient app-key",
                "createClient d1",
                "createClient d2",
                "disableClient d2",
            ]
        );
        assert_eq!(commands[4]["clientid"], "d1");
        assert_eq!(commands[4]["password"], key.password("device", "d1", "a"));
        let after = BrokerState::after(&want, BTreeSet::new());
        assert!(plan(&after, &want).is_empty());
    }

    #[test]
    fn removal_rotation_and_disabling_become_kicks() {
        let key = BrokerKey::from_bytes([1; 32]);
        let before = wanted(
            &credentials(&[("d1", true, "a"), ("d2", true, "b"), ("d3", true, "c")]),
            &key,
        );
        let have = BrokerState::after(&before, BTreeSet::new());
        // d1 rotated, d2 disabled, d3 removed (and so gone from the application's role).
        let want = wanted(
            &credentials(&[("d1", true, "a2"), ("d2", false, "b")]),
            &key,
        );
        let commands = plan(&have, &want);
        assert_eq!(
            names(&commands),
            [
                "modifyRole hearth-app-app1",
                "modifyClient d1",
                "disableClient d1",
                "enableClient d1",
                "disableClient d2",
                "disableClient d3",
                "deleteClient d3",
                "deleteRole hearth-device-d3",
            ]
        );
        assert_eq!(commands[1]["password"], key.password("device", "d1", "a2"));
    }

    #[test]
    fn clients_that_are_not_hearths_are_never_touched() {
        let key = BrokerKey::from_bytes([1; 32]);
        let want = wanted(&credentials(&[("d1", true, "a")]), &key);
        let mut have = BrokerState::default();
        have.foreign.insert("d1".into());
        have.roles
            .insert("hearth-device-d1".into(), device_acls("d1"));
        let commands = plan(&have, &want);
        assert_eq!(
            names(&commands),
            ["createRole hearth-app-app1", "createClient app-key"]
        );
    }

    #[test]
    fn a_changed_device_set_rewrites_the_applications_role() {
        let key = BrokerKey::from_bytes([1; 32]);
        let have = BrokerState::after(
            &wanted(&credentials(&[("d1", true, "a")]), &key),
            BTreeSet::new(),
        );
        let want = wanted(&credentials(&[("d1", true, "a"), ("d2", true, "b")]), &key);
        let commands = plan(&have, &want);
        assert_eq!(
            names(&commands),
            [
                "modifyRole hearth-app-app1",
                "createRole hearth-device-d2",
                "createClient d2"
            ]
        );
        let topics: Vec<&str> = commands[0]["acls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|acl| acl["topic"].as_str().unwrap())
            .collect();
        assert!(topics.contains(&"devices/d2/commands/#"), "{topics:?}");
    }

    #[test]
    fn the_plugins_json_reads_back() {
        let client = BrokerClient::from_json(&json!({
            "username": "d1", "clientid": "d1", "textname": "hearth device",
            "textdescription": "hearth:v1:00", "disabled": true,
            "roles": [{"rolename": "hearth-device-d1"}], "groups": []
        }));
        assert!(client.is_hearths() && client.disabled);
        assert_eq!(client.roles, ["hearth-device-d1"]);
        let admin =
            BrokerClient::from_json(&json!({"username": "admin", "textname": "Dynsec admin user"}));
        assert!(!admin.is_hearths());
        let acls = BrokerState::acls_from_json(&json!({"acls": device_acls("d1")}));
        assert_eq!(acls, device_acls("d1"));
    }
}
