//! The PostgreSQL half of `write_batch` (the shared part is `sql/history.rs`): one
//! statement per table, each row's columns bound as arrays and turned back into rows by
//! `UNNEST`, so a batch of any size is a handful of round trips and one cached statement
//! per table. The live updates are one `UPDATE ... FROM UNNEST(...)` for the whole batch
//! (one round trip, not one per device), after locking those rows in id order so that
//! two writers (several nodes on one database) lock them in the same order.

use super::registry::DbTx;
use crate::sql::backend;
use crate::{IngestBatch, StoreResult};

pub(super) async fn insert_batch(
    tx: &mut DbTx,
    batch: &IngestBatch,
    series_ids: &[i64],
) -> StoreResult<()> {
    if !batch.messages.is_empty() {
        let messages = &batch.messages;
        sqlx::query(
            "INSERT INTO messages (device_id, kind, received_at_ms, payload, json_ok, ts_clamped) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::bytea[], $5::bool[], \
             $6::bool[])",
        )
        .bind(
            messages
                .iter()
                .map(|m| m.device.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(messages.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>())
        .bind(
            messages
                .iter()
                .map(|m| m.received_at_ms)
                .collect::<Vec<_>>(),
        )
        .bind(messages.iter().map(|m| &m.payload[..]).collect::<Vec<_>>())
        .bind(messages.iter().map(|m| m.json_ok).collect::<Vec<_>>())
        .bind(messages.iter().map(|m| m.ts_clamped).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    }
    if !batch.points.is_empty() {
        let points = &batch.points;
        sqlx::query(
            "INSERT INTO points (series_id, at_ms, value) \
             SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::float8[])",
        )
        .bind(series_ids)
        .bind(points.iter().map(|p| p.at_ms).collect::<Vec<_>>())
        .bind(points.iter().map(|p| p.value).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    }
    if !batch.status_changes.is_empty() {
        let changes = &batch.status_changes;
        sqlx::query(
            "INSERT INTO status_changes (device_id, at_ms, online, reason) \
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::bool[], $4::text[])",
        )
        .bind(
            changes
                .iter()
                .map(|c| c.device.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(changes.iter().map(|c| c.at_ms).collect::<Vec<_>>())
        .bind(changes.iter().map(|c| c.online).collect::<Vec<_>>())
        .bind(
            changes
                .iter()
                .map(|c| c.reason.as_str())
                .collect::<Vec<_>>(),
        )
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    }
    let mut live: Vec<_> = batch
        .live
        .iter()
        .filter_map(|update| Some((update.device.as_ref()?.as_str(), update)))
        .collect();
    if !live.is_empty() {
        live.sort_unstable_by_key(|(id, _)| *id);
        // The rows locked first, in id order. The UPDATE below joins by a hash over a
        // scan of `devices`, which locks in the order of the rows' versions in the
        // table, and two nodes' snapshots may see a row's version in different places:
        // two batches then lock the same devices in different orders and deadlock
        // (seen with three nodes on one database: tests/series_race.rs).
        sqlx::query("SELECT 1 FROM devices WHERE id = ANY($1) ORDER BY id FOR UPDATE")
            .bind(live.iter().map(|(id, _)| *id).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
        // Ids that match no device (deleted meanwhile) join nothing: ignored.
        sqlx::query(
            "UPDATE devices AS d SET is_online = COALESCE(u.is_online, d.is_online), \
             last_seen_ms = COALESCE(u.last_seen_ms, d.last_seen_ms), \
             last_heartbeat_ms = COALESCE(u.last_heartbeat_ms, d.last_heartbeat_ms), \
             device_status = COALESCE(u.device_status, d.device_status), \
             last_report_data = CASE WHEN u.last_report_data IS NOT NULL AND \
             (d.last_report_ms IS NULL OR u.last_report_ms IS NULL OR \
             u.last_report_ms >= d.last_report_ms) \
             THEN u.last_report_data ELSE d.last_report_data END, \
             last_report_ms = CASE WHEN u.last_report_data IS NOT NULL AND \
             (d.last_report_ms IS NULL OR u.last_report_ms IS NULL OR \
             u.last_report_ms >= d.last_report_ms) \
             THEN u.last_report_ms ELSE d.last_report_ms END \
             FROM UNNEST($1::text[], $2::bool[], $3::int8[], $4::int8[], $5::text[], $6::text[], \
             $7::int8[]) AS u (id, is_online, last_seen_ms, last_heartbeat_ms, device_status, \
             last_report_data, last_report_ms) WHERE d.id = u.id",
        )
        .bind(live.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .bind(live.iter().map(|(_, u)| u.is_online).collect::<Vec<_>>())
        .bind(live.iter().map(|(_, u)| u.last_seen_ms).collect::<Vec<_>>())
        .bind(
            live.iter()
                .map(|(_, u)| u.last_heartbeat_ms)
                .collect::<Vec<_>>(),
        )
        .bind(
            live.iter()
                .map(|(_, u)| u.device_status.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            live.iter()
                .map(|(_, u)| u.last_report_data.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            live.iter()
                .map(|(_, u)| u.last_report_ms)
                .collect::<Vec<_>>(),
        )
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    }
    Ok(())
}
