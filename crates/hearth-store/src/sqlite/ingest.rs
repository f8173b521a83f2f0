//! The SQLite half of `write_batch` (the shared part is `sql/history.rs`): the multi-row
//! INSERTs it shares with MariaDB (`sql/ingest_rows.rs`), at most 4,096 rows a statement
//! (at most 7 parameters a row: 28,672 parameters, under SQLite's 32,766). The live
//! updates likewise: `WITH u AS (VALUES ...) UPDATE devices ... FROM u` (one statement
//! instead of one per device: each statement is a round trip to sqlx's worker thread).

use super::Db;
use super::ingest_rows::{insert_messages, insert_points, insert_status_changes};
use super::registry::DbTx;
use crate::sql::{backend, ladder_chunks};
use crate::{IngestBatch, LiveUpdate, StoreResult};
use sqlx::QueryBuilder;

/// Rows per INSERT at most (the top of the ladder).
const CHUNK: usize = 4_096;

pub(super) async fn insert_batch(
    tx: &mut DbTx,
    batch: &IngestBatch,
    series_ids: &[i64],
) -> StoreResult<()> {
    super::memory::note_batch();
    insert_messages(tx, &batch.messages, CHUNK).await?;
    insert_points(tx, series_ids, &batch.points, CHUNK).await?;
    insert_status_changes(tx, &batch.status_changes, CHUNK).await?;
    let live: Vec<(&str, &LiveUpdate)> = batch
        .live
        .iter()
        .filter_map(|update| Some((update.device.as_ref()?.as_str(), update)))
        .collect();
    for chunk in ladder_chunks(&live, CHUNK) {
        // A device deleted meanwhile joins no row: ignored, as the contract says.
        let mut update: QueryBuilder<Db> = QueryBuilder::new(
            "WITH u (id, is_online, last_seen_ms, last_heartbeat_ms, device_status, \
             last_report_data, last_report_ms) AS (",
        );
        update.push_values(chunk, |mut row, (id, live)| {
            row.push_bind(*id)
                .push_bind(live.is_online)
                .push_bind(live.last_seen_ms)
                .push_bind(live.last_heartbeat_ms)
                .push_bind(live.device_status.as_deref())
                .push_bind(live.last_report_data.as_deref())
                .push_bind(live.last_report_ms);
        });
        update.push(
            ") UPDATE devices SET is_online = COALESCE(u.is_online, devices.is_online), \
             last_seen_ms = COALESCE(u.last_seen_ms, devices.last_seen_ms), \
             last_heartbeat_ms = COALESCE(u.last_heartbeat_ms, devices.last_heartbeat_ms), \
             device_status = COALESCE(u.device_status, devices.device_status), \
             last_report_data = CASE WHEN u.last_report_data IS NOT NULL AND \
             (devices.last_report_ms IS NULL OR u.last_report_ms IS NULL OR \
             u.last_report_ms >= devices.last_report_ms) \
             THEN u.last_report_data ELSE devices.last_report_data END, \
             last_report_ms = CASE WHEN u.last_report_data IS NOT NULL AND \
             (devices.last_report_ms IS NULL OR u.last_report_ms IS NULL OR \
             u.last_report_ms >= devices.last_report_ms) \
             THEN u.last_report_ms ELSE devices.last_report_ms END \
             FROM u WHERE devices.id = u.id",
        );
        update.build().execute(&mut **tx).await.map_err(backend)?;
    }
    Ok(())
}
