//! Compaction and retention of the history (issue 19), one copy for both backends
//! (included with `#[path]`, see `sql/mod.rs`).
//!
//! Compaction moves the plain rows of closed ranges into blocks: `DELETE ... RETURNING`
//! takes exactly the rows it moves (a reading that ingest commits meanwhile is either
//! returned or stays plain for the next round, never lost), they are merged with the
//! range's block if one exists (late readings), encoded (`crate::codec`) and written
//! back, and the moved points are added to the aggregate tiers, all in one
//! transaction per batch of series. A crash rolls the batch back whole.
//!
//! Retention is `history_prune.rs`.

use super::registry::{DbConn, DbTx, begin_write, finish, get};
use super::{Db, ROW_ID, ThisStore, dialect};
use super::{scalar, statement};
use crate::codec::{self, BlockMessage};
use crate::sql::backend;
use crate::{CompactRequest, CompactStats, StoreError, StoreResult};
use hearth_model::{DeviceId, MessageKind, Millis, StoredMessage};
use sqlx::QueryBuilder;
use std::collections::{BTreeMap, HashMap};

/// Ids per `IN (...)` list, and rows per multi-row insert (7 parameters a row at most:
/// well under both backends' parameter limits).
pub(super) const LIST: usize = 500;
/// Plain points moved per transaction at most (and messages, a fifth of it: they carry
/// payloads). Bounds the write lock ingest waits for and the memory of a round, also
/// for a first compaction of months of plain rows after an upgrade; a range cut in
/// two is merged into its block by the next transaction.
pub(super) const ROWS_PER_TX: i64 = 50_000;

/// The code a message kind has inside a block.
pub(super) fn kind_code(kind: MessageKind) -> u8 {
    match kind {
        MessageKind::Data => 0,
        MessageKind::Status => 1,
        MessageKind::Heartbeat => 2,
        MessageKind::Event => 3,
    }
}

fn kind_from_code(code: u8) -> StoreResult<MessageKind> {
    Ok(match code {
        0 => MessageKind::Data,
        1 => MessageKind::Status,
        2 => MessageKind::Heartbeat,
        3 => MessageKind::Event,
        other => return Err(corrupt(format!("unknown message kind code {other}"))),
    })
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("a history block is corrupt: {what}"))
}

/// The start of the range of width `width` that `at_ms` falls in.
pub(super) fn floor_to(at_ms: Millis, width: Millis) -> Millis {
    at_ms.div_euclid(width) * width
}

/// The first multiple of `width` at or after `at_ms`.
pub(super) fn ceil_to(at_ms: Millis, width: Millis) -> Millis {
    floor_to(at_ms.saturating_add(width - 1), width)
}

/// Decodes a point block.
pub(super) fn decode_points(data: &[u8]) -> StoreResult<Vec<(Millis, f64)>> {
    codec::decode_points(data).map_err(corrupt)
}

/// Decodes a message block of `device` into stored messages.
pub(super) fn decode_messages(device: &DeviceId, data: &[u8]) -> StoreResult<Vec<StoredMessage>> {
    codec::decode_messages(data)
        .map_err(corrupt)?
        .into_iter()
        .map(|message| {
            Ok(StoredMessage {
                seq: message.seq,
                device: device.clone(),
                kind: kind_from_code(message.kind)?,
                received_at_ms: message.received_at_ms,
                payload: message.payload,
                json_ok: message.json_ok,
                ts_clamped: message.ts_clamped,
            })
        })
        .collect()
}

fn check(request: &CompactRequest) -> StoreResult<()> {
    let block = request.block_ms;
    if !(60_000..=CompactRequest::MAX_BLOCK_MS).contains(&block)
        || CompactRequest::MAX_BLOCK_MS % block != 0
    {
        return Err(StoreError::Refused(format!(
            "a history block must be between a minute and a day and divide a day, not {block} ms"
        )));
    }
    if let Some(tier) = request.tiers.iter().find(|tier| **tier <= 0) {
        return Err(StoreError::Refused(format!(
            "an aggregate tier must be positive, not {tier} ms"
        )));
    }
    Ok(())
}

/// Min, max, sum and count of a bucket: what compaction adds to a tier, and what
/// charts merge from tiers, blocks and plain rows (`history_read.rs`).
#[derive(Clone, Copy)]
pub(super) struct Partial {
    pub(super) min: f64,
    pub(super) max: f64,
    pub(super) sum: f64,
    pub(super) count: i64,
}

impl Partial {
    pub(super) fn of(value: f64) -> Partial {
        Partial {
            min: value,
            max: value,
            sum: value,
            count: 1,
        }
    }

    pub(super) fn merge(&mut self, other: Partial) {
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
    }
}

pub(super) async fn compact(
    store: &ThisStore,
    request: &CompactRequest,
) -> StoreResult<CompactStats> {
    check(request)?;
    let before = floor_to(request.before_ms, request.block_ms);
    let batch = request.batch_series.max(1) as usize;
    let mut stats = CompactStats::default();

    let mut tx = begin_write(store).await?;
    let result = sync_tiers(&mut tx, &request.tiers).await;
    let tiers = finish(tx, result).await?;

    let series: Vec<i64> = scalar(
        "SELECT CAST(s.id AS BIGINT) FROM series s WHERE EXISTS \
         (SELECT 1 FROM points p WHERE p.series_id = s.id AND p.at_ms < $1) ORDER BY s.id",
    )
    .bind(before)
    .fetch_all(&store.pool)
    .await
    .map_err(backend)?;
    for chunk in series.chunks(batch) {
        loop {
            let mut tx = begin_write(store).await?;
            let result = compact_points(&mut tx, chunk, before, request.block_ms, &tiers).await;
            let (points, blocks) = finish(tx, result).await?;
            stats.points += points;
            stats.point_blocks += blocks;
            if (points as i64) < ROWS_PER_TX {
                break;
            }
        }
    }

    let devices = devices_with_messages_before(store, before).await?;
    for chunk in devices.chunks(batch) {
        loop {
            let mut tx = begin_write(store).await?;
            let result = compact_messages(&mut tx, chunk, before, request.block_ms).await;
            let (messages, blocks) = finish(tx, result).await?;
            stats.messages += messages;
            stats.message_blocks += blocks;
            if (messages as i64) < ROWS_PER_TX / 5 {
                break;
            }
        }
    }

    let mut tx = begin_write(store).await?;
    let result = async {
        statement(
            "UPDATE history_state SET compacted_before_ms = $1 \
             WHERE id = 1 AND compacted_before_ms < $1",
        )
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        Ok(())
    }
    .await;
    finish(tx, result).await?;
    Ok(stats)
}

/// Makes `history_tiers` the requested tiers: a new tier is complete from the first
/// bucket after everything compacted so far (older points are in blocks, not in it); a
/// tier no longer requested is dropped with its rows. Returns the tiers to fold into.
async fn sync_tiers(tx: &mut DbTx, wanted: &[Millis]) -> StoreResult<Vec<Millis>> {
    let kept: Vec<Millis> = scalar("SELECT bucket_ms FROM history_tiers")
        .fetch_all(&mut **tx)
        .await
        .map_err(backend)?;
    let compacted_before: Millis =
        scalar("SELECT compacted_before_ms FROM history_state WHERE id = 1")
            .fetch_one(&mut **tx)
            .await
            .map_err(backend)?;
    for tier in kept.iter().filter(|tier| !wanted.contains(tier)) {
        tracing::warn!(
            bucket_ms = tier,
            "an aggregate tier left the configuration: dropped"
        );
        for sql in [
            "DELETE FROM point_tiers WHERE bucket_ms = $1",
            "DELETE FROM series_levels WHERE bucket_ms = $1",
            "DELETE FROM history_tiers WHERE bucket_ms = $1",
        ] {
            statement(sql)
                .bind(tier)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
        }
    }
    for tier in wanted.iter().filter(|tier| !kept.contains(tier)) {
        statement("INSERT INTO history_tiers (bucket_ms, since_ms) VALUES ($1, $2)")
            .bind(tier)
            .bind(ceil_to(compacted_before, *tier))
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
    }
    let mut tiers = wanted.to_vec();
    tiers.sort_unstable();
    tiers.dedup();
    Ok(tiers)
}

/// Pushes ` (a, b, c)` as a list of bound values.
pub(super) fn push_list<T>(query: &mut QueryBuilder<Db>, items: &[T])
where
    T: Clone + for<'t> sqlx::Encode<'t, Db> + sqlx::Type<Db>,
{
    query.push(" (");
    let mut list = query.separated(", ");
    for item in items {
        list.push_bind(item.clone());
    }
    list.push_unseparated(")");
}

async fn compact_points(
    conn: &mut DbConn,
    series: &[i64],
    before: Millis,
    block_ms: Millis,
    tiers: &[Millis],
) -> StoreResult<(u64, u64)> {
    // The oldest `ROWS_PER_TX` of these series. SQLite and PostgreSQL find them by the
    // row's own id (rowid, ctid: `points` has no key of its own, to keep ingest's rows
    // narrow); MariaDB has no row id but deletes in order with a limit itself (and
    // refuses a LIMIT inside `IN (...)`).
    let mut delete: QueryBuilder<Db> = QueryBuilder::new("DELETE FROM points WHERE ");
    if let Some(row_id) = ROW_ID {
        delete
            .push(row_id)
            .push(" IN (SELECT ")
            .push(row_id)
            .push(" FROM points WHERE ");
    }
    delete
        .push("at_ms < ")
        .push_bind(before)
        .push(" AND series_id IN");
    push_list(&mut delete, series);
    delete
        .push(" ORDER BY series_id, at_ms LIMIT ")
        .push_bind(ROWS_PER_TX);
    if ROW_ID.is_some() {
        delete.push(")");
    }
    delete.push(dialect(
        " RETURNING CAST(series_id AS BIGINT) AS series_id, at_ms, value",
    ));
    let rows = delete
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
    let moved = rows.len() as u64;
    let mut ranges: BTreeMap<(i64, Millis), Vec<(Millis, f64)>> = BTreeMap::new();
    let mut folds: BTreeMap<(i64, Millis, Millis), Partial> = BTreeMap::new();
    for row in &rows {
        let series_id: i64 = get(row, "series_id")?;
        let at_ms: Millis = get(row, "at_ms")?;
        let value: f64 = get(row, "value")?;
        ranges
            .entry((series_id, floor_to(at_ms, block_ms)))
            .or_default()
            .push((at_ms, value));
        for tier in tiers {
            folds
                .entry((series_id, *tier, floor_to(at_ms, *tier)))
                .and_modify(|fold| fold.merge(Partial::of(value)))
                .or_insert_with(|| Partial::of(value));
        }
    }
    drop(rows);
    let existing = existing_point_blocks(conn, &ranges, block_ms).await?;
    let mut blocks = Vec::with_capacity(ranges.len());
    for ((series_id, start), mut points) in ranges {
        if let Some(data) = existing.get(&(series_id, start)) {
            points.extend(decode_points(data)?);
        }
        points.sort_by_key(|(at_ms, _)| *at_ms);
        blocks.push((
            series_id,
            start,
            points.len() as i64,
            codec::encode_points(&points),
        ));
    }
    let written = blocks.len() as u64;
    for chunk in blocks.chunks(LIST) {
        let mut insert: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO point_blocks (series_id, start_ms, end_ms, point_count, data) ",
        );
        insert.push_values(chunk, |mut row, (series_id, start, count, data)| {
            row.push_bind(*series_id)
                .push_bind(*start)
                .push_bind(*start + block_ms)
                .push_bind(*count)
                .push_bind(data.as_slice());
        });
        insert.push(dialect(
            " ON CONFLICT (series_id, start_ms, end_ms) DO UPDATE SET \
             point_count = excluded.point_count, data = excluded.data",
        ));
        insert.build().execute(&mut *conn).await.map_err(backend)?;
    }
    let folds: Vec<_> = folds.into_iter().collect();
    for chunk in folds.chunks(LIST) {
        let mut insert: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO point_tiers (series_id, bucket_ms, bucket_start_ms, min_value, \
             max_value, sum_value, point_count) ",
        );
        insert.push_values(chunk, |mut row, ((series_id, tier, start), fold)| {
            row.push_bind(*series_id)
                .push_bind(*tier)
                .push_bind(*start)
                .push_bind(fold.min)
                .push_bind(fold.max)
                .push_bind(fold.sum)
                .push_bind(fold.count);
        });
        insert.push(dialect(
            " ON CONFLICT (series_id, bucket_ms, bucket_start_ms) DO UPDATE SET \
             min_value = CASE WHEN excluded.min_value < point_tiers.min_value \
             THEN excluded.min_value ELSE point_tiers.min_value END, \
             max_value = CASE WHEN excluded.max_value > point_tiers.max_value \
             THEN excluded.max_value ELSE point_tiers.max_value END, \
             sum_value = point_tiers.sum_value + excluded.sum_value, \
             point_count = point_tiers.point_count + excluded.point_count",
        ));
        insert.build().execute(&mut *conn).await.map_err(backend)?;
    }
    Ok((moved, written))
}

/// The encoded blocks that already exist for these ranges (late readings), by
/// `(series, start)`.
async fn existing_point_blocks(
    conn: &mut DbConn,
    ranges: &BTreeMap<(i64, Millis), Vec<(Millis, f64)>>,
    block_ms: Millis,
) -> StoreResult<HashMap<(i64, Millis), Vec<u8>>> {
    let mut series: Vec<i64> = ranges.keys().map(|(series, _)| *series).collect();
    series.dedup();
    let mut starts: Vec<Millis> = ranges.keys().map(|(_, start)| *start).collect();
    starts.sort_unstable();
    starts.dedup();
    let mut found = HashMap::new();
    for series in series.chunks(LIST) {
        for starts in starts.chunks(LIST) {
            let mut select: QueryBuilder<Db> = QueryBuilder::new(dialect(
                "SELECT CAST(series_id AS BIGINT) AS series_id, start_ms, data FROM point_blocks \
                 WHERE end_ms = start_ms + ",
            ));
            select.push_bind(block_ms).push(" AND series_id IN");
            push_list(&mut select, series);
            select.push(" AND start_ms IN");
            push_list(&mut select, starts);
            for row in select
                .build()
                .fetch_all(&mut *conn)
                .await
                .map_err(backend)?
            {
                let key = (get(&row, "series_id")?, get(&row, "start_ms")?);
                if ranges.contains_key(&key) {
                    found.insert(key, get(&row, "data")?);
                }
            }
        }
    }
    Ok(found)
}

/// Devices that have plain messages before `before`: a loose index scan over
/// `messages_by_device` (one probe per device, not a scan of the table).
async fn devices_with_messages_before(
    store: &ThisStore,
    before: Millis,
) -> StoreResult<Vec<String>> {
    let mut devices = Vec::new();
    let mut after = String::new();
    loop {
        let next: Option<String> =
            scalar("SELECT MIN(device_id) FROM messages WHERE device_id > $1")
                .bind(&after)
                .fetch_one(&store.pool)
                .await
                .map_err(backend)?;
        let Some(device) = next else { break };
        let old: Option<i64> = scalar(
            "SELECT CAST(1 AS BIGINT) FROM messages WHERE device_id = $1 AND received_at_ms < $2 \
             LIMIT 1",
        )
        .bind(&device)
        .bind(before)
        .fetch_optional(&store.pool)
        .await
        .map_err(backend)?;
        if old.is_some() {
            devices.push(device.clone());
        }
        after = device;
    }
    Ok(devices)
}

async fn compact_messages(
    conn: &mut DbConn,
    devices: &[String],
    before: Millis,
    block_ms: Millis,
) -> StoreResult<(u64, u64)> {
    // As for points (see `compact_points`), by `seq` where a subquery may have a LIMIT.
    let mut delete: QueryBuilder<Db> = QueryBuilder::new("DELETE FROM messages WHERE ");
    if ROW_ID.is_some() {
        delete.push("seq IN (SELECT seq FROM messages WHERE ");
    }
    delete
        .push("received_at_ms < ")
        .push_bind(before)
        .push(" AND device_id IN");
    push_list(&mut delete, devices);
    delete
        .push(" ORDER BY device_id, received_at_ms LIMIT ")
        .push_bind(ROWS_PER_TX / 5);
    if ROW_ID.is_some() {
        delete.push(")");
    }
    delete.push(dialect(
        " RETURNING CAST(seq AS BIGINT) AS seq, device_id, kind, received_at_ms, payload, \
         json_ok, ts_clamped",
    ));
    let rows = delete
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
    let moved = rows.len() as u64;
    let mut ranges: BTreeMap<(String, Millis), Vec<BlockMessage>> = BTreeMap::new();
    for row in &rows {
        let device: String = get(row, "device_id")?;
        let kind: String = get(row, "kind")?;
        let kind = MessageKind::parse(&kind)
            .ok_or_else(|| backend(format!("unknown message kind {kind:?}")))?;
        let received_at_ms: Millis = get(row, "received_at_ms")?;
        ranges
            .entry((device, floor_to(received_at_ms, block_ms)))
            .or_default()
            .push(BlockMessage {
                seq: get(row, "seq")?,
                kind: kind_code(kind),
                received_at_ms,
                payload: get(row, "payload")?,
                json_ok: get(row, "json_ok")?,
                ts_clamped: get(row, "ts_clamped")?,
            });
    }
    drop(rows);
    let mut written = 0;
    for ((device, start), mut messages) in ranges {
        let existing: Option<Vec<u8>> = scalar(
            "SELECT data FROM message_blocks WHERE device_id = $1 AND start_ms = $2 \
             AND end_ms = $3",
        )
        .bind(&device)
        .bind(start)
        .bind(start + block_ms)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
        if let Some(data) = existing {
            messages.extend(codec::decode_messages(&data).map_err(corrupt)?);
        }
        messages.sort_by_key(|message| (message.received_at_ms, message.seq));
        let payload_bytes: i64 = messages.iter().map(|m| m.payload.len() as i64).sum();
        statement(
            "INSERT INTO message_blocks (device_id, start_ms, end_ms, message_count, \
             payload_bytes, data) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (device_id, start_ms, end_ms) DO UPDATE SET \
             message_count = excluded.message_count, payload_bytes = excluded.payload_bytes, \
             data = excluded.data",
        )
        .bind(&device)
        .bind(start)
        .bind(start + block_ms)
        .bind(messages.len() as i64)
        .bind(payload_bytes)
        .bind(codec::encode_messages(&messages))
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
        written += 1;
    }
    Ok((moved, written))
}
