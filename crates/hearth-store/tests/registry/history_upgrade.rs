//! Upgrading a history kept by an older Hearth (hourly rollups and a roll-up watermark)
//! to blocks and tiers (migration 0014): charts give the same answers before and after,
//! and the first compaction counts nothing twice.

use super::history::*;
use super::*;
use hearth_store::{CompactRequest, migrations};
use hearth_testkit::{Backend, database_url};

async fn open_with(url: &str, version: i64) -> Arc<dyn Store> {
    let list: Vec<_> = if url.starts_with("sqlite:") {
        migrations::SQLITE
    } else if url.starts_with("mysql:") {
        migrations::MYSQL
    } else {
        migrations::POSTGRES
    }
    .iter()
    .copied()
    .filter(|(v, _, _)| *v <= version)
    .collect();
    match url.strip_prefix("sqlite://") {
        Some(path) => Arc::new(
            hearth_store::SqliteStore::open_with_migrations(std::path::Path::new(path), &list)
                .await
                .unwrap(),
        ),
        None if url.starts_with("mysql:") => Arc::new(
            hearth_store::MySqlStore::connect_with_migrations(url, &list)
                .await
                .unwrap(),
        ),
        None => Arc::new(
            hearth_store::PostgresStore::connect_with_migrations(url, &list)
                .await
                .unwrap(),
        ),
    }
}

/// What the old `roll_up(T0 + 3h)` then `prune(T0 + 1h30, 0)` left behind.
const OLD_UPKEEP: &str = "\
    INSERT INTO point_rollups (series_id, bucket_start_ms, min_value, max_value, sum_value, point_count) \
    SELECT series_id, at_ms - at_ms % 3600000, MIN(value), MAX(value), SUM(value), COUNT(*) \
    FROM points WHERE at_ms < 1699999200000 + 3 * 3600000 GROUP BY 1, 2; \
    UPDATE history_state SET rolled_up_to_ms = 1699999200000 + 3 * 3600000, \
    raw_pruned_before_ms = 1699999200000 + 5400000; \
    DELETE FROM points WHERE at_ms < 1699999200000 + 5400000;";

async fn run(url: &str, sql: &'static str) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    } else if url.starts_with("mysql:") {
        let mut conn = sqlx::MySqlConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    }
}

async fn rollups_become_tiers(backend: Backend) {
    assert_eq!(T0, 1_699_999_200_000, "OLD_UPKEEP spells T0 out");
    let (url, _guard) = database_url(backend);
    let store = open_with(&url, 13).await;
    // Four hours, four points an hour (values hour * 10 + 0..3).
    let points = (0..16)
        .map(|i| {
            point(
                "lamp",
                "t",
                T0 + i * 15 * 60_000,
                ((i / 4) * 10 + i % 4) as f64,
            )
        })
        .collect();
    store.write_batch(&points_batch(points)).await.unwrap();
    store.close().await;
    run(&url, OLD_UPKEEP).await;

    let store = open_with(&url, 14).await;
    let hourly = store
        .aggregates(&did("lamp"), "t", ALL, HOUR)
        .await
        .unwrap();
    let expected: Vec<_> = (0..4)
        .map(|hour| {
            let base = (hour * 10) as f64;
            aggregate(T0 + hour * HOUR, base, base + 3.0, base + 1.5, 4)
        })
        .collect();
    assert_eq!(hourly, expected, "hours 0 and 1 from the carried rollups");
    let daily_total = |store: Arc<dyn Store>| async move {
        store
            .aggregates(&did("lamp"), "t", ALL, 24 * HOUR)
            .await
            .unwrap()
            .iter()
            .map(|day| day.count)
            .sum::<u64>()
    };
    assert_eq!(daily_total(store.clone()).await, 16);
    let done = store
        .compact(&CompactRequest {
            before_ms: T0 + 5 * HOUR,
            block_ms: HOUR,
            tiers: vec![HOUR, 24 * HOUR],
            batch_series: 64,
        })
        .await
        .unwrap();
    assert_eq!(
        done.points, 8,
        "hours 2 and 3; hour 1's raw rest went with its rollup"
    );
    assert_eq!(
        store
            .aggregates(&did("lamp"), "t", ALL, HOUR)
            .await
            .unwrap(),
        expected
    );
    assert_eq!(daily_total(store.clone()).await, 16);
}

#[tokio::test]
async fn rollups_become_tiers_sqlite() {
    rollups_become_tiers(Backend::Sqlite).await;
}

#[tokio::test]
async fn rollups_become_tiers_postgres() {
    rollups_become_tiers(Backend::Postgres).await;
}

#[tokio::test]
async fn rollups_become_tiers_mariadb() {
    rollups_become_tiers(Backend::MariaDb).await;
}
