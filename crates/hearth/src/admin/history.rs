//! `hearth history stats|compact` (issue 19): what the history holds, and one round of
//! the upkeep a running hub does every `[history] interval_secs` (compaction, then
//! retention), now. Useful after an upgrade, when months of plain rows wait for their
//! first compaction, and before a backup. Safe beside a running hub: every batch is its
//! own transaction, and SQLite's busy timeout lets the two take turns.

use super::output;
use super::{Ctx, Failure, OutputArgs};
use clap::{Args, Subcommand};
use hearth_model::now_millis;
use hearth_store::HistorySize;
use serde_json::json;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: HistoryCommand,
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Counts and sizes: plain rows, compacted blocks and their bytes, tier rows.
    Stats,
    /// Compact every closed range now, then apply retention (what the hub does every
    /// `[history] interval_secs`).
    Compact {
        /// Only compact; delete nothing.
        #[arg(long)]
        no_retention: bool,
    },
}

pub async fn run(ctx: &Ctx, command: HistoryCommand) -> Result<(), Failure> {
    match command {
        HistoryCommand::Stats => {
            let size = ctx.store.history_size().await?;
            if ctx.out.json {
                ctx.out
                    .json(&json!({ "size": size, "ratios": ratios(&size) }));
                return Ok(());
            }
            print_size(&size);
        }
        HistoryCommand::Compact { no_retention } => {
            let started = Instant::now();
            let mut config = ctx.history.clone();
            if no_retention {
                config.raw_retention_days = 0;
                config.rollup_retention_days = 0;
                config.tier_retention_days.clear();
                config.message_retention_days = 0;
                config.policies.clear();
            }
            let done =
                hearth_services::retention::run_once(ctx.store.as_ref(), &config, now_millis())
                    .await?;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let compacted = done.compacted;
            ctx.out.done(
                json!({
                    "points": compacted.points,
                    "point_blocks": compacted.point_blocks,
                    "messages": compacted.messages,
                    "message_blocks": compacted.message_blocks,
                    "pruned": done.pruned,
                    "elapsed_ms": elapsed_ms,
                }),
                &format!(
                    "compacted {} points into {} blocks and {} messages into {} blocks, \
                     deleted {} rows by retention, in {elapsed_ms} ms",
                    compacted.points,
                    compacted.point_blocks,
                    compacted.messages,
                    compacted.message_blocks,
                    done.pruned
                ),
            );
        }
    }
    Ok(())
}

/// Bytes per compacted point and compacted messages' share of their payloads.
fn ratios(size: &HistorySize) -> serde_json::Value {
    let per = |bytes: u64, count: u64| (count > 0).then(|| bytes as f64 / count as f64);
    json!({
        "block_bytes_per_point": per(size.point_block_bytes, size.block_points),
        "message_bytes_per_payload_byte":
            per(size.message_block_bytes, size.block_message_payload_bytes),
    })
}

fn print_size(size: &HistorySize) {
    let ratios = ratios(size);
    let show = |value: &serde_json::Value| match value.as_f64() {
        Some(ratio) => format!("{ratio:.2}"),
        None => "-".to_owned(),
    };
    output::fields(&[
        ("plain points", size.plain_points.to_string()),
        ("compacted points", size.block_points.to_string()),
        ("point blocks", size.point_blocks.to_string()),
        ("point block bytes", size.point_block_bytes.to_string()),
        (
            "bytes per compacted point",
            show(&ratios["block_bytes_per_point"]),
        ),
        ("plain messages", size.plain_messages.to_string()),
        ("compacted messages", size.block_messages.to_string()),
        ("message blocks", size.message_blocks.to_string()),
        ("message block bytes", size.message_block_bytes.to_string()),
        (
            "of their payload bytes",
            show(&ratios["message_bytes_per_payload_byte"]),
        ),
        ("tier rows", size.tier_rows.to_string()),
    ]);
}
