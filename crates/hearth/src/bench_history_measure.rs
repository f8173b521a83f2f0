//! Measuring for `hearth bench history`: what the database takes on disk (per table
//! group, indexes included), a scratch PostgreSQL database, query latencies and the
//! process's memory.
//!
//! SQLite: after `PRAGMA wal_checkpoint(TRUNCATE)` (so every page is in the main file),
//! the whole file is `(page_count - freelist_count) * page_size`, and the `dbstat`
//! virtual table (compiled into the bundled SQLite) gives each table's and index's
//! pages. PostgreSQL: `pg_total_relation_size` (table, indexes and TOAST) of each table
//! after a `VACUUM`, and `pg_database_size` for the whole database.

use super::data::{DAY_MS, METRICS};
use super::{TARGET_CHART_MS, TARGET_LATEST_MS, YEAR_MS, bucket_for};
use anyhow::Context;
use hearth_model::{DeviceId, Millis};
use hearth_store::Store;
use serde::Serialize;
use sqlx::{ConnectOptions, Connection};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The tables that hold points: plain rows, blocks, aggregate tiers and their bookkeeping
/// (`point_rollups` is the tier table before migration 0014).
const POINT_TABLES: [&str; 6] = [
    "series",
    "points",
    "point_blocks",
    "point_tiers",
    "series_levels",
    "point_rollups",
];
/// The tables that hold raw messages.
const MESSAGE_TABLES: [&str; 2] = ["messages", "message_blocks"];

/// Bytes on disk, indexes included.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sizes {
    pub point_bytes: u64,
    /// Of `point_bytes`, the plain `points` table and its index: the readings not yet
    /// compacted. Every compaction empties it and the next day's rows reuse the space,
    /// so it stays about a day of rows however long the history grows.
    pub plain_point_bytes: u64,
    pub message_bytes: u64,
    /// The whole database in use: registry, history, everything (SQLite: pages not on
    /// the freelist; PostgreSQL: after a VACUUM, as autovacuum would run).
    pub database_bytes: u64,
    /// What the database takes on disk with its free space (SQLite: the file, free pages
    /// included; PostgreSQL: before the VACUUM).
    pub allocated_bytes: u64,
    /// Each table with its indexes (history tables and anything larger than 1 MB).
    pub tables: BTreeMap<String, u64>,
}

impl Sizes {
    fn from_tables(all: BTreeMap<String, u64>, database_bytes: u64, allocated_bytes: u64) -> Sizes {
        let sum = |names: &[&str]| -> u64 { names.iter().filter_map(|name| all.get(*name)).sum() };
        let point_bytes = sum(&POINT_TABLES);
        let plain_point_bytes = sum(&["points"]);
        let message_bytes = sum(&MESSAGE_TABLES);
        let tables = all
            .into_iter()
            .filter(|(name, bytes)| {
                POINT_TABLES.contains(&name.as_str())
                    || MESSAGE_TABLES.contains(&name.as_str())
                    || *bytes > 1_000_000
            })
            .collect();
        Sizes {
            point_bytes,
            plain_point_bytes,
            message_bytes,
            database_bytes,
            allocated_bytes,
            tables,
        }
    }
}

pub async fn sizes(url: &str) -> anyhow::Result<Sizes> {
    match url.strip_prefix("sqlite://") {
        Some(path) => sqlite_sizes(path).await,
        None => postgres_sizes(url).await,
    }
}

async fn sqlite_sizes(path: &str) -> anyhow::Result<Sizes> {
    let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await
        .with_context(|| format!("opening {path}"))?;
    let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut connection)
        .await?;
    anyhow::ensure!(busy == 0, "the WAL checkpoint was blocked by a reader");
    let mut pragma = async |sql: &'static str| -> anyhow::Result<u64> {
        let value: i64 = sqlx::query_scalar(sql).fetch_one(&mut connection).await?;
        Ok(value as u64)
    };
    let page_count = pragma("PRAGMA page_count").await?;
    let freelist_count = pragma("PRAGMA freelist_count").await?;
    let page_size = pragma("PRAGMA page_size").await?;
    // Each index counted with its table.
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT coalesce(m.tbl_name, s.name), sum(s.pgsize) \
         FROM dbstat AS s LEFT JOIN sqlite_schema AS m ON m.name = s.name \
         GROUP BY 1",
    )
    .fetch_all(&mut connection)
    .await
    .context("reading dbstat")?;
    let _ = connection.close().await;
    Ok(Sizes::from_tables(
        rows.into_iter()
            .map(|(name, bytes)| (name, bytes as u64))
            .collect(),
        (page_count - freelist_count) * page_size,
        page_count * page_size,
    ))
}

async fn postgres_sizes(url: &str) -> anyhow::Result<Sizes> {
    let mut connection = sqlx::PgConnection::connect(url).await?;
    let allocated: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut connection)
        .await?;
    // Compaction deleted the plain rows: a VACUUM (what autovacuum does on a live hub)
    // makes their space free for reuse, as SQLite's freelist does, and gives back the
    // empty pages at a table's end.
    sqlx::raw_sql("VACUUM").execute(&mut connection).await?;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.relname::text, pg_total_relation_size(c.oid) \
         FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND n.nspname = current_schema()",
    )
    .fetch_all(&mut connection)
    .await?;
    let database: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut connection)
        .await?;
    let _ = connection.close().await;
    Ok(Sizes::from_tables(
        rows.into_iter()
            .map(|(name, bytes)| (name, bytes as u64))
            .collect(),
        database as u64,
        allocated as u64,
    ))
}

/// Times each kind of query `args.samples` times on random devices and metrics, with
/// "now" at `end_ms`: charts of an hour (raw points, as the web app reads up to an hour),
/// a day, a month and a year (aggregates with the web app's bucket), the newest points
/// of a device and the device list as the web app asks for it.
pub async fn time_queries(
    store: &Arc<dyn Store>,
    ids: &[DeviceId],
    end_ms: Millis,
    args: &super::HistoryBenchArgs,
) -> anyhow::Result<Vec<super::QueryTimes>> {
    let mut pick = super::data::Noise::new(args.seed ^ 0x5EED);
    let mut results = Vec::new();
    // Charts: the web app reads raw points up to an hour, buckets beyond.
    for (name, range_ms) in [
        ("chart_hour", 3_600_000),
        ("chart_day", DAY_MS),
        ("chart_month", 30 * DAY_MS),
        ("chart_year", YEAR_MS),
    ] {
        let bucket = (range_ms > 3_600_000).then(|| bucket_for(range_ms));
        let range = hearth_store::TimeRange {
            from_ms: end_ms - range_ms,
            to_ms: end_ms,
        };
        let mut latency = Latency::default();
        for _ in 0..args.samples {
            let device = &ids[(pick.next_u64() % ids.len() as u64) as usize];
            let metric = METRICS[(pick.next_u64() % METRICS.len() as u64) as usize];
            let started = Instant::now();
            let rows = match bucket {
                Some(bucket_ms) => store
                    .aggregates(device, metric, range, bucket_ms)
                    .await?
                    .len(),
                None => {
                    let query = hearth_store::PointQuery {
                        device: device.clone(),
                        metric: metric.into(),
                        range,
                        limit: 5_000,
                    };
                    store.points(&query).await?.len()
                }
            };
            latency.record(started.elapsed(), rows);
        }
        results.push(latency.summary(name, range_ms, bucket, TARGET_CHART_MS));
    }

    let mut latency = Latency::default();
    for _ in 0..args.samples {
        let device = &ids[(pick.next_u64() % ids.len() as u64) as usize];
        let started = Instant::now();
        let rows = store.latest_points(device).await?.len();
        latency.record(started.elapsed(), rows);
    }
    results.push(latency.summary("latest_points", 0, None, TARGET_LATEST_MS));

    // The web app's device list: one page of up to 500 by name, and the total.
    let filter = hearth_store::DeviceFilter {
        sort: hearth_store::DeviceSort::Name,
        limit: Some(500),
        ..hearth_store::DeviceFilter::default()
    };
    let mut latency = Latency::default();
    for _ in 0..args.samples {
        let started = Instant::now();
        let _total = store.count_devices(&filter).await?;
        let rows = store.devices(&filter).await?.len();
        latency.record(started.elapsed(), rows);
    }
    results.push(latency.summary("device_list", 0, None, TARGET_LATEST_MS));
    Ok(results)
}

/// A database created for one run on the server of `--postgres`, dropped afterwards, so
/// that every run starts from an empty store and measures only what it wrote.
pub struct PostgresScratch {
    server_url: String,
    name: String,
    url: String,
}

impl PostgresScratch {
    pub async fn create(server_url: &str) -> anyhow::Result<PostgresScratch> {
        let options = sqlx::postgres::PgConnectOptions::from_str(server_url)
            .context("invalid PostgreSQL URL")?;
        let name = format!(
            "hearth_bench_history_{}_{}",
            std::process::id(),
            hearth_model::now_millis()
        );
        let mut connection = sqlx::PgConnection::connect_with(&options)
            .await
            .context("connecting to PostgreSQL")?;
        // The name is ours: letters, digits and underscores.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut connection)
            .await
            .context("creating a scratch database (needs CREATEDB)")?;
        let _ = connection.close().await;
        Ok(PostgresScratch {
            url: with_database(server_url, &name)?,
            server_url: server_url.to_owned(),
            name,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn drop_database(self) -> anyhow::Result<()> {
        let mut connection = sqlx::PgConnection::connect(&self.server_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )))
        .execute(&mut connection)
        .await
        .with_context(|| format!("dropping the scratch database {}", self.name))?;
        let _ = connection.close().await;
        Ok(())
    }
}

/// `url` with its database (the path) replaced by `database`, query string kept.
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").context("a postgres:// URL")? + 3;
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |offset| authority_start + offset);
    let mut result = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    Ok(result)
}

/// Durations of one kind of query.
#[derive(Debug, Default)]
pub struct Latency {
    millis: Vec<f64>,
    rows: usize,
}

impl Latency {
    pub fn record(&mut self, elapsed: Duration, rows: usize) {
        self.millis.push(elapsed.as_secs_f64() * 1_000.0);
        self.rows += rows;
    }

    pub fn summary(
        mut self,
        name: &str,
        range_ms: hearth_model::Millis,
        bucket_ms: Option<hearth_model::Millis>,
        target_ms: f64,
    ) -> super::QueryTimes {
        self.millis.sort_by(f64::total_cmp);
        let at = |quantile: f64| {
            let index = ((self.millis.len() - 1) as f64 * quantile).round() as usize;
            self.millis.get(index).copied().unwrap_or(0.0)
        };
        super::QueryTimes {
            name: name.to_owned(),
            range_ms,
            bucket_ms,
            samples: self.millis.len(),
            mean_rows: self.rows as f64 / self.millis.len().max(1) as f64,
            median_ms: at(0.5),
            p95_ms: at(0.95),
            target_ms,
        }
    }
}

/// A counter of `/proc/self/io`, e.g. `write_bytes`: what this process caused to be
/// written to storage (the SD card's wear, for SQLite; PostgreSQL's server writes its own).
pub fn proc_io(key: &str) -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    let line = io
        .lines()
        .find(|line| line.split(':').next() == Some(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A `/proc/self/status` line in MiB (`VmRSS:` now, `VmHWM:` the peak).
pub fn proc_status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/hearth_test", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "x").unwrap(),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:1", "x").unwrap(),
            "postgres://h:1/x"
        );
    }

    #[test]
    fn quantiles_of_latencies() {
        let mut latency = Latency::default();
        for ms in 1..=100 {
            latency.record(Duration::from_millis(ms), 2);
        }
        let summary = latency.summary("q", 0, None, 5.0);
        assert_eq!(summary.samples, 100);
        assert_eq!(summary.mean_rows, 2.0);
        assert!((summary.median_ms - 51.0).abs() < 0.01 || (summary.median_ms - 50.0).abs() < 0.01);
        assert!((summary.p95_ms - 95.0).abs() < 1.01);
    }
}
