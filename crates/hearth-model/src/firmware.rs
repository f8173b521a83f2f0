//! Firmware updates over the air (issue 17): images, rollouts and each device's progress.
//!
//! An image is stored once by its SHA-256; a rollout sends it to a set of devices in one
//! group, a first wave (a percentage) and then the rest. Each device's row moves
//! `pending → sent → downloading → installing → succeeded`, or to `failed` with the
//! reason the device (or the hub) gave; `stopped` when the rollout was stopped before
//! the device got it. See docs/ota.md for the protocol.

use crate::{DeviceId, GroupId, Millis};
use serde::{Deserialize, Serialize};

/// An uploaded firmware image. The file is `<data_dir>/firmware/<sha256>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Firmware {
    /// Random, URL-safe.
    pub id: String,
    pub name: String,
    /// What devices report as `firmware_version` once they run it.
    pub version: String,
    /// The device kind it is for (`relay`, `sensor`, ...).
    pub kind: String,
    /// Lowercase hex SHA-256 of the file: the name of the file and what devices check.
    pub sha256: String,
    pub size: u64,
    /// Who uploaded it (`user:alice`, `cli:root`).
    pub uploaded_by: String,
    pub uploaded_at_ms: Millis,
}

/// A device's place in a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TargetState {
    /// Waiting for its wave (or for the device to be online).
    Pending,
    /// The `ota` command was published (or queued for the offline device).
    Sent,
    /// The device said it is downloading (with a percentage).
    Downloading,
    /// The device verified the image and is installing it.
    Installing,
    /// The device reported the new version.
    Succeeded,
    /// The device (or the hub: timeout, refused command) gave a reason.
    Failed,
    /// The rollout was stopped before this device finished.
    Stopped,
}

impl TargetState {
    pub const ALL: [TargetState; 7] = [
        TargetState::Pending,
        TargetState::Sent,
        TargetState::Downloading,
        TargetState::Installing,
        TargetState::Succeeded,
        TargetState::Failed,
        TargetState::Stopped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Pending => "pending",
            TargetState::Sent => "sent",
            TargetState::Downloading => "downloading",
            TargetState::Installing => "installing",
            TargetState::Succeeded => "succeeded",
            TargetState::Failed => "failed",
            TargetState::Stopped => "stopped",
        }
    }

    pub fn parse(text: &str) -> Option<TargetState> {
        TargetState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
    }

    /// Whether the device is done with this rollout (no report moves it any more).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            TargetState::Succeeded | TargetState::Failed | TargetState::Stopped
        )
    }

    /// Whether the device has the command and is working on it.
    pub fn is_in_flight(self) -> bool {
        matches!(
            self,
            TargetState::Sent | TargetState::Downloading | TargetState::Installing
        )
    }
}

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RolloutState {
    /// Sending to the first wave; the rest waits for it to succeed (or a continue).
    FirstWave,
    /// Every device has been sent the command.
    Running,
    /// Stopped by someone: nothing more is sent.
    Stopped,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::FirstWave => "firstwave",
            RolloutState::Running => "running",
            RolloutState::Stopped => "stopped",
        }
    }

    pub fn parse(text: &str) -> Option<RolloutState> {
        [
            RolloutState::FirstWave,
            RolloutState::Running,
            RolloutState::Stopped,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// One rollout of one image to devices of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rollout {
    pub id: String,
    pub firmware: String,
    /// The group every target belongs to (who may see and steer the rollout).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub group: GroupId,
    /// What was asked for: `device:ID`, `kind:K` or `app:ID`.
    pub selector: String,
    /// Share of the targets in the first wave (1..=100).
    pub first_percent: u8,
    pub state: RolloutState,
    pub created_by: String,
    pub created_at_ms: Millis,
    pub updated_at_ms: Millis,
}

/// One device of a rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolloutTarget {
    pub rollout: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub device: DeviceId,
    /// 1 for the first wave, 2 for the rest.
    pub wave: u8,
    pub state: TargetState,
    /// The last percentage the device reported while downloading.
    pub progress: Option<u8>,
    /// Why it failed (the device's words, or `timeout`, `command refused: ...`).
    pub error: Option<String>,
    /// The `ota` command of the latest attempt.
    pub command: Option<String>,
    /// Attempts sent so far (a retry adds one).
    pub attempts: u32,
    /// The version the device reported last.
    pub reported_version: Option<String>,
    /// SHA-256 (hex) of the current download token; never the token itself, never shown.
    #[serde(skip)]
    pub token_sha256: Option<String>,
    /// When the download token stops working.
    #[serde(skip)]
    pub token_expires_at_ms: Option<Millis>,
    pub updated_at_ms: Millis,
}

/// Counts by state and the failure reasons of a rollout: what `GET /rollouts/{id}`
/// and `hearth rollout show` print first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolloutSummary {
    pub total: u32,
    pub pending: u32,
    pub in_flight: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub stopped: u32,
    /// Each distinct reason with how many devices failed for it, most common first.
    pub failures: Vec<(String, u32)>,
    /// "4 updated, 1 failed: checksum mismatch".
    pub text: String,
}

impl RolloutSummary {
    pub fn of(targets: &[RolloutTarget]) -> RolloutSummary {
        let mut summary = RolloutSummary {
            total: targets.len() as u32,
            ..RolloutSummary::default()
        };
        let mut reasons: Vec<(String, u32)> = Vec::new();
        for target in targets {
            match target.state {
                TargetState::Pending => summary.pending += 1,
                TargetState::Succeeded => summary.succeeded += 1,
                TargetState::Stopped => summary.stopped += 1,
                TargetState::Failed => {
                    summary.failed += 1;
                    let reason = target.error.clone().unwrap_or_else(|| "unknown".into());
                    match reasons.iter_mut().find(|(known, _)| *known == reason) {
                        Some((_, count)) => *count += 1,
                        None => reasons.push((reason, 1)),
                    }
                }
                _ => summary.in_flight += 1,
            }
        }
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut parts = vec![format!("{} updated", summary.succeeded)];
        if summary.failed > 0 {
            let why: Vec<String> = reasons
                .iter()
                .map(|(reason, count)| {
                    if summary.failed == *count {
                        reason.clone()
                    } else {
                        format!("{reason} ({count})")
                    }
                })
                .collect();
            parts.push(format!("{} failed: {}", summary.failed, why.join(", ")));
        }
        if summary.in_flight > 0 {
            parts.push(format!("{} in progress", summary.in_flight));
        }
        if summary.pending > 0 {
            parts.push(format!("{} pending", summary.pending));
        }
        if summary.stopped > 0 {
            parts.push(format!("{} stopped", summary.stopped));
        }
        summary.text = parts.join(", ");
        summary.failures = reasons;
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(state: TargetState, error: Option<&str>) -> RolloutTarget {
        RolloutTarget {
            rollout: "r".into(),
            device: "d".parse().unwrap(),
            wave: 1,
            state,
            progress: None,
            error: error.map(str::to_owned),
            command: None,
            attempts: 1,
            reported_version: None,
            token_sha256: None,
            token_expires_at_ms: None,
            updated_at_ms: 0,
        }
    }

    #[test]
    fn the_summary_names_counts_and_reasons() {
        let mut targets = vec![target(TargetState::Succeeded, None); 4];
        targets.push(target(TargetState::Failed, Some("checksum mismatch")));
        assert_eq!(
            RolloutSummary::of(&targets).text,
            "4 updated, 1 failed: checksum mismatch"
        );
        targets.push(target(TargetState::Failed, Some("timeout")));
        targets.push(target(TargetState::Failed, Some("timeout")));
        targets.push(target(TargetState::Pending, None));
        let summary = RolloutSummary::of(&targets);
        assert_eq!(
            summary.text,
            "4 updated, 3 failed: timeout (2), checksum mismatch (1), 1 pending"
        );
        assert_eq!(summary.failures[0], ("timeout".to_owned(), 2));
    }

    #[test]
    fn states_round_trip() {
        for state in TargetState::ALL {
            assert_eq!(TargetState::parse(state.as_str()), Some(state));
        }
        assert!(TargetState::Failed.is_final() && !TargetState::Sent.is_final());
    }
}
