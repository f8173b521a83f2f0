//! Follows each target: the `ota` command's outcomes (from [`crate::commands`]) and
//! the device's own reports (from ingest), under the service's lock.
//!
//! - command `sent` → `sent`; `failed` → `failed` with the device's error; `timeout`
//!   → `failed: timeout` (unless the device already reported progress);
//! - an event or data `{"ota": "downloading", "progress": 40}` → `downloading`,
//!   `{"ota": "installing"}` → `installing`, `{"ota": "failed", "error": "..."}` →
//!   `failed`;
//! - a report (data or event) whose `firmware_version` is the image's version →
//!   `succeeded`; another version after `installing` → `failed: still runs V`.
//!
//! When the first wave has all succeeded, the rest is sent.

use super::Ota;
use crate::ingest::DeviceReport;
use hearth_model::{
    Command, CommandStatus, DeviceId, RolloutState, RolloutTarget, TargetState, now_millis,
};
use serde_json::Value;
use tokio::sync::broadcast;

pub(super) async fn run(
    ota: Ota,
    mut outcomes: broadcast::Receiver<Command>,
    mut reports: broadcast::Receiver<DeviceReport>,
) {
    loop {
        tokio::select! {
            outcome = outcomes.recv() => match outcome {
                Ok(command) if command.name == "ota" => ota.on_command(&command).await,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(lost)) => {
                    tracing::warn!(lost, "OTA tracker fell behind command outcomes");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            report = reports.recv() => match report {
                Ok(report) => ota.on_report(&report).await,
                Err(broadcast::error::RecvError::Lagged(lost)) => {
                    tracing::warn!(lost, "OTA tracker fell behind device reports");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

/// A reason as the device gave it: a string, or an object's `error`/`message`.
fn reason(value: Option<&Value>) -> String {
    let text = match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Object(map)) => map
            .get("error")
            .or_else(|| map.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("failed")
            .to_owned(),
        _ => "failed".to_owned(),
    };
    text.chars().take(200).collect()
}

impl Ota {
    async fn on_command(&self, command: &Command) {
        let Some(rollout) = command.params.get("rollout").and_then(Value::as_str) else {
            return;
        };
        let _guard = self.inner.lock.lock().await;
        let target = match self.target_of(rollout, &command.device).await {
            Some(target) => target,
            None => return,
        };
        // An earlier attempt's outcome says nothing about this one.
        if target.command.as_deref().is_some_and(|id| id != command.id) || target.state.is_final() {
            return;
        }
        let mut next = target.clone();
        match command.status {
            CommandStatus::Pending => return,
            CommandStatus::Sent | CommandStatus::Acked => {
                if next.state == TargetState::Pending {
                    next.state = TargetState::Sent;
                }
                let version = command
                    .result
                    .as_ref()
                    .and_then(|result| result.get("firmware_version"))
                    .and_then(Value::as_str);
                if let Some(version) = version {
                    self.version_reported(&mut next, version).await;
                }
            }
            CommandStatus::Failed => {
                next.state = TargetState::Failed;
                next.error = Some(reason(command.result.as_ref()));
            }
            CommandStatus::Timeout => {
                if matches!(next.state, TargetState::Pending | TargetState::Sent) {
                    next.state = TargetState::Failed;
                    next.error = Some("timeout".into());
                }
            }
        }
        self.save(target, next).await;
    }

    async fn on_report(&self, report: &DeviceReport) {
        let payload = report.payload.as_ref();
        let step = payload.get("ota").and_then(Value::as_str);
        let version = payload.get("firmware_version").and_then(Value::as_str);
        if step.is_none() && version.is_none() {
            return;
        }
        let Ok(device) = report.device.parse::<DeviceId>() else {
            return;
        };
        let _guard = self.inner.lock.lock().await;
        let open = match self.inner.store.open_rollout_targets(&device).await {
            Ok(open) => open,
            Err(error) => {
                tracing::warn!(%device, "rollout targets not read: {error}");
                return;
            }
        };
        for target in open {
            // Only a device that has the command is followed.
            if target.command.is_none() {
                continue;
            }
            let mut next = target.clone();
            match step {
                Some("downloading") => {
                    next.state = TargetState::Downloading;
                    next.progress = payload
                        .get("progress")
                        .and_then(Value::as_u64)
                        .map(|percent| percent.min(100) as u8);
                }
                Some("installing") => next.state = TargetState::Installing,
                Some("failed") => {
                    next.state = TargetState::Failed;
                    next.error = Some(reason(payload.get("error")));
                }
                _ => {}
            }
            if let Some(version) = version {
                self.version_reported(&mut next, version).await;
            }
            self.save(target, next).await;
        }
    }

    /// Succeeded if `version` is the image's; a device back from installing with
    /// another version failed to take it.
    async fn version_reported(&self, target: &mut RolloutTarget, version: &str) {
        target.reported_version = Some(version.chars().take(128).collect());
        if target.state.is_final() {
            return;
        }
        let Ok(rollout) = self.inner.store.rollout(&target.rollout).await else {
            return;
        };
        let Ok(firmware) = self.inner.store.firmware(&rollout.firmware).await else {
            return;
        };
        if version == firmware.version {
            target.state = TargetState::Succeeded;
            target.progress = Some(100);
        }
    }

    async fn target_of(&self, rollout: &str, device: &DeviceId) -> Option<RolloutTarget> {
        match self.inner.store.rollout_targets(rollout).await {
            Ok(targets) => targets.into_iter().find(|target| &target.device == device),
            Err(error) => {
                tracing::warn!(rollout, "rollout targets not read: {error}");
                None
            }
        }
    }

    /// Stores a changed target; a final one loses its token, and a first wave that
    /// all succeeded sends the rest.
    async fn save(&self, before: RolloutTarget, mut next: RolloutTarget) {
        if next == before {
            return;
        }
        if next.state.is_final() {
            next.token_sha256 = None;
            next.token_expires_at_ms = None;
        }
        next.updated_at_ms = now_millis();
        if let Err(error) = self.inner.store.update_rollout_target(&next).await {
            tracing::warn!(rollout = %next.rollout, device = %next.device,
                "rollout target not stored: {error}");
            return;
        }
        if let Ok(rollout) = self.inner.store.rollout(&next.rollout).await {
            self.announce(&rollout, std::slice::from_ref(&next)).await;
        }
        if next.wave == 1 && next.state == TargetState::Succeeded {
            self.maybe_next_wave(&next.rollout).await;
        }
    }

    async fn maybe_next_wave(&self, id: &str) {
        let (rollout, targets) = match self.rollout(id).await {
            Ok(found) => found,
            Err(_) => return,
        };
        let first_done = targets
            .iter()
            .filter(|target| target.wave == 1)
            .all(|target| target.state == TargetState::Succeeded);
        if rollout.state == RolloutState::FirstWave
            && first_done
            && let Err(error) = self.next_wave_locked(rollout, None).await
        {
            tracing::warn!(rollout = id, "second wave not sent: {error}");
        }
    }
}
