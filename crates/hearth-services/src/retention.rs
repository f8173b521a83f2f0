//! History upkeep, run by the hub itself: hourly rollups of raw points, then retention
//! (raw history kept `raw_retention_days`, rollups `rollup_retention_days`).

use hearth_model::{Millis, now_millis};
use hearth_store::Store;
use std::sync::Arc;
use std::time::Duration;

const DAY_MS: Millis = 86_400_000;
const HOUR_MS: Millis = 3_600_000;

/// `[history]` in hearth.toml.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Raw messages, points and status changes older than this are deleted.
    pub raw_retention_days: u32,
    /// Hourly rollups (min/max/avg/count) older than this are deleted.
    pub rollup_retention_days: u32,
    /// How often rollups and retention run.
    pub interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> RetentionConfig {
        RetentionConfig {
            raw_retention_days: 30,
            rollup_retention_days: 730,
            interval_secs: 3_600,
        }
    }
}

/// One round: rolls up every whole hour before the current one, then prunes. Returns
/// (rollup rows written, rows deleted).
pub async fn run_once(
    store: &dyn Store,
    config: &RetentionConfig,
    now_ms: Millis,
) -> Result<(u64, u64), hearth_store::StoreError> {
    let this_hour = now_ms - now_ms.rem_euclid(HOUR_MS);
    let rolled = store.roll_up(this_hour).await?;
    let raw_before = now_ms - Millis::from(config.raw_retention_days) * DAY_MS;
    let rollups_before = now_ms - Millis::from(config.rollup_retention_days) * DAY_MS;
    let pruned = store.prune(raw_before, rollups_before).await?;
    Ok((rolled, pruned))
}

/// Runs [`run_once`] now and then every `interval_secs`, until aborted.
pub fn spawn(store: Arc<dyn Store>, config: RetentionConfig) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(config.interval_secs.max(60)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match run_once(store.as_ref(), &config, now_millis()).await {
                Ok((rolled, pruned)) => {
                    tracing::debug!(rolled, pruned, "history rollups and retention done")
                }
                Err(error) => tracing::warn!("history rollups and retention failed: {error}"),
            }
        }
    })
}
