//! The multi-row INSERTs of ingest that SQLite and MariaDB share: `INSERT ... VALUES (...),
//! (...)` in chunks from a fixed ladder of sizes (`ladder_chunks`), so that every chunk
//! reuses a statement the connection prepared before. Included by `sqlite/mod.rs` and
//! `mysql/mod.rs` only (PostgreSQL binds whole columns as arrays, `postgres/ingest.rs`);
//! each backend picks its largest chunk from its own parameter limit.

use super::Db;
use super::registry::DbTx;
use crate::sql::{backend, ladder_chunks};
use crate::{NewMessage, StoreResult};
use hearth_model::{Point, StatusChange};
use sqlx::QueryBuilder;

/// `messages` rows, at most `largest` a statement (6 parameters each).
pub(super) async fn insert_messages(
    tx: &mut DbTx,
    messages: &[NewMessage],
    largest: usize,
) -> StoreResult<()> {
    for chunk in ladder_chunks(messages, largest) {
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
    Ok(())
}

/// `points` rows, each under its series id (`series_ids[i]` for `points[i]`).
pub(super) async fn insert_points(
    tx: &mut DbTx,
    series_ids: &[i64],
    points: &[Point],
    largest: usize,
) -> StoreResult<()> {
    let rows: Vec<(i64, &Point)> = series_ids.iter().copied().zip(points).collect();
    for chunk in ladder_chunks(&rows, largest) {
        let mut insert: QueryBuilder<Db> =
            QueryBuilder::new("INSERT INTO points (series_id, at_ms, value) ");
        insert.push_values(chunk, |mut row, (series_id, point)| {
            row.push_bind(*series_id)
                .push_bind(point.at_ms)
                .push_bind(point.value);
        });
        insert.build().execute(&mut **tx).await.map_err(backend)?;
    }
    Ok(())
}

/// `status_changes` rows.
pub(super) async fn insert_status_changes(
    tx: &mut DbTx,
    changes: &[StatusChange],
    largest: usize,
) -> StoreResult<()> {
    for chunk in ladder_chunks(changes, largest) {
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
    Ok(())
}
