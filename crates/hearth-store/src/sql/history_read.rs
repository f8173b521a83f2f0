//! The history's reads over plain rows and blocks (issue 19), one copy for both
//! backends (included with `#[path]`, see `sql/mod.rs`). Each function runs inside the
//! caller's snapshot transaction: compaction moves rows from plain to blocks in one
//! transaction, so a snapshot sees every point exactly once.
//!
//! Charts (`aggregates`) read the coarsest level that answers exactly: an aggregate tier
//! whose width divides the chart's bucket, else the raw points (decoded blocks), and,
//! where retention removed those, a coarser tier (approximately placed). Plain points are
//! in no tier, so they are always added from the plain table.

use super::compact::{Partial, ceil_to, decode_messages, decode_points, floor_to};
use super::registry::{DbConn, DbRow, get};
use super::{Db, dialect};
use super::{scalar, statement};
use crate::sql::backend;
use crate::{CompactRequest, MessageQuery, PointQuery, StoreResult, TimeRange};
use hearth_model::{Aggregate, DeviceId, Millis, Point, StoredMessage};
use sqlx::QueryBuilder;
use std::collections::{BTreeMap, HashMap};

/// Blocks per query while paging through a range.
const PAGE: i64 = 32;

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

fn add(buckets: &mut BTreeMap<Millis, Partial>, bucket: Millis, partial: Partial) {
    buckets
        .entry(bucket)
        .and_modify(|merged| merged.merge(partial))
        .or_insert(partial);
}

async fn series_id(conn: &mut DbConn, device: &DeviceId, metric: &str) -> StoreResult<Option<i64>> {
    scalar("SELECT CAST(id AS BIGINT) FROM series WHERE device_id = $1 AND metric = $2")
        .bind(device.as_str())
        .bind(metric)
        .fetch_optional(conn)
        .await
        .map_err(backend)
}

/// Calls `each` with the decoded points of every block of `series` that overlaps
/// `range`, in the order of the blocks' starts, until it returns `false`.
async fn for_each_block(
    conn: &mut DbConn,
    series: i64,
    range: TimeRange,
    mut each: impl FnMut(Millis, Vec<(Millis, f64)>) -> bool,
) -> StoreResult<()> {
    let mut after = (
        range.from_ms.saturating_sub(CompactRequest::MAX_BLOCK_MS),
        Millis::MIN,
    );
    loop {
        let rows = statement(
            "SELECT start_ms, end_ms, data FROM point_blocks WHERE series_id = $1 \
             AND (start_ms > $2 OR (start_ms = $2 AND end_ms > $3)) AND start_ms < $4 \
             ORDER BY start_ms, end_ms LIMIT $5",
        )
        .bind(series)
        .bind(after.0)
        .bind(after.1)
        .bind(range.to_ms)
        .bind(PAGE)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
        for row in &rows {
            let start: Millis = get(row, "start_ms")?;
            let end: Millis = get(row, "end_ms")?;
            after = (start, end);
            if end <= range.from_ms {
                continue;
            }
            let data: Vec<u8> = get(row, "data")?;
            let mut points = decode_points(&data)?;
            points.retain(|(at_ms, _)| *at_ms >= range.from_ms && *at_ms < range.to_ms);
            if !each(start, points) {
                return Ok(());
            }
        }
        if (rows.len() as i64) < PAGE {
            return Ok(());
        }
    }
}

pub(super) async fn points(conn: &mut DbConn, query: &PointQuery) -> StoreResult<Vec<Point>> {
    let Some(series) = series_id(conn, &query.device, &query.metric).await? else {
        return Ok(Vec::new());
    };
    let limit = query.limit as usize;
    let rows = statement(
        "SELECT at_ms, value FROM points WHERE series_id = $1 AND at_ms >= $2 AND at_ms < $3 \
         ORDER BY at_ms LIMIT $4",
    )
    .bind(series)
    .bind(query.range.from_ms)
    .bind(query.range.to_ms)
    .bind(i64::from(query.limit))
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    let mut found = rows
        .iter()
        .map(|row| Ok((get(row, "at_ms")?, get(row, "value")?)))
        .collect::<StoreResult<Vec<(Millis, f64)>>>()?;
    for_each_block(conn, series, query.range, |start, points| {
        if found.len() >= limit {
            found.sort_by_key(|(at_ms, _)| *at_ms);
            found.truncate(limit);
            // Every later block starts after the last point kept: nothing of it ranks.
            if found.last().is_some_and(|(at_ms, _)| start > *at_ms) {
                return false;
            }
        }
        found.extend(points);
        true
    })
    .await?;
    found.sort_by_key(|(at_ms, _)| *at_ms);
    found.truncate(limit);
    Ok(found
        .into_iter()
        .map(|(at_ms, value)| Point {
            device: query.device.clone(),
            metric: query.metric.clone(),
            at_ms,
            value,
        })
        .collect())
}

/// A level a chart can read: the raw points or a tier of `width`, complete from
/// `from_ms` on.
#[derive(Clone, Copy, Debug)]
struct Level {
    width: Option<Millis>,
    from_ms: Millis,
}

/// Which level answers which part of `[from, to)`: the first level of `levels` takes
/// what it covers (whole buckets of its width), the rest goes to the following levels.
fn plan(levels: &[Level], from: Millis, to: Millis, out: &mut Vec<(Level, Millis, Millis)>) {
    let Some((level, rest)) = levels.split_first() else {
        return;
    };
    if from >= to {
        return;
    }
    let start = from.max(level.from_ms);
    let (low, high) = match level.width {
        Some(width) => (ceil_to(start, width), floor_to(to, width)),
        None => (start, to),
    };
    if low >= high {
        plan(rest, from, to, out);
        return;
    }
    plan(rest, from, low, out);
    out.push((*level, low, high));
    plan(rest, high, to, out);
}

/// The levels in the order a chart with buckets of `bucket_ms` prefers them.
async fn levels(conn: &mut DbConn, series: i64, bucket_ms: Millis) -> StoreResult<Vec<Level>> {
    let kept: HashMap<Millis, Millis> =
        statement("SELECT bucket_ms, kept_from_ms FROM series_levels WHERE series_id = $1")
            .bind(series)
            .fetch_all(&mut *conn)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| Ok((get(row, "bucket_ms")?, get(row, "kept_from_ms")?)))
            .collect::<StoreResult<_>>()?;
    let tiers = statement("SELECT bucket_ms, since_ms FROM history_tiers ORDER BY bucket_ms")
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?
        .iter()
        .map(|row| {
            let width: Millis = get(row, "bucket_ms")?;
            let since: Millis = get(row, "since_ms")?;
            Ok(Level {
                width: Some(width),
                from_ms: since.max(kept.get(&width).copied().unwrap_or(Millis::MIN)),
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let exact = |level: &&Level| level.width.is_some_and(|width| bucket_ms % width == 0);
    let mut ordered: Vec<Level> = tiers.iter().filter(exact).rev().copied().collect();
    ordered.push(Level {
        width: None,
        from_ms: kept.get(&0).copied().unwrap_or(Millis::MIN),
    });
    ordered.extend(tiers.iter().filter(|level| !exact(level)));
    Ok(ordered)
}

pub(super) async fn aggregates(
    conn: &mut DbConn,
    device: &DeviceId,
    metric: &str,
    range: TimeRange,
    bucket_ms: Millis,
) -> StoreResult<Vec<Aggregate>> {
    let Some(series) = series_id(conn, device, metric).await? else {
        return Ok(Vec::new());
    };
    let mut buckets: BTreeMap<Millis, Partial> = BTreeMap::new();
    let plain = statement(
        // `at_ms - at_ms % width`, not `(at_ms / width) * width`: MariaDB's `/` is exact
        // division (a DECIMAL), its `%` and everyone else's are integer.
        "SELECT at_ms - at_ms % $2 AS bucket, MIN(value) AS min_value, MAX(value) AS max_value, \
         SUM(value) AS sum_value, COUNT(*) AS point_count FROM points \
         WHERE series_id = $1 AND at_ms >= $3 AND at_ms < $4 GROUP BY bucket",
    )
    .bind(series)
    .bind(bucket_ms)
    .bind(range.from_ms)
    .bind(range.to_ms)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    for row in &plain {
        let (bucket, partial) = partial_from_row(row)?;
        add(&mut buckets, bucket, partial);
    }
    let mut segments = Vec::new();
    plan(
        &levels(conn, series, bucket_ms).await?,
        range.from_ms,
        range.to_ms,
        &mut segments,
    );
    for (level, from_ms, to_ms) in segments {
        let segment = TimeRange { from_ms, to_ms };
        match level.width {
            None => {
                for_each_block(conn, series, segment, |_, points| {
                    for (at_ms, value) in points {
                        add(&mut buckets, floor_to(at_ms, bucket_ms), Partial::of(value));
                    }
                    true
                })
                .await?;
            }
            Some(width) => {
                let mut select: QueryBuilder<Db> =
                    QueryBuilder::new("SELECT bucket_start_ms - bucket_start_ms % ");
                select
                    .push_bind(bucket_ms)
                    .push(dialect(
                        " AS bucket, MIN(min_value) AS min_value, MAX(max_value) AS max_value, \
                         SUM(sum_value) AS sum_value, CAST(SUM(point_count) AS BIGINT) \
                         AS point_count FROM point_tiers WHERE series_id = ",
                    ))
                    .push_bind(series)
                    .push(" AND bucket_ms = ")
                    .push_bind(width)
                    .push(" AND bucket_start_ms >= ")
                    .push_bind(from_ms)
                    .push(" AND bucket_start_ms < ")
                    .push_bind(to_ms)
                    .push(" GROUP BY bucket");
                for row in &select
                    .build()
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(backend)?
                {
                    let (bucket, partial) = partial_from_row(row)?;
                    add(&mut buckets, bucket, partial);
                }
            }
        }
    }
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

/// Newer time first; on equal times the larger value (what the plain query always did).
fn newer(candidate: (Millis, f64), than: Option<(Millis, f64)>) -> bool {
    than.is_none_or(|(at_ms, value)| {
        candidate.0 > at_ms || (candidate.0 == at_ms && candidate.1 > value)
    })
}

pub(super) async fn latest_points(conn: &mut DbConn, device: &DeviceId) -> StoreResult<Vec<Point>> {
    let series = statement(
        "SELECT CAST(id AS BIGINT) AS id, metric FROM series WHERE device_id = $1 ORDER BY metric",
    )
    .bind(device.as_str())
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    let mut latest = Vec::with_capacity(series.len());
    for row in &series {
        let id: i64 = get(row, "id")?;
        let metric: String = get(row, "metric")?;
        let mut newest: Option<(Millis, f64)> = None;
        if let Some(plain) = statement(
            "SELECT at_ms, value FROM points WHERE series_id = $1 \
             ORDER BY at_ms DESC, value DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?
        {
            newest = Some((get(&plain, "at_ms")?, get(&plain, "value")?));
        }
        let block: Option<Vec<u8>> = scalar(
            "SELECT data FROM point_blocks WHERE series_id = $1 \
             ORDER BY start_ms DESC, end_ms DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
        for point in block
            .map(|data| decode_points(&data))
            .transpose()?
            .unwrap_or_default()
        {
            if newer(point, newest) {
                newest = Some(point);
            }
        }
        if let Some((at_ms, value)) = newest {
            latest.push(Point {
                device: device.clone(),
                metric,
                at_ms,
                value,
            });
        }
    }
    Ok(latest)
}

pub(super) async fn messages(
    conn: &mut DbConn,
    query: &MessageQuery,
    plain: Vec<StoredMessage>,
) -> StoreResult<Vec<StoredMessage>> {
    let limit = query.limit as usize;
    let newest_first = |messages: &mut Vec<StoredMessage>| {
        messages.sort_by_key(|message| std::cmp::Reverse((message.received_at_ms, message.seq)));
        messages.truncate(limit);
    };
    let mut found = plain;
    let mut before = (query.range.to_ms, Millis::MAX);
    let oldest_start = query
        .range
        .from_ms
        .saturating_sub(CompactRequest::MAX_BLOCK_MS);
    'pages: loop {
        let rows = statement(
            "SELECT start_ms, end_ms, data FROM message_blocks WHERE device_id = $1 \
             AND (start_ms < $2 OR (start_ms = $2 AND end_ms < $3)) AND start_ms >= $4 \
             ORDER BY start_ms DESC, end_ms DESC LIMIT $5",
        )
        .bind(query.device.as_str())
        .bind(before.0)
        .bind(before.1)
        .bind(oldest_start)
        .bind(PAGE)
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
        for row in &rows {
            let start: Millis = get(row, "start_ms")?;
            let end: Millis = get(row, "end_ms")?;
            before = (start, end);
            if end <= query.range.from_ms {
                continue;
            }
            if found.len() >= limit {
                newest_first(&mut found);
                // Everything in this block is older than the last message kept.
                if found.last().is_some_and(|last| end <= last.received_at_ms) {
                    break 'pages;
                }
            }
            let data: Vec<u8> = get(row, "data")?;
            found.extend(
                decode_messages(&query.device, &data)?
                    .into_iter()
                    .filter(|message| {
                        message.received_at_ms >= query.range.from_ms
                            && message.received_at_ms < query.range.to_ms
                            && query.kind.is_none_or(|kind| kind == message.kind)
                    }),
            );
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    newest_first(&mut found);
    Ok(found)
}
