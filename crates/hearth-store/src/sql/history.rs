//! History: the reads, rollups and retention of [`HistoryStore`], one copy for both
//! backends (included with `#[path]`, see `sql/mod.rs`). The write path differs (SQLite:
//! multi-row INSERTs; PostgreSQL: `UNNEST` of arrays), so `write_batch` calls the
//! backend's `ingest::insert_batch` inside the transaction it opens here.
//!
//! Rollups: `roll_up` folds whole hours of raw points into `point_rollups` and moves
//! `history_state.rolled_up_to_ms` forward, in one transaction, so a second run finds
//! nothing left to count. `prune` records how far raw rows were deleted
//! (`raw_pruned_before_ms`); `aggregates` reads raw points from the first whole hour at or
//! after that mark and rollups before it, so no point is counted twice.

use super::ingest::insert_batch;
use super::registry::{DbConn, DbRow, begin_write, finish, get, id};
use super::{Db, ThisStore};
use crate::sql::backend;
use crate::{HistoryStore, IngestBatch, MessageQuery, PointQuery, StoreResult, TimeRange};
use async_trait::async_trait;
use hearth_model::{
    Aggregate, DeviceId, MessageKind, Millis, Point, PresenceReason, StatusChange, StoredMessage,
};
use sqlx::QueryBuilder;
use std::collections::{BTreeMap, HashMap};

/// The rollups' bucket.
const HOUR_MS: Millis = 3_600_000;

/// Min, max, sum and count of one bucket while raw and rolled-up parts are merged.
#[derive(Clone, Copy)]
struct Partial {
    min: f64,
    max: f64,
    sum: f64,
    count: i64,
}

impl Partial {
    fn merge(&mut self, other: Partial) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
    }
}

fn partial_from_row(row: &DbRow) -> StoreResult<(Millis, Partial)> {
    Ok((
        get(row, "bucket")?,
        Partial {
            min: get(row, "min_value")?,
            max: get(row, "max_value")?,
            sum: get(row, "sum_value")?,
            count: get(row, "point_count")?,
        },
    ))
}

fn message_from_row(row: &DbRow) -> StoreResult<StoredMessage> {
    Ok(StoredMessage {
        seq: get(row, "seq")?,
        device: id(row, "device_id", DeviceId::new)?,
        kind: id(row, "kind", |text| {
            MessageKind::parse(text).ok_or_else(|| format!("unknown message kind {text:?}"))
        })?,
        received_at_ms: get(row, "received_at_ms")?,
        payload: get(row, "payload")?,
        json_ok: get(row, "json_ok")?,
        ts_clamped: get(row, "ts_clamped")?,
    })
}

fn status_from_row(row: &DbRow) -> StoreResult<StatusChange> {
    Ok(StatusChange {
        device: id(row, "device_id", DeviceId::new)?,
        at_ms: get(row, "at_ms")?,
        online: get(row, "online")?,
        reason: id(row, "reason", |text| {
            PresenceReason::parse(text).ok_or_else(|| format!("unknown presence reason {text:?}"))
        })?,
    })
}

/// `(rolled_up_to_ms, raw_pruned_before_ms)`.
async fn history_state(conn: &mut DbConn) -> StoreResult<(Millis, Millis)> {
    let row =
        sqlx::query("SELECT rolled_up_to_ms, raw_pruned_before_ms FROM history_state WHERE id = 1")
            .fetch_one(conn)
            .await
            .map_err(backend)?;
    Ok((
        get(&row, "rolled_up_to_ms")?,
        get(&row, "raw_pruned_before_ms")?,
    ))
}

/// The series id of each point, in order, and the series looked up in the database
/// (to remember once the transaction commits). New series are inserted here, within
/// the batch's transaction; there are few (a device's metrics, once).
async fn series_ids(
    store: &ThisStore,
    conn: &mut DbConn,
    points: &[Point],
) -> StoreResult<(Vec<i64>, Vec<(String, String, i64)>)> {
    let keys = || {
        points
            .iter()
            .map(|point| (point.device.as_str(), point.metric.as_str()))
    };
    let mut found = store.series.lookup(keys());
    if found.contains(&None) && !store.series.loaded() {
        // Before this transaction inserts anything, every row it sees is committed.
        let rows = sqlx::query("SELECT CAST(id AS BIGINT) AS id, device_id, metric FROM series")
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?;
        let all = rows
            .iter()
            .map(|row| Ok((get(row, "device_id")?, get(row, "metric")?, get(row, "id")?)))
            .collect::<StoreResult<Vec<_>>>()?;
        store.series.remember(all, true);
        found = store.series.lookup(keys());
    }
    let mut missing: HashMap<(&str, &str), i64> = HashMap::new();
    let mut ids: Vec<i64> = keys()
        .zip(found)
        .map(|(key, id)| {
            id.unwrap_or_else(|| {
                missing.insert(key, -1);
                -1
            })
        })
        .collect();
    if missing.is_empty() {
        return Ok((ids, Vec::new()));
    }
    let mut looked_up = Vec::with_capacity(missing.len());
    for ((device, metric), id) in &mut missing {
        sqlx::query(
            "INSERT INTO series (device_id, metric) VALUES ($1, $2) \
             ON CONFLICT (device_id, metric) DO NOTHING",
        )
        .bind(*device)
        .bind(*metric)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        *id = sqlx::query_scalar(
            "SELECT CAST(id AS BIGINT) FROM series WHERE device_id = $1 AND metric = $2",
        )
        .bind(*device)
        .bind(*metric)
        .fetch_one(&mut *conn)
        .await
        .map_err(backend)?;
        looked_up.push((device.to_string(), metric.to_string(), *id));
    }
    for (key, id) in keys().zip(&mut ids) {
        if *id < 0 {
            *id = missing[&key];
        }
    }
    Ok((ids, looked_up))
}

/// Adds points that arrived after their hour was rolled up (a device's queued readings
/// carry their own `ts`, issue 17) to that hour's rollup, in the batch's transaction:
/// otherwise charts over rolled-up ranges would never count them. Points of the current
/// hour, all of them in a normal batch, cost no query.
async fn fold_late_points(
    conn: &mut DbConn,
    points: &[Point],
    series_ids: &[i64],
) -> StoreResult<()> {
    let current_hour = hour_floor(hearth_model::now_millis());
    if points.iter().all(|point| point.at_ms >= current_hour) {
        return Ok(());
    }
    let (rolled_up_to, _) = history_state(conn).await?;
    let mut late: BTreeMap<(i64, Millis), Partial> = BTreeMap::new();
    for (point, series_id) in points.iter().zip(series_ids) {
        if point.at_ms >= rolled_up_to {
            continue;
        }
        let one = Partial {
            min: point.value,
            max: point.value,
            sum: point.value,
            count: 1,
        };
        late.entry((*series_id, hour_floor(point.at_ms)))
            .and_modify(|partial| partial.merge(one))
            .or_insert(one);
    }
    for ((series_id, bucket), partial) in late {
        sqlx::query(
            "INSERT INTO point_rollups (series_id, bucket_start_ms, min_value, max_value, \
             sum_value, point_count) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (series_id, bucket_start_ms) DO UPDATE SET \
             min_value = CASE WHEN excluded.min_value < point_rollups.min_value \
             THEN excluded.min_value ELSE point_rollups.min_value END, \
             max_value = CASE WHEN excluded.max_value > point_rollups.max_value \
             THEN excluded.max_value ELSE point_rollups.max_value END, \
             sum_value = point_rollups.sum_value + excluded.sum_value, \
             point_count = point_rollups.point_count + excluded.point_count",
        )
        .bind(series_id)
        .bind(bucket)
        .bind(partial.min)
        .bind(partial.max)
        .bind(partial.sum)
        .bind(partial.count)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// The start of the hour `at_ms` falls in.
fn hour_floor(at_ms: Millis) -> Millis {
    at_ms.div_euclid(HOUR_MS) * HOUR_MS
}

#[async_trait]
impl HistoryStore for ThisStore {
    async fn write_batch(&self, batch: &IngestBatch) -> StoreResult<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let (series_ids, new_series) = series_ids(self, &mut tx, &batch.points).await?;
            insert_batch(&mut tx, batch, &series_ids).await?;
            fold_late_points(&mut tx, &batch.points, &series_ids).await?;
            Ok(new_series)
        }
        .await;
        let new_series = finish(tx, result).await?;
        self.series.remember(new_series, false);
        Ok(())
    }

    async fn messages(&self, query: &MessageQuery) -> StoreResult<Vec<StoredMessage>> {
        let mut select: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT seq, device_id, kind, received_at_ms, payload, json_ok, ts_clamped FROM messages \
             WHERE device_id = ",
        );
        select
            .push_bind(query.device.as_str().to_owned())
            .push(" AND received_at_ms >= ")
            .push_bind(query.range.from_ms)
            .push(" AND received_at_ms < ")
            .push_bind(query.range.to_ms);
        if let Some(kind) = query.kind {
            select.push(" AND kind = ").push_bind(kind.as_str());
        }
        select
            .push(" ORDER BY received_at_ms DESC, seq DESC LIMIT ")
            .push_bind(i64::from(query.limit));
        let rows = select
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(message_from_row).collect()
    }

    async fn message_count(&self, device: Option<&DeviceId>) -> StoreResult<u64> {
        let count: i64 = match device {
            Some(device) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE device_id = $1")
                    .bind(device.as_str())
                    .fetch_one(&self.pool)
                    .await
            }
            None => {
                sqlx::query_scalar("SELECT COUNT(*) FROM messages")
                    .fetch_one(&self.pool)
                    .await
            }
        }
        .map_err(backend)?;
        Ok(count as u64)
    }

    async fn points(&self, query: &PointQuery) -> StoreResult<Vec<Point>> {
        let rows = sqlx::query(
            "SELECT at_ms, value FROM points WHERE series_id = (SELECT id FROM series \
             WHERE device_id = $1 AND metric = $2) AND at_ms >= $3 AND at_ms < $4 \
             ORDER BY at_ms LIMIT $5",
        )
        .bind(query.device.as_str())
        .bind(query.metric.as_str())
        .bind(query.range.from_ms)
        .bind(query.range.to_ms)
        .bind(i64::from(query.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(Point {
                    device: query.device.clone(),
                    metric: query.metric.clone(),
                    at_ms: get(row, "at_ms")?,
                    value: get(row, "value")?,
                })
            })
            .collect()
    }

    async fn aggregates(
        &self,
        device: &DeviceId,
        metric: &str,
        range: TimeRange,
        bucket_ms: Millis,
    ) -> StoreResult<Vec<Aggregate>> {
        if bucket_ms <= 0 {
            return Err(crate::StoreError::Refused(format!(
                "the aggregate bucket must be positive, not {bucket_ms} ms"
            )));
        }
        // One snapshot for the bookkeeping row and both reads (SQLite: one WAL snapshot;
        // PostgreSQL: REPEATABLE READ), so a concurrent roll-up or prune cannot make a
        // point count twice or not at all.
        let mut tx = self
            .pool
            .begin_with(super::BEGIN_SNAPSHOT)
            .await
            .map_err(backend)?;
        let result: StoreResult<_> = async {
            let (_, raw_pruned_before) = history_state(&mut tx).await?;
            // Raw points are complete from `raw_from` on; before it, whole hours come
            // from the rollups (only when hours fold into the buckets exactly).
            let raw_from = if bucket_ms % HOUR_MS == 0 && raw_pruned_before > range.from_ms {
                hour_floor(raw_pruned_before.saturating_add(HOUR_MS - 1))
            } else {
                range.from_ms
            };
            let mut buckets: BTreeMap<Millis, Partial> = BTreeMap::new();
            if raw_from > range.from_ms {
                let rows = sqlx::query(
                    "SELECT (bucket_start_ms / $3) * $3 AS bucket, MIN(min_value) AS min_value, \
                     MAX(max_value) AS max_value, SUM(sum_value) AS sum_value, \
                     CAST(SUM(point_count) AS BIGINT) AS point_count FROM point_rollups \
                     WHERE series_id = (SELECT id FROM series \
                     WHERE device_id = $1 AND metric = $2) AND bucket_start_ms >= $4 AND bucket_start_ms < $5 \
                     GROUP BY bucket",
                )
                .bind(device.as_str())
                .bind(metric)
                .bind(bucket_ms)
                .bind(range.from_ms)
                .bind(raw_from.min(range.to_ms))
                .fetch_all(&mut *tx)
                .await
                .map_err(backend)?;
                for row in &rows {
                    let (bucket, partial) = partial_from_row(row)?;
                    buckets.insert(bucket, partial);
                }
            }
            let rows = sqlx::query(
                "SELECT (at_ms / $3) * $3 AS bucket, MIN(value) AS min_value, \
                 MAX(value) AS max_value, SUM(value) AS sum_value, COUNT(*) AS point_count \
                 FROM points WHERE series_id = (SELECT id FROM series \
                 WHERE device_id = $1 AND metric = $2) AND at_ms >= $4 AND at_ms < $5 \
                 GROUP BY bucket",
            )
            .bind(device.as_str())
            .bind(metric)
            .bind(bucket_ms)
            .bind(raw_from.max(range.from_ms))
            .bind(range.to_ms)
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?;
            for row in &rows {
                let (bucket, partial) = partial_from_row(row)?;
                buckets
                    .entry(bucket)
                    .and_modify(|merged| merged.merge(partial))
                    .or_insert(partial);
            }
            Ok(buckets)
        }
        .await;
        // Read-only: ending it either way releases the snapshot.
        let buckets = finish(tx, result).await?;
        Ok(buckets
            .into_iter()
            .map(|(bucket_start_ms, partial)| Aggregate {
                bucket_start_ms,
                min: partial.min,
                max: partial.max,
                avg: partial.sum / partial.count as f64,
                count: partial.count as u64,
            })
            .collect())
    }

    async fn latest_points(&self, device: &DeviceId) -> StoreResult<Vec<Point>> {
        // The newest point of each of the device's series (one index probe each). Ties on
        // `at_ms` go to the larger value in both subqueries, so they agree.
        let rows = sqlx::query(
            "SELECT metric, at_ms, value FROM ( \
                 SELECT s.metric, \
                     (SELECT p.at_ms FROM points p WHERE p.series_id = s.id \
                      ORDER BY p.at_ms DESC, p.value DESC LIMIT 1) AS at_ms, \
                     (SELECT p.value FROM points p WHERE p.series_id = s.id \
                      ORDER BY p.at_ms DESC, p.value DESC LIMIT 1) AS value \
                 FROM series s WHERE s.device_id = $1 \
             ) AS latest WHERE at_ms IS NOT NULL ORDER BY metric",
        )
        .bind(device.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(Point {
                    device: device.clone(),
                    metric: get(row, "metric")?,
                    at_ms: get(row, "at_ms")?,
                    value: get(row, "value")?,
                })
            })
            .collect()
    }

    async fn status_history(
        &self,
        device: &DeviceId,
        range: TimeRange,
        limit: u32,
    ) -> StoreResult<Vec<StatusChange>> {
        let rows = sqlx::query(
            "SELECT device_id, at_ms, online, reason FROM status_changes \
             WHERE device_id = $1 AND at_ms >= $2 AND at_ms < $3 \
             ORDER BY at_ms DESC, id DESC LIMIT $4",
        )
        .bind(device.as_str())
        .bind(range.from_ms)
        .bind(range.to_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(status_from_row).collect()
    }

    async fn roll_up(&self, before_ms: Millis) -> StoreResult<u64> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let (rolled_up_to, raw_pruned_before) = history_state(&mut tx).await?;
            let end = hour_floor(before_ms);
            if end <= rolled_up_to {
                return Ok(0);
            }
            // Hours already rolled up are never recomputed (their raw points may be
            // pruned by now); the upsert only guards against a hand-edited state row.
            let start = rolled_up_to.max(hour_floor(raw_pruned_before));
            let done = sqlx::query(
                "INSERT INTO point_rollups (series_id, bucket_start_ms, min_value, max_value, \
                 sum_value, point_count) \
                 SELECT series_id, (at_ms / $3) * $3, MIN(value), MAX(value), SUM(value), \
                 COUNT(*) FROM points WHERE at_ms >= $1 AND at_ms < $2 GROUP BY 1, 2 \
                 ON CONFLICT (series_id, bucket_start_ms) DO UPDATE SET \
                 min_value = excluded.min_value, max_value = excluded.max_value, \
                 sum_value = excluded.sum_value, point_count = excluded.point_count",
            )
            .bind(start)
            .bind(end)
            .bind(HOUR_MS)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            sqlx::query("UPDATE history_state SET rolled_up_to_ms = $1 WHERE id = 1")
                .bind(end)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            Ok(done.rows_affected())
        }
        .await;
        finish(tx, result).await
    }

    async fn prune(&self, raw_before_ms: Millis, rollup_before_ms: Millis) -> StoreResult<u64> {
        let mut tx = begin_write(self).await?;
        let result: StoreResult<_> = async {
            let mut deleted = 0;
            for sql in [
                "DELETE FROM messages WHERE received_at_ms < $1",
                "DELETE FROM points WHERE at_ms < $1",
                "DELETE FROM status_changes WHERE at_ms < $1",
            ] {
                let done = sqlx::query(sql)
                    .bind(raw_before_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                deleted += done.rows_affected();
            }
            let done = sqlx::query("DELETE FROM point_rollups WHERE bucket_start_ms < $1")
                .bind(rollup_before_ms)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            deleted += done.rows_affected();
            sqlx::query(
                "UPDATE history_state SET raw_pruned_before_ms = $1 \
                 WHERE id = 1 AND raw_pruned_before_ms < $1",
            )
            .bind(raw_before_ms)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
            Ok(deleted)
        }
        .await;
        finish(tx, result).await
    }
}
