//! The confirmation gate (seed 004: the door opens only when two people confirm within
//! 35 seconds). A run's `confirm` action stores a request, tells the group's people
//! (`hearth/confirmations/{group}`, which the web app shows), and waits; people answer
//! through the API ([`super::Engine::answer`]). Who may answer and how answers count is
//! `hearth_model::Confirmation`'s rule. Every request, answer and outcome is audited
//! (`confirmation.request|confirm|refuse|expire`), and the request (with every answer)
//! stays stored for all of them to see.
//!
//! A request waiting when the hub stops resumes with its run at the next start (its
//! stored deadline unchanged); answers given while the hub is down cannot arrive.

use super::run::Services;
use hearth_bus::{Envelope, Qos};
use hearth_model::{
    AnswerError, Automation, Confirmation, ConfirmationState, Millis, NewAuditEntry, Role, UserName,
};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Notify;

/// What the `confirm` action asks.
pub struct Rule {
    pub people: u32,
    pub users: Vec<UserName>,
    pub roles: Vec<Role>,
    pub within_secs: u32,
    pub prompt: Option<String>,
}

struct Gate {
    request: tokio::sync::Mutex<Confirmation>,
    changed: Notify,
}

/// The requests runs are waiting on, by id.
#[derive(Default)]
pub struct Gates {
    open: Mutex<HashMap<String, Arc<Gate>>>,
}

/// Why an answer was not taken.
#[derive(Debug, thiserror::Error)]
pub enum AnswerFailure {
    #[error("no confirmation request {0:?}")]
    NotFound(String),
    #[error(transparent)]
    Refused(#[from] AnswerError),
    #[error("this request's run is no longer waiting")]
    NotWaiting,
    #[error(transparent)]
    Store(#[from] hearth_store::StoreError),
}

/// The request as people see it: the stored fields and who answered how.
pub fn view(request: &Confirmation) -> Value {
    let mut view = serde_json::to_value(request).unwrap_or(Value::Null);
    view["confirmed_by"] = json!(request.confirmed_by());
    view["refused_by"] = json!(request.refused_by());
    view
}

async fn tell(services: &Services, request: &Confirmation) {
    let topic = format!("hearth/confirmations/{}", request.group);
    let envelope = Envelope::new(topic, view(request).to_string()).with_qos(Qos::AtLeastOnce);
    if let Err(error) = services.bus.publish(envelope).await {
        tracing::warn!(request = %request.id, "confirmation not published: {error}");
    }
}

fn audit(actor: &str, action: &str, request: &Confirmation) -> NewAuditEntry {
    NewAuditEntry::new(actor, action, &request.id).with_detail(json!({
        "group": request.group, "automation": request.automation, "run": request.run,
        "state": request.state.as_str(), "confirmed_by": request.confirmed_by(),
        "refused_by": request.refused_by()}))
}

/// Runs a `confirm` action: asks (or, resuming, asks again under the stored request),
/// calls `stored` with the request's id and deadline so that the run can be resumed,
/// and waits for the outcome. Goes on only when confirmed.
pub async fn ask<F, Fut>(
    services: &Services,
    automation: &Automation,
    run_id: &str,
    rule: &Rule,
    resumed: Option<String>,
    stored: F,
) -> (bool, Value)
where
    F: FnOnce(&str, Millis) -> Fut,
    Fut: Future<Output = ()>,
{
    let actor = format!("automation:{}", automation.id);
    let now_ms = services.clock.now_ms();
    let fresh = resumed.is_none();
    let request = match resumed {
        Some(id) => services.store.confirmation(&id).await,
        None => Ok(Confirmation {
            id: format!("c-{}", crate::secret::random_string(12).to_lowercase()),
            group: automation.spec.group.clone(),
            automation: automation.id.clone(),
            automation_name: automation.spec.name.clone(),
            run: run_id.to_owned(),
            prompt: rule
                .prompt
                .clone()
                .unwrap_or_else(|| automation.spec.name.clone()),
            people: rule.people,
            users: rule.users.clone(),
            roles: rule.roles.clone(),
            within_secs: rule.within_secs,
            created_at_ms: now_ms,
            expires_at_ms: now_ms + Millis::from(rule.within_secs) * 1000,
            state: ConfirmationState::Pending,
            answers: Vec::new(),
        }),
    };
    let failed = |error: hearth_store::StoreError| {
        (
            false,
            json!({"type": "confirm", "result": "failed", "error": error.to_string()}),
        )
    };
    let request = match request {
        Ok(request) => request,
        Err(error) => return failed(error),
    };
    let id = request.id.clone();
    let expires_at_ms = request.expires_at_ms;
    let first_view = request.clone();
    let gate = Arc::new(Gate {
        request: tokio::sync::Mutex::new(request),
        changed: Notify::new(),
    });
    // Open (and held) before it is stored: whoever reads it from the store and answers
    // at once waits for the store to have it, and never finds it closed.
    {
        let held = gate.request.lock().await;
        services.gates.open.lock().insert(id.clone(), gate.clone());
        if fresh {
            let entry = audit(&actor, "confirmation.request", &held);
            if let Err(error) = services.store.put_confirmation(&held, &entry).await {
                drop(held);
                services.gates.open.lock().remove(&id);
                return failed(error);
            }
        }
    }
    stored(&id, expires_at_ms).await;
    tell(services, &first_view).await;
    let deadline = services.clock.sleep_until(expires_at_ms);
    tokio::pin!(deadline);
    loop {
        if gate.request.lock().await.state != ConfirmationState::Pending {
            break;
        }
        tokio::select! {
            () = gate.changed.notified() => {}
            () = &mut deadline => {
                let mut request = gate.request.lock().await;
                if request.state == ConfirmationState::Pending {
                    request.state = ConfirmationState::Expired;
                    let entry = audit(&actor, "confirmation.expire", &request);
                    if let Err(error) = services.store.put_confirmation(&request, &entry).await {
                        tracing::warn!(request = %request.id, "expiry not stored: {error}");
                    }
                    tell(services, &request).await;
                }
                break;
            }
        }
    }
    services.gates.open.lock().remove(&id);
    let request = gate.request.lock().await.clone();
    let confirmed = request.state == ConfirmationState::Confirmed;
    (
        confirmed,
        json!({"type": "confirm", "request": request.id, "result": request.state.as_str(),
            "people": request.people, "confirmed_by": request.confirmed_by(),
            "refused_by": request.refused_by()}),
    )
}

impl Gates {
    /// A person's answer: counted if they are eligible and the request still waits; the
    /// request as it is afterwards.
    pub async fn answer(
        &self,
        services: &Services,
        id: &str,
        user: &UserName,
        role: Option<Role>,
        confirm: bool,
    ) -> Result<Confirmation, AnswerFailure> {
        let gate = self.open.lock().get(id).cloned();
        let Some(gate) = gate else {
            let stored = services
                .store
                .confirmation(id)
                .await
                .map_err(|error| match error {
                    hearth_store::StoreError::NotFound { .. } => {
                        AnswerFailure::NotFound(id.to_owned())
                    }
                    other => AnswerFailure::Store(other),
                })?;
            if !stored.eligible(user, role) {
                return Err(AnswerError::NotEligible.into());
            }
            return Err(match stored.state {
                ConfirmationState::Pending => AnswerFailure::NotWaiting,
                state => AnswerError::Closed(state.as_str()).into(),
            });
        };
        let mut request = gate.request.lock().await;
        if !request.eligible(user, role) {
            return Err(AnswerError::NotEligible.into());
        }
        let now_ms = services.clock.now_ms();
        let counted = request.answer(user, confirm, now_ms)?;
        if counted {
            let action = if confirm {
                "confirmation.confirm"
            } else {
                "confirmation.refuse"
            };
            let entry = audit(&format!("user:{user}"), action, &request);
            services.store.put_confirmation(&request, &entry).await?;
            tell(services, &request).await;
            gate.changed.notify_one();
        }
        Ok(request.clone())
    }
}
