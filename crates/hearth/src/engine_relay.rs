//! Automation requests that reach a node which does not coordinate (issue 21).
//!
//! The automation engine runs on one node of a cluster (coordinator.rs), but the API is
//! served by every node behind a load balancer. A "run now", a webhook call, a scene or
//! a confirmation's answer that lands elsewhere goes to the coordinator over the broker
//! the nodes share: a request on [`REQUESTS`] with this node's reply topic and a
//! correlation id, answered there by the coordinator's engine. Over MQTT rather than
//! node-to-node HTTP because the nodes already hold an authenticated connection to the
//! broker and know nothing of each other's addresses. Only the nodes' own broker login
//! may publish or subscribe under `hearth/cluster/` (docs/security.md): the API has
//! checked the caller before a request is sent, and the coordinator trusts the actor it
//! names.
//!
//! At most once: a request or answer lost with a node ends in a 503 after
//! [`REPLY_TIMEOUT`], and the caller may try again.

use hearth_api::{ApiError, AutomationRunner};
use hearth_bus::{Bus, Envelope};
use hearth_model::{Confirmation, Role, UserName};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;

/// Where the coordinator takes requests.
pub const REQUESTS: &str = "hearth/cluster/engine";

/// How long a node waits for the coordinator's answer.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(15);

/// What a node asks the coordinator's engine.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    RunNow {
        automation: String,
        actor: String,
    },
    Hook {
        automation: String,
        body: Value,
    },
    ApplyScene {
        scene: String,
        actor: String,
    },
    Answer {
        request: String,
        user: UserName,
        role: Option<Role>,
        confirm: bool,
    },
}

/// The coordinator's answer: the result, or the API error to give the caller.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Reply {
    Ok(Value),
    Err { status: u16, message: String },
}

fn to_reply(result: Result<Value, ApiError>) -> Reply {
    match result {
        Ok(value) => Reply::Ok(value),
        Err(error) => Reply::Err {
            status: error.status_code().as_u16(),
            message: error.to_string(),
        },
    }
}

fn from_status(status: u16, message: String) -> ApiError {
    match status {
        403 => ApiError::Forbidden(message),
        404 => ApiError::NotFound(message),
        409 => ApiError::Conflict(message),
        400 => ApiError::BadRequest {
            message,
            field: None,
        },
        422 => ApiError::Invalid {
            message,
            field: None,
        },
        503 => ApiError::Unavailable(message),
        _ => ApiError::Internal(message),
    }
}

/// Answers requests from the other nodes with `runner` (the coordinator's engine) until
/// the subscription ends (the term's end drops it).
pub async fn serve(bus: Arc<dyn Bus>, runner: Arc<dyn AutomationRunner>) {
    let mut requests = match bus.subscribe(REQUESTS).await {
        Ok(requests) => requests,
        Err(error) => {
            tracing::error!(
                "the coordinator cannot take other nodes' automation requests: {error}"
            );
            return;
        }
    };
    while let Some(message) = requests.recv().await {
        let (Some(reply_to), Some(correlation)) = (
            message.response_topic.clone(),
            message.correlation_data.clone(),
        ) else {
            continue;
        };
        let runner = runner.clone();
        let bus = bus.clone();
        // Each in its own task: a scene waits for its devices' outcomes.
        tokio::spawn(async move {
            let reply = match serde_json::from_slice::<Request>(&message.payload) {
                Ok(request) => to_reply(handle(runner.as_ref(), request).await),
                Err(error) => Reply::Err {
                    status: 400,
                    message: format!("not an automation request: {error}"),
                },
            };
            let payload = serde_json::to_vec(&reply).unwrap_or_default();
            let mut envelope = Envelope::new(reply_to, payload);
            envelope.correlation_data = Some(correlation);
            if let Err(error) = bus.publish(envelope).await {
                tracing::warn!("an automation request's answer was not sent: {error}");
            }
        });
    }
}

async fn handle(runner: &dyn AutomationRunner, request: Request) -> Result<Value, ApiError> {
    match request {
        Request::RunNow { automation, actor } => {
            runner.run_now(&automation, &actor).await.map(Value::from)
        }
        Request::Hook { automation, body } => runner.hook(&automation, body).await.map(Value::from),
        Request::ApplyScene { scene, actor } => runner.apply_scene(&scene, &actor).await,
        Request::Answer {
            request,
            user,
            role,
            confirm,
        } => {
            let confirmation = runner.answer(&request, &user, role, confirm).await?;
            serde_json::to_value(confirmation).map_err(ApiError::internal)
        }
    }
}

/// A node's way to the coordinator's engine: requests out, answers matched back by
/// correlation id on this node's own reply topic.
pub struct RelayClient {
    bus: Arc<dyn Bus>,
    reply_topic: String,
    next: AtomicU64,
    waiting: Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>,
}

impl RelayClient {
    /// Subscribes to this node's reply topic and starts matching answers.
    pub async fn start(bus: Arc<dyn Bus>, node: &str) -> anyhow::Result<Arc<RelayClient>> {
        let reply_topic = format!("hearth/cluster/replies/{node}");
        let mut replies = bus.subscribe(&reply_topic).await?;
        let waiting: Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>> = Arc::default();
        let matching = waiting.clone();
        tokio::spawn(async move {
            while let Some(message) = replies.recv().await {
                let id = message
                    .correlation_data
                    .as_deref()
                    .and_then(|data| std::str::from_utf8(data).ok())
                    .and_then(|text| text.parse::<u64>().ok());
                let reply = serde_json::from_slice::<Reply>(&message.payload);
                if let (Some(id), Ok(reply)) = (id, reply)
                    && let Some(waiter) = matching.lock().remove(&id)
                {
                    let _ = waiter.send(reply);
                }
            }
        });
        Ok(Arc::new(RelayClient {
            bus,
            reply_topic,
            next: AtomicU64::new(1),
            waiting,
        }))
    }

    async fn ask(&self, request: Request) -> Result<Value, ApiError> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (answer, answered) = oneshot::channel();
        self.waiting.lock().insert(id, answer);
        let payload = serde_json::to_vec(&request).map_err(ApiError::internal)?;
        let mut envelope = Envelope::new(REQUESTS, payload);
        envelope.response_topic = Some(self.reply_topic.as_str().into());
        envelope.correlation_data = Some(bytes::Bytes::from(id.to_string()));
        if let Err(error) = self.bus.publish(envelope).await {
            self.waiting.lock().remove(&id);
            return Err(ApiError::unavailable(format!(
                "the coordinating node could not be asked: {error}"
            )));
        }
        let reply = tokio::time::timeout(REPLY_TIMEOUT, answered).await;
        self.waiting.lock().remove(&id);
        match reply {
            Ok(Ok(Reply::Ok(value))) => Ok(value),
            Ok(Ok(Reply::Err { status, message })) => Err(from_status(status, message)),
            _ => Err(ApiError::unavailable(
                "the coordinating node did not answer (it may be changing): try again",
            )),
        }
    }

    pub async fn run_now(&self, automation: &str, actor: &str) -> Result<String, ApiError> {
        let value = self
            .ask(Request::RunNow {
                automation: automation.to_owned(),
                actor: actor.to_owned(),
            })
            .await?;
        string(value)
    }

    pub async fn hook(&self, automation: &str, body: Value) -> Result<String, ApiError> {
        let value = self
            .ask(Request::Hook {
                automation: automation.to_owned(),
                body,
            })
            .await?;
        string(value)
    }

    pub async fn apply_scene(&self, scene: &str, actor: &str) -> Result<Value, ApiError> {
        self.ask(Request::ApplyScene {
            scene: scene.to_owned(),
            actor: actor.to_owned(),
        })
        .await
    }

    pub async fn answer(
        &self,
        request: &str,
        user: &UserName,
        role: Option<Role>,
        confirm: bool,
    ) -> Result<Confirmation, ApiError> {
        let value = self
            .ask(Request::Answer {
                request: request.to_owned(),
                user: user.clone(),
                role,
                confirm,
            })
            .await?;
        serde_json::from_value(value).map_err(ApiError::internal)
    }
}

fn string(value: Value) -> Result<String, ApiError> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(ApiError::internal(format!(
            "the coordinator answered {other} where a run id was expected"
        ))),
    }
}
