//! Retention of the history (issue 19), one copy for both backends (included with
//! `#[path]`, see `sql/mod.rs`): deletes per level (raw points, each tier) and records
//! in `series_levels` from when a level is kept, which is how charts know to read a
//! coarser level before; raw messages per application; presence changes. And the sizes
//! `hearth history stats` and the benchmark report.

use super::compact::{LIST, push_list};
use super::registry::{DbConn, begin_write, finish, get};
use super::{Db, ThisStore, dialect};
use super::{scalar, statement};
use crate::sql::backend;
use crate::{HistorySize, SeriesKey, StoreResult};
use hearth_model::{AppId, DeviceId, Millis};
use sqlx::QueryBuilder;
use std::collections::HashMap;

/// Every series id by its key.
async fn series_ids(store: &ThisStore) -> StoreResult<HashMap<SeriesKey, i64>> {
    let rows = statement("SELECT CAST(id AS BIGINT) AS id, device_id, metric FROM series")
        .fetch_all(&store.pool)
        .await
        .map_err(backend)?;
    rows.iter()
        .map(|row| {
            let device: String = get(row, "device_id")?;
            Ok((
                SeriesKey {
                    device: DeviceId::new(&device).map_err(backend)?,
                    metric: get(row, "metric")?,
                },
                get(row, "id")?,
            ))
        })
        .collect()
}

pub(super) async fn series_keys(store: &ThisStore) -> StoreResult<Vec<SeriesKey>> {
    let mut keys: Vec<SeriesKey> = series_ids(store).await?.into_keys().collect();
    keys.sort();
    Ok(keys)
}

pub(super) async fn prune_points(
    store: &ThisStore,
    level: Option<Millis>,
    before: Millis,
    series: Option<&[SeriesKey]>,
) -> StoreResult<u64> {
    let mut ids: Vec<i64> = match series {
        None => series_ids(store).await?.into_values().collect(),
        Some(keys) => {
            // The ids ingest already cached (the retention task calls this once per
            // policy and level each round); the table is read only for a key it lacks.
            let pairs = || {
                keys.iter()
                    .map(|key| (key.device.as_str(), key.metric.as_str()))
            };
            let mut found = store.series.lookup(pairs());
            if found.contains(&None) {
                let all = series_ids(store).await?;
                store.series.remember(
                    all.iter()
                        .map(|(key, id)| (key.device.to_string(), key.metric.clone(), *id))
                        .collect(),
                    true,
                );
                found = store.series.lookup(pairs());
            }
            found.into_iter().flatten().collect()
        }
    };
    ids.sort_unstable();
    let mut deleted = 0;
    for chunk in ids.chunks(LIST) {
        let mut tx = begin_write(store).await?;
        let result = prune_level(&mut tx, chunk, level, before).await;
        deleted += finish(tx, result).await?;
    }
    Ok(deleted)
}

async fn prune_level(
    conn: &mut DbConn,
    series: &[i64],
    level: Option<Millis>,
    before: Millis,
) -> StoreResult<u64> {
    let statements: Vec<QueryBuilder<Db>> = match level {
        None => {
            let mut blocks: QueryBuilder<Db> =
                QueryBuilder::new("DELETE FROM point_blocks WHERE end_ms <= ");
            blocks.push_bind(before).push(" AND series_id IN");
            push_list(&mut blocks, series);
            let mut plain: QueryBuilder<Db> =
                QueryBuilder::new("DELETE FROM points WHERE at_ms < ");
            plain.push_bind(before).push(" AND series_id IN");
            push_list(&mut plain, series);
            vec![blocks, plain]
        }
        Some(tier) => {
            let mut rows: QueryBuilder<Db> =
                QueryBuilder::new("DELETE FROM point_tiers WHERE bucket_ms = ");
            rows.push_bind(tier)
                .push(" AND bucket_start_ms <= ")
                .push_bind(before.saturating_sub(tier))
                .push(" AND series_id IN");
            push_list(&mut rows, series);
            vec![rows]
        }
    };
    let mut deleted = 0;
    for mut statement in statements {
        deleted += statement
            .build()
            .execute(&mut *conn)
            .await
            .map_err(backend)?
            .rows_affected();
    }
    let mut mark: QueryBuilder<Db> =
        QueryBuilder::new("INSERT INTO series_levels (series_id, bucket_ms, kept_from_ms) ");
    mark.push_values(series, |mut row, series_id| {
        row.push_bind(*series_id)
            .push_bind(level.unwrap_or(0))
            .push_bind(before);
    });
    mark.push(dialect(
        " ON CONFLICT (series_id, bucket_ms) DO UPDATE SET kept_from_ms = \
         CASE WHEN excluded.kept_from_ms > series_levels.kept_from_ms \
         THEN excluded.kept_from_ms ELSE series_levels.kept_from_ms END",
    ));
    mark.build().execute(&mut *conn).await.map_err(backend)?;
    Ok(deleted)
}

pub(super) async fn prune_messages(
    store: &ThisStore,
    before: Millis,
    app: Option<&AppId>,
    except: &[AppId],
) -> StoreResult<u64> {
    let app = app.map(|app| app.as_str().to_owned());
    let except: Vec<String> = except.iter().map(|app| app.as_str().to_owned()).collect();
    let scope = |query: &mut QueryBuilder<Db>| {
        if let Some(app) = &app {
            query
                .push(" AND device_id IN (SELECT id FROM devices WHERE app_id = ")
                .push_bind(app.clone())
                .push(")");
        } else if !except.is_empty() {
            query.push(" AND device_id NOT IN (SELECT id FROM devices WHERE app_id IN (");
            let mut list = query.separated(", ");
            for app in &except {
                list.push_bind(app.clone());
            }
            list.push_unseparated("))");
        }
    };
    let mut tx = begin_write(store).await?;
    let result = async {
        let mut plain: QueryBuilder<Db> =
            QueryBuilder::new("DELETE FROM messages WHERE received_at_ms < ");
        plain.push_bind(before);
        scope(&mut plain);
        let mut deleted = plain
            .build()
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        let mut blocks: QueryBuilder<Db> =
            QueryBuilder::new("DELETE FROM message_blocks WHERE end_ms <= ");
        blocks.push_bind(before);
        scope(&mut blocks);
        blocks.push(dialect(
            " RETURNING CAST(message_count AS BIGINT) AS message_count",
        ));
        for row in blocks.build().fetch_all(&mut *tx).await.map_err(backend)? {
            let count: i64 = get(&row, "message_count")?;
            deleted += count as u64;
        }
        Ok(deleted)
    }
    .await;
    finish(tx, result).await
}

pub(super) async fn prune_status(store: &ThisStore, before: Millis) -> StoreResult<u64> {
    let mut tx = begin_write(store).await?;
    let result = async {
        Ok(statement("DELETE FROM status_changes WHERE at_ms < $1")
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected())
    }
    .await;
    finish(tx, result).await
}

pub(super) async fn history_size(store: &ThisStore) -> StoreResult<HistorySize> {
    let count = |sql: &'static str| async move {
        let value: i64 = scalar(sql).fetch_one(&store.pool).await.map_err(backend)?;
        StoreResult::Ok(value as u64)
    };
    Ok(HistorySize {
        plain_points: count("SELECT COUNT(*) FROM points").await?,
        block_points: count(
            "SELECT CAST(COALESCE(SUM(point_count), 0) AS BIGINT) FROM point_blocks",
        )
        .await?,
        point_blocks: count("SELECT COUNT(*) FROM point_blocks").await?,
        point_block_bytes: count(
            "SELECT CAST(COALESCE(SUM(LENGTH(data)), 0) AS BIGINT) FROM point_blocks",
        )
        .await?,
        plain_messages: count("SELECT COUNT(*) FROM messages").await?,
        block_messages: count(
            "SELECT CAST(COALESCE(SUM(message_count), 0) AS BIGINT) FROM message_blocks",
        )
        .await?,
        message_blocks: count("SELECT COUNT(*) FROM message_blocks").await?,
        message_block_bytes: count(
            "SELECT CAST(COALESCE(SUM(LENGTH(data)), 0) AS BIGINT) FROM message_blocks",
        )
        .await?,
        block_message_payload_bytes: count(
            "SELECT CAST(COALESCE(SUM(payload_bytes), 0) AS BIGINT) FROM message_blocks",
        )
        .await?,
        tier_rows: count("SELECT COUNT(*) FROM point_tiers").await?,
    })
}
