//! History upkeep, run by the hub itself: compaction of closed ranges into blocks and
//! aggregate tiers, then retention per level (raw points, each tier), per metric or
//! device kind (`[[history.policies]]`), raw messages per application, and presence
//! changes. See docs/history.md.

mod config;

pub use config::{BlockWidth, Keep, RetentionConfig, RetentionPolicy, Span};

use crate::lease::Leadership;
use hearth_model::{AppId, Millis, now_millis};
use hearth_store::{CompactRequest, CompactStats, DeviceFilter, SeriesKey, Store, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const DAY_MS: Millis = 86_400_000;

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upkeep {
    pub compacted: CompactStats,
    /// Raw points, tier rows, messages and presence changes deleted.
    pub pruned: u64,
}

/// The cut-off `days` before `now_ms`, or `None` for 0 (kept forever).
fn cutoff(now_ms: Millis, days: u32) -> Option<Millis> {
    (days > 0).then(|| now_ms - Millis::from(days) * DAY_MS)
}

/// One round: compacts every range closed `compact_delay_secs` ago, then deletes what
/// each level's retention no longer keeps.
pub async fn run_once(
    store: &dyn Store,
    config: &RetentionConfig,
    now_ms: Millis,
) -> Result<Upkeep, StoreError> {
    let delay_ms =
        Millis::try_from(config.compact_delay_secs.saturating_mul(1000)).unwrap_or(Millis::MAX);
    let compacted = store
        .compact(&CompactRequest {
            before_ms: now_ms.saturating_sub(delay_ms),
            block_ms: config.block.0.0,
            tiers: config.tiers.iter().map(|tier| tier.0).collect(),
            batch_series: config.batch_series,
        })
        .await?;

    let kinds: HashMap<String, String> = store
        .devices(&DeviceFilter::default())
        .await?
        .into_iter()
        .map(|device| (device.id.to_string(), device.kind))
        .collect();
    let mut by_keep: BTreeMap<Keep, Vec<SeriesKey>> = BTreeMap::new();
    for series in store.series_keys().await? {
        let kind = kinds.get(series.device.as_str()).map(String::as_str);
        by_keep
            .entry(config.keep(&series.metric, kind))
            .or_default()
            .push(series);
    }
    let mut pruned = 0;
    for (keep, series) in &by_keep {
        if let Some(before) = cutoff(now_ms, keep.raw_days) {
            pruned += store.prune_points(None, before, Some(series)).await?;
        }
        for (tier, days) in &keep.tier_days {
            if let Some(before) = cutoff(now_ms, *days) {
                pruned += store
                    .prune_points(Some(*tier), before, Some(series))
                    .await?;
            }
        }
    }

    let own: Vec<(AppId, u32)> = store
        .apps(None)
        .await?
        .into_iter()
        .filter_map(|app| Some((app.id, app.message_retention_days?)))
        .collect();
    for (app, days) in &own {
        if let Some(before) = cutoff(now_ms, *days) {
            pruned += store.prune_messages(before, Some(app), &[]).await?;
        }
    }
    if let Some(before) = cutoff(now_ms, config.message_retention_days) {
        let except: Vec<AppId> = own.into_iter().map(|(app, _)| app).collect();
        pruned += store.prune_messages(before, None, &except).await?;
    }
    if let Some(before) = cutoff(now_ms, config.raw_retention_days) {
        pruned += store.prune_status(before).await?;
    }
    Ok(Upkeep { compacted, pruned })
}

/// What the upkeep task did since the hub started, for `/metrics`.
#[derive(Debug, Default)]
pub struct UpkeepCounters {
    pub rounds: AtomicU64,
    pub failures: AtomicU64,
    pub compacted_points: AtomicU64,
    pub compacted_messages: AtomicU64,
    pub blocks_written: AtomicU64,
    pub pruned: AtomicU64,
    /// How long the last round took, in milliseconds.
    pub last_round_ms: AtomicU64,
}

impl UpkeepCounters {
    fn record(&self, done: &Upkeep, elapsed_ms: u64) {
        self.rounds.fetch_add(1, Ordering::Relaxed);
        let compacted = &done.compacted;
        self.compacted_points
            .fetch_add(compacted.points, Ordering::Relaxed);
        self.compacted_messages
            .fetch_add(compacted.messages, Ordering::Relaxed);
        self.blocks_written.fetch_add(
            compacted.point_blocks + compacted.message_blocks,
            Ordering::Relaxed,
        );
        self.pruned.fetch_add(done.pruned, Ordering::Relaxed);
        self.last_round_ms.store(elapsed_ms, Ordering::Relaxed);
    }
}

/// Runs [`run_once`] now and then every `interval_secs`, until aborted: on every node
/// that shares the store it would do the same work, so a round runs only while
/// `leadership` is held (the coordinator lease, docs/scale.md; always for a single
/// node) and is skipped otherwise.
pub fn spawn(
    store: Arc<dyn Store>,
    config: RetentionConfig,
    counters: Arc<UpkeepCounters>,
    leadership: Leadership,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(config.interval_secs.max(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if !leadership.is_held() {
                tracing::debug!("history compaction and retention: not the coordinator, skipped");
                continue;
            }
            let started = std::time::Instant::now();
            let result = run_once(store.as_ref(), &config, now_millis()).await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match result {
                Ok(done) => {
                    counters.record(&done, elapsed_ms);
                    tracing::debug!(
                        points = done.compacted.points,
                        point_blocks = done.compacted.point_blocks,
                        messages = done.compacted.messages,
                        message_blocks = done.compacted.message_blocks,
                        pruned = done.pruned,
                        elapsed_ms,
                        "history compaction and retention done"
                    )
                }
                Err(error) => {
                    counters.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("history compaction and retention failed: {error}")
                }
            }
        }
    })
}
