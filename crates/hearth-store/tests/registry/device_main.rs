//! The `device_main` view (migration 0021): what a user of seed 002 runs against their own
//! MySQL table, "which devices are online, and their last report", answered from
//! Hearth's tables on every backend with the seed's own query.

use super::history::{T0, message};
use super::*;
use hearth_model::MessageKind;
use hearth_store::{IngestBatch, LiveUpdate};
use hearth_testkit::{Backend, database_url};
use sqlx::{Connection, Row};

/// Seed 002's check, as its README writes it (JSON_PRETTY only where the server has it).
fn seed_query(backend: Backend) -> &'static str {
    match backend {
        Backend::MariaDb => {
            "SELECT device_id, name, is_online, last_seen, JSON_PRETTY(last_report_data) AS \
             last_data, last_seen_ms FROM device_main WHERE device_id = 'lamp' \
             ORDER BY last_seen DESC LIMIT 1"
        }
        Backend::Sqlite | Backend::Postgres => {
            "SELECT device_id, name, is_online, last_seen, last_report_data AS last_data, \
             last_seen_ms FROM device_main WHERE device_id = 'lamp' \
             ORDER BY last_seen DESC LIMIT 1"
        }
    }
}

/// Which devices are online: the other half of the seed's check.
const ONLINE: &str = "SELECT device_id FROM device_main WHERE is_online ORDER BY device_id";

/// The seed's row (device_id, name, is_online, last_data parsed, last_seen_ms) and the
/// online devices, read with a raw connection (the view is for people, not the store).
type Answer = ((String, String, bool, serde_json::Value, i64), Vec<String>);

async fn ask(url: &str, backend: Backend) -> Answer {
    macro_rules! read {
        ($conn:ty) => {{
            let mut conn = <$conn>::connect(url).await.unwrap();
            let row = sqlx::query(seed_query(backend))
                .fetch_one(&mut conn)
                .await
                .unwrap();
            let last_data: String = row.try_get("last_data").unwrap();
            let answer = (
                row.try_get("device_id").unwrap(),
                row.try_get("name").unwrap(),
                row.try_get("is_online").unwrap(),
                serde_json::from_str(&last_data).unwrap(),
                row.try_get("last_seen_ms").unwrap(),
            );
            let online: Vec<String> = sqlx::query_scalar(ONLINE)
                .fetch_all(&mut conn)
                .await
                .unwrap();
            (answer, online)
        }};
    }
    match backend {
        Backend::Sqlite => read!(sqlx::SqliteConnection),
        Backend::Postgres => read!(sqlx::PgConnection),
        Backend::MariaDb => read!(sqlx::MySqlConnection),
    }
}

/// The view's timestamp as UTC text, asked of the server itself.
async fn last_seen_text(url: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar("SELECT last_seen FROM device_main WHERE device_id = 'lamp'")
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar(
                "SELECT to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') \
                 FROM device_main WHERE device_id = 'lamp'",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap()
        }
        Backend::MariaDb => {
            let mut conn = sqlx::MySqlConnection::connect(url).await.unwrap();
            sqlx::query_scalar(
                "SELECT CAST(last_seen AS CHAR) FROM device_main WHERE device_id = 'lamp'",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap()
        }
    }
}

async fn seed_002s_check_runs_on_hearths_tables(backend: Backend) {
    let (url, _guard) = database_url(backend);
    let store = hearth_store::open(&url).await.unwrap();
    seed(&store).await;
    add_devices(
        &store,
        &[new_device("lamp", "lights"), new_device("fan", "lights")],
    )
    .await;
    let seen = T0 + 123;
    store
        .write_batch(&IngestBatch {
            messages: vec![message(
                "lamp",
                MessageKind::Data,
                seen,
                br#"{"temperature":25.5}"#,
            )],
            live: vec![LiveUpdate {
                device: Some(did("lamp")),
                is_online: Some(true),
                last_seen_ms: Some(seen),
                last_report_data: Some(r#"{"temperature":25.5}"#.into()),
                ..LiveUpdate::default()
            }],
            ..IngestBatch::default()
        })
        .await
        .unwrap();
    let ((device, name, online, last_data, last_seen_ms), online_devices) =
        ask(&url, backend).await;
    assert_eq!(device, "lamp");
    assert_eq!(name, store.device(&did("lamp")).await.unwrap().name);
    assert!(online);
    assert_eq!(last_data, serde_json::json!({"temperature": 25.5}));
    assert_eq!(last_seen_ms, seen);
    assert_eq!(
        online_devices,
        vec!["lamp".to_owned()],
        "fan was never seen"
    );
    // T0 is 2023-11-14 22:00:00 UTC; the view shows it in UTC, to the millisecond.
    let text = last_seen_text(&url, backend).await;
    assert!(
        text.starts_with("2023-11-14 22:00:00.123"),
        "{backend:?}: last_seen {text:?}"
    );
    store.close().await;
}

#[tokio::test]
async fn seed_002s_check_runs_on_hearths_tables_sqlite() {
    seed_002s_check_runs_on_hearths_tables(Backend::Sqlite).await;
}

#[tokio::test]
async fn seed_002s_check_runs_on_hearths_tables_postgres() {
    seed_002s_check_runs_on_hearths_tables(Backend::Postgres).await;
}

#[tokio::test]
async fn seed_002s_check_runs_on_hearths_tables_mariadb() {
    seed_002s_check_runs_on_hearths_tables(Backend::MariaDb).await;
}
