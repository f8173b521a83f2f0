//! The SQLite half of `write_batch` (the shared part is `sql/history.rs`): multi-row
//! `INSERT ... VALUES (...), (...)` in chunks from a fixed ladder of sizes (at most 5
//! parameters a row, 4,096 rows: 20,480 parameters, under SQLite's 32,766), so that
//! every chunk reuses a statement sqlx prepared and cached on this connection. Live
//! updates are one cached `UPDATE` per device: inside the transaction it costs a B-tree
//! lookup, no round trip over a network.

use super::Db;
use super::registry::DbTx;
use crate::sql::{backend, ladder_chunks};
use crate::{IngestBatch, StoreResult};
use sqlx::QueryBuilder;

/// Rows per INSERT at most (the top of the ladder).
const CHUNK: usize = 4_096;

pub(super) async fn insert_batch(tx: &mut DbTx, batch: &IngestBatch) -> StoreResult<()> {
    for chunk in ladder_chunks(&batch.messages, CHUNK) {
        let mut insert: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO messages (device_id, kind, received_at_ms, payload, json_ok) ",
        );
        insert.push_values(chunk, |mut row, message| {
            row.push_bind(message.device.as_str())
                .push_bind(message.kind.as_str())
                .push_bind(message.received_at_ms)
                .push_bind(&message.payload[..])
                .push_bind(message.json_ok);
        });
        insert.build().execute(&mut **tx).await.map_err(backend)?;
    }
    for chunk in ladder_chunks(&batch.points, CHUNK) {
        let mut insert: QueryBuilder<Db> =
            QueryBuilder::new("INSERT INTO points (device_id, metric, at_ms, value) ");
        insert.push_values(chunk, |mut row, point| {
            row.push_bind(point.device.as_str())
                .push_bind(point.metric.as_str())
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
    for update in &batch.live {
        let Some(device) = &update.device else {
            continue;
        };
        // A device deleted meanwhile matches no row: ignored, as the contract says.
        sqlx::query(
            "UPDATE devices SET is_online = COALESCE($2, is_online), \
             last_seen_ms = COALESCE($3, last_seen_ms), \
             last_heartbeat_ms = COALESCE($4, last_heartbeat_ms), \
             device_status = COALESCE($5, device_status), \
             last_report_data = COALESCE($6, last_report_data) WHERE id = $1",
        )
        .bind(device.as_str())
        .bind(update.is_online)
        .bind(update.last_seen_ms)
        .bind(update.last_heartbeat_ms)
        .bind(update.device_status.as_deref())
        .bind(update.last_report_data.as_deref())
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    }
    Ok(())
}
