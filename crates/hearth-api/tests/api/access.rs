//! Who may do what: one table of role (and grant) × action, each cell a real request.

use super::*;
use hearth_model::{Permission, Role};

both_backends!(role_by_action_table);

/// A command service that accepts everything (the real one is the lead's).
pub struct FakeCommands;

#[async_trait::async_trait]
impl hearth_api::CommandService for FakeCommands {
    async fn send(
        &self,
        request: hearth_api::CommandRequest,
    ) -> Result<hearth_model::Command, hearth_api::ApiError> {
        Ok(hearth_model::Command {
            id: format!("cmd-{}", request.name),
            device: request.device,
            name: request.name,
            params: request.params,
            issued_by: request.actor,
            status: hearth_model::CommandStatus::Pending,
            result: None,
            reported_state: None,
            created_at_ms: 1,
            sent_at_ms: None,
            finished_at_ms: None,
            expires_at_ms: 1 + request.ttl_ms.unwrap_or(3_600_000),
            ack_timeout_ms: 10_000,
        })
    }

    async fn list(
        &self,
        _device: &hearth_model::DeviceId,
        _limit: u32,
    ) -> Result<Vec<hearth_model::Command>, hearth_api::ApiError> {
        Ok(vec![])
    }

    async fn get(&self, id: &str) -> Result<hearth_model::Command, hearth_api::ApiError> {
        Err(hearth_api::ApiError::not_found(format!(
            "command {id:?} not found"
        )))
    }
}

/// Each person: (name, role in `home` or none, grant on `default` or none).
const PEOPLE: [(&str, Option<Role>, Option<Permission>); 7] = [
    ("viewer", Some(Role::Viewer), Some(Permission::Manage)),
    ("member", Some(Role::Member), None),
    ("controller", Some(Role::Member), Some(Permission::Control)),
    ("manager", Some(Role::Member), Some(Permission::Manage)),
    ("gadmin", Some(Role::Admin), None),
    ("owner2", Some(Role::Owner), None),
    ("outsider", None, None),
];

async fn role_by_action_table(store: Arc<dyn Store>) {
    let hub = start_with(store, |state| state.with_commands(Arc::new(FakeCommands))).await;
    hub.add_device("relay1", "default").await;
    for (name, role, grant) in PEOPLE {
        hub.add_user(name).await;
        if let Some(role) = role {
            hub.registry
                .set_member("cli:test", &ids::group("home"), &ids::user(name), role)
                .await
                .unwrap();
        }
        if let Some(grant) = grant {
            hub.registry
                .set_grant("cli:test", &ids::app("default"), &ids::user(name), grant)
                .await
                .unwrap();
        }
    }
    hub.add_user("victim").await;
    hub.registry
        .set_member(
            "cli:test",
            &ids::group("home"),
            &ids::user("victim"),
            Role::Member,
        )
        .await
        .unwrap();

    // (action, method, path, body)
    let actions: Vec<(&str, &str, &str, Option<Value>)> = vec![
        ("view device", "GET", "/api/v1/devices/relay1", None),
        ("list devices", "GET", "/api/v1/devices?app=default", None),
        ("read history", "GET", "/api/v1/devices/relay1/latest", None),
        (
            "switch relay",
            "POST",
            "/api/v1/devices/relay1/commands",
            Some(json!({"name": "switch", "params": {"on": true}})),
        ),
        (
            "edit device",
            "PATCH",
            "/api/v1/devices/relay1",
            Some(json!({"room": "hall"})),
        ),
        (
            "rotate device secret",
            "POST",
            "/api/v1/devices/relay1/rotate-secret",
            None,
        ),
        ("read grants", "GET", "/api/v1/apps/default/grants", None),
        (
            "grant permission",
            "PUT",
            "/api/v1/apps/default/grants/victim",
            Some(json!({"permission": "view"})),
        ),
        (
            "set member role",
            "PUT",
            "/api/v1/groups/home/members/victim",
            Some(json!({"role": "viewer"})),
        ),
        ("read members", "GET", "/api/v1/groups/home/members", None),
        (
            "create app",
            "POST",
            "/api/v1/apps",
            Some(json!({"id": "app-by-someone", "group": "home"})),
        ),
        (
            "read audit of group",
            "GET",
            "/api/v1/audit?target=home",
            None,
        ),
        ("list users", "GET", "/api/v1/users", None),
    ];
    // Expected status per person, in PEOPLE order (then the hub admin).
    // V = viewer, M = member, C = controller, G = manager grant, A = group admin,
    // O = group owner, X = outsider, H = hub admin.
    let expected: Vec<[u16; 8]> = vec![
        //  V    M    C    G    A    O    X    H
        [200, 200, 200, 200, 200, 200, 404, 200], // view device
        [200, 200, 200, 200, 200, 200, 404, 200], // list devices
        [200, 200, 200, 200, 200, 200, 404, 200], // read history
        [403, 403, 202, 202, 202, 202, 404, 202], // switch relay
        [403, 403, 403, 200, 200, 200, 404, 200], // edit device
        [403, 403, 403, 200, 200, 200, 404, 200], // rotate device secret
        [403, 403, 403, 200, 200, 200, 404, 200], // read grants
        [403, 403, 403, 403, 200, 200, 404, 200], // grant permission
        [403, 403, 403, 403, 200, 200, 404, 200], // set member role
        [200, 200, 200, 200, 200, 200, 404, 200], // read members
        [403, 403, 403, 403, 201, 201, 404, 201], // create app
        [403, 403, 403, 403, 200, 200, 403, 200], // read audit of group
        [403, 403, 403, 403, 403, 403, 403, 200], // list users
    ];
    let mut sessions = Vec::new();
    for (name, _, _) in PEOPLE {
        sessions.push(hub.login(name, &format!("{name}-password")).await);
    }
    sessions.push(hub.admin().await);
    let mut failures = Vec::new();
    for ((action, method, path, body), row) in actions.iter().zip(&expected) {
        for (person, (session, want)) in sessions.iter().zip(row).enumerate() {
            // Each creating cell needs its own id.
            let body = body.clone().map(|mut body| {
                if body.get("id").is_some() {
                    body["id"] = json!(format!("app-{person}"));
                }
                body
            });
            let reply = hub.call(method, path, session, body).await;
            let who = PEOPLE.get(person).map_or("hub admin", |p| p.0);
            if reply.status != *want {
                failures.push(format!(
                    "{who} / {action}: got {} want {want}: {}",
                    reply.status,
                    String::from_utf8_lossy(&reply.body)
                ));
            }
            if reply.status == 403 {
                assert_eq!(reply.code(), "forbidden");
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    let metrics = hub.get("/metrics", &Auth::None).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(
        !text.contains("hearth_api_denied_total 0\n"),
        "403s are counted"
    );
}
