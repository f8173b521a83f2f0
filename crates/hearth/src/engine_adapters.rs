//! The API's seams over the engines (`hearth_api::AutomationRunner`, `AlertDesk`): this
//! node's while it runs them, the coordinator's through the broker on another node of a
//! cluster (issue 21, coordinator.rs and engine_relay.rs).

use async_trait::async_trait;
use hearth_api::{ApiError, AutomationRunner};
use hearth_services::automations::engine::{Engine, EngineError};
use hearth_store::StoreError;
use std::sync::Arc;

/// `hearth_api::AlertDesk` over the alert services and engine.
pub struct AlertAdapter {
    pub services: hearth_services::alerts::AlertServices,
    /// The engine runs on the coordinating node only (issue 21).
    pub brain: crate::coordinator::BrainSlot,
}

#[async_trait]
impl hearth_api::AlertDesk for AlertAdapter {
    async fn acknowledge(
        &self,
        alert_id: &str,
        user: &hearth_model::UserName,
    ) -> Result<hearth_model::Alert, ApiError> {
        self.services
            .acknowledge(alert_id, user)
            .await
            .map_err(alert_error)
    }

    async fn clear(
        &self,
        alert_id: &str,
        user: &hearth_model::UserName,
    ) -> Result<hearth_model::Alert, ApiError> {
        self.services
            .clear_by(alert_id, user)
            .await
            .map_err(alert_error)
    }

    async fn reload(&self) {
        // Another node's engine reads the change from the audit sequence on its own.
        if let Some(brain) = self.brain.get() {
            brain.alerts.reload().await;
        }
    }
}

fn alert_error(error: hearth_services::alerts::ActionError) -> ApiError {
    match error {
        hearth_services::alerts::ActionError::Cleared => ApiError::Conflict(error.to_string()),
        hearth_services::alerts::ActionError::Store(error) => {
            engine_error(EngineError::Store(error))
        }
    }
}

/// `hearth_api::AutomationRunner` over the automation engine: this node's while it
/// coordinates, else the coordinator's through the broker (issue 21, engine_relay.rs).
pub struct EngineAdapter {
    pub brain: crate::coordinator::BrainSlot,
    /// A cluster node's way to the coordinator (`None` on a single hub).
    pub relay: Option<Arc<crate::engine_relay::RelayClient>>,
}

/// Where a request goes: this node's engine or the coordinator's.
enum Route<'a> {
    Local(Engine),
    Relay(&'a crate::engine_relay::RelayClient),
}

impl EngineAdapter {
    fn route(&self) -> Result<Route<'_>, ApiError> {
        match (self.brain.get(), &self.relay) {
            (Some(brain), _) => Ok(Route::Local(brain.engine)),
            (None, Some(relay)) => Ok(Route::Relay(relay)),
            (None, None) => Err(ApiError::unavailable(
                "the automation engine is not running on this hub",
            )),
        }
    }
}

#[async_trait]
impl AutomationRunner for EngineAdapter {
    async fn run_now(&self, automation_id: &str, actor: &str) -> Result<String, ApiError> {
        let engine = match self.route()? {
            Route::Local(engine) => engine,
            Route::Relay(relay) => return relay.run_now(automation_id, actor).await,
        };
        let run = match engine.run_now(automation_id, actor).await {
            // Created or changed a moment ago: the engine has not read it yet.
            Err(EngineError::Store(StoreError::NotFound { .. })) => {
                engine.reload().await.map_err(engine_error)?;
                engine.run_now(automation_id, actor).await
            }
            other => other,
        };
        run.map_err(engine_error)
    }

    async fn hook(&self, automation_id: &str, body: serde_json::Value) -> Result<String, ApiError> {
        let engine = match self.route()? {
            Route::Local(engine) => engine,
            Route::Relay(relay) => return relay.hook(automation_id, body).await,
        };
        let run = match engine.hook(automation_id, body.clone()).await {
            // Changed a moment ago: the engine has not read it yet.
            Err(EngineError::Store(StoreError::NotFound { .. })) => {
                engine.reload().await.map_err(engine_error)?;
                engine.hook(automation_id, body).await
            }
            other => other,
        };
        run.map_err(engine_error)
    }

    async fn apply_scene(
        &self,
        scene_id: &str,
        actor: &str,
    ) -> Result<serde_json::Value, ApiError> {
        match self.route()? {
            Route::Local(engine) => engine
                .apply_scene(scene_id, actor)
                .await
                .map_err(engine_error),
            Route::Relay(relay) => relay.apply_scene(scene_id, actor).await,
        }
    }

    async fn answer(
        &self,
        request_id: &str,
        user: &hearth_model::UserName,
        role: Option<hearth_model::Role>,
        confirm: bool,
    ) -> Result<hearth_model::Confirmation, ApiError> {
        use hearth_services::automations::engine::AnswerFailure;
        let engine = match self.route()? {
            Route::Local(engine) => engine,
            Route::Relay(relay) => return relay.answer(request_id, user, role, confirm).await,
        };
        engine
            .answer(request_id, user, role, confirm)
            .await
            .map_err(|failure| match failure {
                AnswerFailure::NotFound(_) => ApiError::not_found(failure.to_string()),
                AnswerFailure::Refused(hearth_model::AnswerError::NotEligible) => {
                    ApiError::forbidden(failure.to_string())
                }
                AnswerFailure::Refused(_) | AnswerFailure::NotWaiting => {
                    ApiError::Conflict(failure.to_string())
                }
                AnswerFailure::Store(error) => engine_error(EngineError::Store(error)),
            })
    }
}

fn engine_error(error: EngineError) -> ApiError {
    match error {
        EngineError::Store(StoreError::NotFound { what, id }) => {
            ApiError::not_found(format!("{what} {id:?} not found"))
        }
        EngineError::Store(other) => ApiError::internal(other),
        EngineError::Stopped => ApiError::unavailable("the hub is shutting down"),
        EngineError::Config(message) => ApiError::unavailable(message),
    }
}
