//! Starting, continuing, stopping and retrying rollouts. Callers (the API, the CLI)
//! check who may; this checks what may (states, the image's existence).

use super::{Ota, OtaError, token_digest};
use hearth_model::{
    DeviceId, Firmware, GroupId, Millis, NewAuditEntry, Rollout, RolloutState, RolloutTarget,
    TargetState, now_millis,
};
use serde_json::json;

/// A rollout as the caller resolved it: the devices are the targets, all in `group`.
#[derive(Debug, Clone)]
pub struct RolloutRequest {
    pub actor: String,
    pub firmware: String,
    pub group: GroupId,
    /// What was asked for (`device:ID`, `kind:K`, `app:ID`), kept for people.
    pub selector: String,
    pub devices: Vec<DeviceId>,
    /// 1..=100: the first wave's share (at least one device).
    pub first_percent: u8,
}

/// Largest rollout (devices).
const MAX_TARGETS: usize = 10_000;

impl Ota {
    /// Records the rollout and its targets (audited `rollout.create`) and sends the
    /// first wave.
    pub async fn start_rollout(&self, request: RolloutRequest) -> Result<Rollout, OtaError> {
        if request.devices.is_empty() {
            return Err(OtaError::Invalid {
                field: "targets",
                message: "no device matches the targets".into(),
            });
        }
        if request.devices.len() > MAX_TARGETS {
            return Err(OtaError::Invalid {
                field: "targets",
                message: format!("at most {MAX_TARGETS} devices per rollout"),
            });
        }
        if !(1..=100).contains(&request.first_percent) {
            return Err(OtaError::Invalid {
                field: "percentage_first",
                message: "must be 1..=100".into(),
            });
        }
        let firmware = self.inner.store.firmware(&request.firmware).await?;
        let now_ms = now_millis();
        let rollout = Rollout {
            id: crate::secret::random_string(12),
            firmware: firmware.id.clone(),
            group: request.group.clone(),
            selector: request.selector.clone(),
            first_percent: request.first_percent,
            state: if request.first_percent == 100 {
                RolloutState::Running
            } else {
                RolloutState::FirstWave
            },
            created_by: request.actor.clone(),
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        };
        let total = request.devices.len();
        let first = (total * usize::from(request.first_percent))
            .div_ceil(100)
            .max(1);
        let targets: Vec<RolloutTarget> = request
            .devices
            .iter()
            .enumerate()
            .map(|(index, device)| RolloutTarget {
                rollout: rollout.id.clone(),
                device: device.clone(),
                wave: if index < first { 1 } else { 2 },
                state: TargetState::Pending,
                progress: None,
                error: None,
                command: None,
                attempts: 0,
                reported_version: None,
                token_sha256: None,
                token_expires_at_ms: None,
                updated_at_ms: now_ms,
            })
            .collect();
        let audit = NewAuditEntry::new(&request.actor, "rollout.create", &rollout.id)
            .with_detail(json!({"firmware": firmware.id, "version": firmware.version,
                "selector": rollout.selector, "devices": total, "first_wave": first}));
        let _guard = self.inner.lock.lock().await;
        self.inner
            .store
            .insert_rollout(&rollout, &targets, &audit)
            .await?;
        let wave = if rollout.state == RolloutState::Running {
            2
        } else {
            1
        };
        for target in targets.into_iter().filter(|target| target.wave <= wave) {
            self.send_locked(&rollout, &firmware, target).await?;
        }
        Ok(rollout)
    }

    /// Sends the second wave now (audited `rollout.continue`).
    pub async fn continue_rollout(&self, actor: &str, id: &str) -> Result<Rollout, OtaError> {
        let _guard = self.inner.lock.lock().await;
        let rollout = self.inner.store.rollout(id).await?;
        if rollout.state != RolloutState::FirstWave {
            return Err(OtaError::Invalid {
                field: "state",
                message: format!(
                    "rollout {id} is {}, not in its first wave",
                    rollout.state.as_str()
                ),
            });
        }
        let audit = NewAuditEntry::new(actor, "rollout.continue", id);
        self.next_wave_locked(rollout, Some(&audit)).await
    }

    /// Moves a first-wave rollout on to the rest (the tracker when the first wave all
    /// succeeded, or [`Ota::continue_rollout`]).
    pub(super) async fn next_wave_locked(
        &self,
        mut rollout: Rollout,
        audit: Option<&NewAuditEntry>,
    ) -> Result<Rollout, OtaError> {
        rollout.state = RolloutState::Running;
        rollout.updated_at_ms = now_millis();
        self.inner
            .store
            .update_rollout(&rollout, &[], audit)
            .await?;
        let firmware = self.inner.store.firmware(&rollout.firmware).await?;
        let waiting: Vec<RolloutTarget> = self
            .inner
            .store
            .rollout_targets(&rollout.id)
            .await?
            .into_iter()
            .filter(|target| target.state == TargetState::Pending && target.command.is_none())
            .collect();
        for target in waiting {
            self.send_locked(&rollout, &firmware, target).await?;
        }
        Ok(rollout)
    }

    /// Stops the rollout (audited `rollout.stop`): nothing more is sent, every target
    /// not finished is `stopped` and its download token no longer works.
    pub async fn stop_rollout(&self, actor: &str, id: &str) -> Result<Rollout, OtaError> {
        let _guard = self.inner.lock.lock().await;
        let mut rollout = self.inner.store.rollout(id).await?;
        if rollout.state == RolloutState::Stopped {
            return Ok(rollout);
        }
        let now_ms = now_millis();
        rollout.state = RolloutState::Stopped;
        rollout.updated_at_ms = now_ms;
        let stopped: Vec<RolloutTarget> = self
            .inner
            .store
            .rollout_targets(id)
            .await?
            .into_iter()
            .filter(|target| !target.state.is_final())
            .map(|mut target| {
                target.state = TargetState::Stopped;
                target.token_sha256 = None;
                target.token_expires_at_ms = None;
                target.updated_at_ms = now_ms;
                target
            })
            .collect();
        let audit = NewAuditEntry::new(actor, "rollout.stop", id)
            .with_detail(json!({"stopped_devices": stopped.len()}));
        self.inner
            .store
            .update_rollout(&rollout, &stopped, Some(&audit))
            .await?;
        self.announce(&rollout, &stopped).await;
        Ok(rollout)
    }

    /// Sends the image again to every failed device (audited `rollout.retry`), with a
    /// new token (the old one stops working).
    pub async fn retry_rollout(&self, actor: &str, id: &str) -> Result<u32, OtaError> {
        let _guard = self.inner.lock.lock().await;
        let rollout = self.inner.store.rollout(id).await?;
        if rollout.state == RolloutState::Stopped {
            return Err(OtaError::Invalid {
                field: "state",
                message: format!("rollout {id} is stopped"),
            });
        }
        let failed: Vec<RolloutTarget> = self
            .inner
            .store
            .rollout_targets(id)
            .await?
            .into_iter()
            .filter(|target| target.state == TargetState::Failed)
            .collect();
        let audit = NewAuditEntry::new(actor, "rollout.retry", id)
            .with_detail(json!({"devices": failed.len()}));
        self.inner
            .store
            .update_rollout(&rollout, &[], Some(&audit))
            .await?;
        let firmware = self.inner.store.firmware(&rollout.firmware).await?;
        let count = failed.len() as u32;
        for mut target in failed {
            target.error = None;
            target.progress = None;
            self.send_locked(&rollout, &firmware, target).await?;
        }
        Ok(count)
    }

    /// A rollout with its targets.
    pub async fn rollout(&self, id: &str) -> Result<(Rollout, Vec<RolloutTarget>), OtaError> {
        let rollout = self.inner.store.rollout(id).await?;
        let targets = self.inner.store.rollout_targets(id).await?;
        Ok((rollout, targets))
    }

    /// Gives `target` a new token and sends it the `ota` command. Call with the lock.
    async fn send_locked(
        &self,
        rollout: &Rollout,
        firmware: &Firmware,
        mut target: RolloutTarget,
    ) -> Result<(), OtaError> {
        let token = crate::secret::random_string(40);
        let ttl_secs = self.inner.config.token_ttl_secs.max(1);
        let now_ms = now_millis();
        target.token_sha256 = Some(token_digest(&token));
        target.token_expires_at_ms = Some(now_ms + Millis::from(ttl_secs) * 1_000);
        target.attempts += 1;
        target.state = TargetState::Pending;
        target.updated_at_ms = now_ms;
        // Stored before the command goes out: a device that answers at once finds it.
        target.command = None;
        self.inner.store.update_rollout_target(&target).await?;
        let params = json!({
            "url": format!("{}/api/v1/firmware/download/{token}", self.inner.base_url),
            "sha256": firmware.sha256,
            "size": firmware.size,
            "version": firmware.version,
            "rollout": rollout.id,
        });
        let actor = format!("rollout:{}", rollout.id);
        let sent = match &self.inner.sender {
            super::Sender::Hub(commands) => {
                commands
                    .send(&actor, &target.device, "ota", params, Some(ttl_secs))
                    .await
            }
            super::Sender::Store(config) => crate::commands::record_new(
                self.inner.store.as_ref(),
                config,
                &actor,
                &target.device,
                "ota",
                params,
                Some(ttl_secs),
            )
            .await
            .map(|(command, _)| command),
        };
        match sent {
            Ok(command) => {
                target.command = Some(command.id.clone());
                if command.status == hearth_model::CommandStatus::Sent {
                    target.state = TargetState::Sent;
                }
            }
            Err(crate::commands::CommandError::Stopped) => return Err(OtaError::Stopped),
            Err(error) => {
                target.state = TargetState::Failed;
                target.error = Some(format!("command refused: {error}"));
                target.token_sha256 = None;
                target.token_expires_at_ms = None;
            }
        }
        target.updated_at_ms = now_millis();
        self.inner.store.update_rollout_target(&target).await?;
        self.announce(rollout, std::slice::from_ref(&target)).await;
        Ok(())
    }
}
