//! The SQLite half of `write_batch` (the shared part is `sql/history.rs`): multi-row
//! `INSERT ... VALUES (...), (...)` in chunks from a fixed ladder of sizes (at most 7
//! parameters a row, 4,096 rows: 28,672 parameters, under SQLite's 32,766), so that
//! every chunk reuses a statement sqlx prepared and cached on this connection. The live
//! updates likewise: `WITH u AS (VALUES ...) UPDATE devices ... FROM u` (one statement
//! instead of one per device: each statement is a round trip to sqlx's worker thread).

use super::Db;
use super::registry::DbTx;
use crate::sql::{backend, ladder_chunks};
use crate::{IngestBatch, LiveUpdate, StoreResult};
use hearth_model::Point;
use sqlx::QueryBuilder;

/// Rows per INSERT at most (the top of the ladder).
const CHUNK: usize = 4_096;

pub(super) async fn insert_batch(
    tx: &mut DbTx,
    batch: &IngestBatch,
    series_ids: &[i64],
) -> StoreResult<()> {
    super::memory::note_batch();
    for chunk in ladder_chunks(&batch.messages, CHUNK) {
        let mut insert: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO messages (device_id, kind, received_at_ms, payload, json_ok, ts_clamped) ",
        );
        insert.push_values(chunk, |mut row, message| {
            row.push_bind(message.device.as_str())
                .push_bind(message.kind.as_str())
                .push_bind(message.received_at_ms)
                .push_bind(&message.payload[..])
                .push_bind(message.json_ok)
                .push_bind(message.ts_clamped);
        });
        insert.build().execute(&mut **tx).await.map_err(backend)?;
    }
    let points: Vec<(i64, &Point)> = series_ids.iter().copied().zip(&batch.points).collect();
    for chunk in ladder_chunks(&points, CHUNK) {
        let mut insert: QueryBuilder<Db> =
            QueryBuilder::new("INSERT INTO points (series_id, at_ms, value) ");
        insert.push_values(chunk, |mut row, (series_id, point)| {
            row.push_bind(*series_id)
                .push_bind(point.at_ms)
                .push_bind(point.value);
        });
        insert.build().execute(&mut **tx).await.map_err(backend)?;
    }
    for chunk in ladder_chunks(&batch.status_changes, CHUNK) {
        let mut insert: QueryBuilder<Db> =
            QueryBuilder::new("INSERT INTO status_changes (device_id, at_ms, online, reason) ");
        insert.push_values(chunk, |mut row, change| {
            row.push_bind(change.device.as_str())
                .push_bind(change.at_ms)
                .push_bind(change.online)
                .push_bind(change.reason.as_str());
        });
        insert.build().execute(&mut **tx).await.map_err(backend)?;
    }
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
