//! The routes issue 14 added next to automations, against the people who should not
//! use them (docs/security.md): applying a scene (`control` on every device it sets),
//! confirmation requests (seen by their group, answered by those the request asks, a
//! hub administrator outside the group included in neither), and a group's place
//! (members read, its admins set, values checked).

use super::*;
use hearth_model::{Permission, Role};
use hearth_testkit::Backend;

mod confirmations;
mod scenes_and_places;

/// Records what the routes asked of the engine.
#[derive(Default)]
struct RecordingRunner(parking_lot::Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl hearth_api::AutomationRunner for RecordingRunner {
    async fn run_now(&self, id: &str, actor: &str) -> Result<String, hearth_api::ApiError> {
        self.0.lock().push((format!("run {id}"), actor.to_owned()));
        Ok("r-1".into())
    }

    async fn apply_scene(&self, id: &str, actor: &str) -> Result<Value, hearth_api::ApiError> {
        self.0
            .lock()
            .push((format!("apply {id}"), actor.to_owned()));
        Ok(json!({"scene": id, "result": "2/2 confirmed"}))
    }
}

/// Adds `name` (password `{name}-password`) with `role` in group `home`.
async fn member(hub: &Hub, name: &str, role: Role) {
    hub.add_user(name).await;
    hub.registry
        .set_member("cli:test", &ids::group("home"), &ids::user(name), role)
        .await
        .unwrap();
}

/// Adds `name` as the owner of a group of their own, `elsewhere`.
async fn stranger(hub: &Hub, name: &str) {
    hub.add_user(name).await;
    hub.registry
        .add_group(
            "cli:test",
            &ids::group("elsewhere"),
            None,
            Some(&ids::user(name)),
        )
        .await
        .unwrap();
}

fn other_origin(hub: &Hub) -> String {
    format!("http://127.0.0.1:{}", hub.address.port() + 1)
}
