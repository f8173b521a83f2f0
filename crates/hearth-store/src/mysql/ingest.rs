//! The MariaDB half of `write_batch` (the shared part is `sql/history.rs`): the multi-row
//! INSERTs it shares with SQLite (`sql/ingest_rows.rs`), with messages cut by payload bytes
//! as well, so that no statement outgrows the server's `max_allowed_packet` (16 MiB by
//! default). The live updates: the batch's devices locked in id order (two writers lock
//! them in the same order, as on PostgreSQL), then one `UPDATE ... JOIN` over a derived
//! table of the batch's rows.

use super::Db;
use super::ingest_rows::{insert_messages, insert_points, insert_status_changes};
use super::registry::DbTx;
use crate::sql::{backend, ladder_chunks};
use crate::{IngestBatch, LiveUpdate, NewMessage, StoreResult};
use sqlx::QueryBuilder;

/// Rows per INSERT at most (the top of the ladder): 6 parameters a row, 12,288 a
/// statement, under MariaDB's 65,535.
const CHUNK: usize = 2_048;

/// Payload bytes per INSERT of messages at most: a quarter of the default
/// `max_allowed_packet`, leaving room for the other columns and the text.
const PAYLOAD_BYTES: usize = 4 << 20;

pub(super) async fn insert_batch(
    tx: &mut DbTx,
    batch: &IngestBatch,
    series_ids: &[i64],
) -> StoreResult<()> {
    for run in byte_runs(&batch.messages, PAYLOAD_BYTES) {
        insert_messages(tx, run, CHUNK).await?;
    }
    insert_points(tx, series_ids, &batch.points, CHUNK).await?;
    insert_status_changes(tx, &batch.status_changes, CHUNK).await?;
    let mut live: Vec<(&str, &LiveUpdate)> = batch
        .live
        .iter()
        .filter_map(|update| Some((update.device.as_ref()?.as_str(), update)))
        .collect();
    live.sort_unstable_by_key(|(id, _)| *id);
    for chunk in ladder_chunks(&live, CHUNK) {
        // Locked first, in id order: the join below locks in whatever order the
        // optimizer picks, and two writers picking differently would deadlock.
        let mut lock: QueryBuilder<Db> = QueryBuilder::new("SELECT 1 FROM devices WHERE id IN (");
        let mut ids = lock.separated(", ");
        for (id, _) in chunk {
            ids.push_bind(*id);
        }
        lock.push(") ORDER BY id FOR UPDATE");
        lock.build().execute(&mut **tx).await.map_err(backend)?;
        // A derived table of SELECTs joined by UNION ALL: MySQL 8 and MariaDB both take
        // it (their VALUES row constructors differ). A device deleted meanwhile joins
        // no row: ignored, as the contract says. Each assignment reads only the column
        // it assigns and `u`, or a condition that stays true once its own column is
        // assigned, so MariaDB's left-to-right assignment cannot change the outcome.
        let mut update: QueryBuilder<Db> = QueryBuilder::new("UPDATE devices JOIN (");
        for (index, (id, live)) in chunk.iter().enumerate() {
            update.push(if index == 0 {
                "SELECT "
            } else {
                " UNION ALL SELECT "
            });
            update
                .push_bind(*id)
                .push(" AS id, ")
                .push_bind(live.is_online)
                .push(" AS is_online, ")
                .push_bind(live.last_seen_ms)
                .push(" AS last_seen_ms, ")
                .push_bind(live.last_heartbeat_ms)
                .push(" AS last_heartbeat_ms, ")
                .push_bind(live.device_status.as_deref())
                .push(" AS device_status, ")
                .push_bind(live.last_report_data.as_deref())
                .push(" AS last_report_data, ")
                .push_bind(live.last_report_ms)
                .push(" AS last_report_ms");
        }
        update.push(
            ") AS u ON devices.id = u.id SET \
             devices.is_online = COALESCE(u.is_online, devices.is_online), \
             devices.last_seen_ms = COALESCE(u.last_seen_ms, devices.last_seen_ms), \
             devices.last_heartbeat_ms = COALESCE(u.last_heartbeat_ms, devices.last_heartbeat_ms), \
             devices.device_status = COALESCE(u.device_status, devices.device_status), \
             devices.last_report_data = CASE WHEN u.last_report_data IS NOT NULL AND \
             (devices.last_report_ms IS NULL OR u.last_report_ms IS NULL OR \
             u.last_report_ms >= devices.last_report_ms) \
             THEN u.last_report_data ELSE devices.last_report_data END, \
             devices.last_report_ms = CASE WHEN u.last_report_data IS NOT NULL AND \
             (devices.last_report_ms IS NULL OR u.last_report_ms IS NULL OR \
             u.last_report_ms >= devices.last_report_ms) \
             THEN u.last_report_ms ELSE devices.last_report_ms END",
        );
        update.build().execute(&mut **tx).await.map_err(backend)?;
    }
    Ok(())
}

/// `messages` cut into consecutive runs of at most `budget` payload bytes (a single
/// larger message is a run of its own).
fn byte_runs(messages: &[NewMessage], budget: usize) -> Vec<&[NewMessage]> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (index, message) in messages.iter().enumerate() {
        if index > start && bytes + message.payload.len() > budget {
            runs.push(&messages[start..index]);
            start = index;
            bytes = 0;
        }
        bytes += message.payload.len();
    }
    if start < messages.len() {
        runs.push(&messages[start..]);
    }
    runs
}
