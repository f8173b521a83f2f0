//! History: the reads, rollups and retention of [`HistoryStore`], one copy for both
//! backends (included with `#[path]`, see `sql/mod.rs`). The write path differs (SQLite:
//! multi-row INSERTs; PostgreSQL: `UNNEST` of arrays), so `write_batch` calls the
//! backend's `ingest::insert_batch` inside the transaction it opens here.
//!
//! Compaction is `compact.rs`, retention `history_prune.rs`, the reads over plain rows and blocks
//! `history_read.rs`; each read runs in one snapshot transaction here, so that a
//! compaction moving rows meanwhile cannot make a point count twice or not at all.

use super::ingest::insert_batch;
use super::registry::{DbConn, DbRow, begin_write, finish, get, id};
use super::{BEGIN_SNAPSHOT, Db, ThisStore, compact, history_prune, history_read};
use super::{scalar, statement};
use crate::sql::backend;
use crate::{
    CompactRequest, CompactStats, HistorySize, HistoryStore, IngestBatch, MessageQuery, PointQuery,
    SeriesKey, StoreResult, TimeRange,
};
use async_trait::async_trait;
use hearth_model::{
    Aggregate, AppId, DeviceId, MessageKind, Millis, Point, PresenceReason, StatusChange,
    StoredMessage,
};
use sqlx::QueryBuilder;
use std::collections::BTreeMap;

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
        let rows = statement("SELECT CAST(id AS BIGINT) AS id, device_id, metric FROM series")
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
    // Sorted: writers (several nodes on one database) insert new series in one order,
    // so that two of them meeting on the same new keys wait for each other instead of
    // deadlocking (a `HashMap`'s order differs per map: PostgreSQL found deadlocks).
    let mut missing: BTreeMap<(&str, &str), i64> = BTreeMap::new();
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
        statement(
            "INSERT INTO series (device_id, metric) VALUES ($1, $2) \
             ON CONFLICT (device_id, metric) DO NOTHING",
        )
        .bind(*device)
        .bind(*metric)
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        *id = scalar("SELECT CAST(id AS BIGINT) FROM series WHERE device_id = $1 AND metric = $2")
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
            Ok(new_series)
        }
        .await;
        let new_series = finish(tx, result).await?;
        self.series.remember(new_series, false);
        Ok(())
    }

    async fn messages(&self, query: &MessageQuery) -> StoreResult<Vec<StoredMessage>> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_SNAPSHOT)
            .await
            .map_err(backend)?;
        let result = async {
            let mut select: QueryBuilder<Db> = QueryBuilder::new(
                "SELECT seq, device_id, kind, received_at_ms, payload, json_ok, ts_clamped \
                 FROM messages WHERE device_id = ",
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
            let rows = select.build().fetch_all(&mut *tx).await.map_err(backend)?;
            let plain = rows
                .iter()
                .map(message_from_row)
                .collect::<StoreResult<_>>()?;
            history_read::messages(&mut tx, query, plain).await
        }
        .await;
        finish(tx, result).await
    }

    async fn message_count(&self, device: Option<&DeviceId>) -> StoreResult<u64> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_SNAPSHOT)
            .await
            .map_err(backend)?;
        let result = async {
            let (plain, blocks) = match device {
                Some(device) => (
                    scalar("SELECT COUNT(*) FROM messages WHERE device_id = $1")
                        .bind(device.as_str())
                        .fetch_one(&mut *tx)
                        .await,
                    scalar(
                        "SELECT CAST(COALESCE(SUM(message_count), 0) AS BIGINT) \
                         FROM message_blocks WHERE device_id = $1",
                    )
                    .bind(device.as_str())
                    .fetch_one(&mut *tx)
                    .await,
                ),
                None => (
                    scalar("SELECT COUNT(*) FROM messages")
                        .fetch_one(&mut *tx)
                        .await,
                    scalar(
                        "SELECT CAST(COALESCE(SUM(message_count), 0) AS BIGINT) \
                         FROM message_blocks",
                    )
                    .fetch_one(&mut *tx)
                    .await,
                ),
            };
            let plain: i64 = plain.map_err(backend)?;
            let blocks: i64 = blocks.map_err(backend)?;
            Ok((plain + blocks) as u64)
        }
        .await;
        finish(tx, result).await
    }

    async fn points(&self, query: &PointQuery) -> StoreResult<Vec<Point>> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_SNAPSHOT)
            .await
            .map_err(backend)?;
        let result = history_read::points(&mut tx, query).await;
        finish(tx, result).await
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
        let mut tx = self
            .pool
            .begin_with(BEGIN_SNAPSHOT)
            .await
            .map_err(backend)?;
        let result = history_read::aggregates(&mut tx, device, metric, range, bucket_ms).await;
        finish(tx, result).await
    }

    async fn latest_points(&self, device: &DeviceId) -> StoreResult<Vec<Point>> {
        let mut tx = self
            .pool
            .begin_with(BEGIN_SNAPSHOT)
            .await
            .map_err(backend)?;
        let result = history_read::latest_points(&mut tx, device).await;
        finish(tx, result).await
    }

    async fn status_history(
        &self,
        device: &DeviceId,
        range: TimeRange,
        limit: u32,
    ) -> StoreResult<Vec<StatusChange>> {
        let rows = statement(
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

    async fn compact(&self, request: &CompactRequest) -> StoreResult<CompactStats> {
        compact::compact(self, request).await
    }

    async fn history_size(&self) -> StoreResult<HistorySize> {
        history_prune::history_size(self).await
    }

    async fn series_keys(&self) -> StoreResult<Vec<SeriesKey>> {
        history_prune::series_keys(self).await
    }

    async fn prune_points(
        &self,
        level: Option<Millis>,
        before_ms: Millis,
        series: Option<&[SeriesKey]>,
    ) -> StoreResult<u64> {
        history_prune::prune_points(self, level, before_ms, series).await
    }

    async fn prune_messages(
        &self,
        before_ms: Millis,
        app: Option<&AppId>,
        except: &[AppId],
    ) -> StoreResult<u64> {
        history_prune::prune_messages(self, before_ms, app, except).await
    }

    async fn prune_status(&self, before_ms: Millis) -> StoreResult<u64> {
        history_prune::prune_status(self, before_ms).await
    }
}
