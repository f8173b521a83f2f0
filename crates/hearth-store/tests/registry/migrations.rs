//! Opening a database again, and upgrading one made by an older Hearth.

use super::*;
use hearth_store::{EmbeddedMigration, MySqlStore, PostgresStore, SqliteStore, migrations};
use hearth_testkit::{Backend, database_url};

/// Opens `url` with an explicit migration list (the backend's own constructor).
async fn open_with(url: &str, list: &[EmbeddedMigration]) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match url.strip_prefix("sqlite://") {
        Some(path) => {
            Arc::new(SqliteStore::open_with_migrations(std::path::Path::new(path), list).await?)
        }
        None if url.starts_with("mysql:") => {
            Arc::new(MySqlStore::connect_with_migrations(url, list).await?)
        }
        None => Arc::new(PostgresStore::connect_with_migrations(url, list).await?),
    })
}

fn list_of(backend: Backend) -> &'static [EmbeddedMigration] {
    match backend {
        Backend::Sqlite => migrations::SQLITE,
        Backend::Postgres => migrations::POSTGRES,
        Backend::MariaDb => migrations::MYSQL,
    }
}

/// One integer from raw SQL, bypassing the store.
async fn scalar(url: &str, sql: &'static str) -> i64 {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    } else if url.starts_with("mysql:") {
        let mut conn = sqlx::MySqlConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    }
}

async fn reopening_is_idempotent(backend: Backend) {
    let (url, _guard) = database_url(backend);
    let store = hearth_store::open(&url).await.unwrap();
    assert_eq!(
        store.backend(),
        match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MariaDb => "mysql",
        }
    );
    seed(&store).await;
    let seq = store.last_audit_seq().await.unwrap();
    store.close().await;
    for _ in 0..2 {
        let store = hearth_store::open(&url).await.unwrap();
        assert_eq!(store.group(&gid("home")).await.unwrap(), group("home"));
        assert_eq!(store.last_audit_seq().await.unwrap(), seq);
        store.close().await;
    }
    let applied = scalar(&url, "SELECT COUNT(*) FROM _sqlx_migrations").await;
    assert_eq!(applied, list_of(backend).len() as i64);
}

async fn an_older_database_is_upgraded(backend: Backend) {
    let (url, _guard) = database_url(backend);
    let current = list_of(backend);
    let store = open_with(&url, &current[..1]).await.unwrap();
    seed(&store).await;
    store.close().await;

    // A newer Hearth appends a migration; opening applies only that one.
    let mut newer = current.to_vec();
    newer.push((
        999,
        "probe",
        "CREATE TABLE upgrade_probe (id INTEGER NOT NULL PRIMARY KEY);\n\
         INSERT INTO upgrade_probe (id) VALUES (7);\n\
         UPDATE groups SET name = 'Upgraded' WHERE id = 'home';",
    ));
    let store = open_with(&url, &newer).await.unwrap();
    assert_eq!(store.group(&gid("home")).await.unwrap().name, "Upgraded");
    assert_eq!(store.apps(None).await.unwrap().len(), 1, "data kept");
    store.close().await;
    assert_eq!(scalar(&url, "SELECT COUNT(*) FROM upgrade_probe").await, 1);
    assert_eq!(
        scalar(&url, "SELECT MAX(version) FROM _sqlx_migrations").await,
        999
    );

    // Again: nothing left to apply (the probe would fail on its duplicate key).
    let store = open_with(&url, &newer).await.unwrap();
    store.close().await;

    // An applied migration edited afterwards is refused, not silently ignored.
    let mut edited = current.to_vec();
    edited.push((999, "probe", "SELECT 1;"));
    let result = open_with(&url, &edited).await;
    assert!(
        matches!(result, Err(StoreError::Backend(ref message)) if message.contains("migrat")),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn reopening_is_idempotent_sqlite() {
    reopening_is_idempotent(Backend::Sqlite).await;
}

#[tokio::test]
async fn reopening_is_idempotent_postgres() {
    reopening_is_idempotent(Backend::Postgres).await;
}

#[tokio::test]
async fn reopening_is_idempotent_mariadb() {
    reopening_is_idempotent(Backend::MariaDb).await;
}

#[tokio::test]
async fn an_older_database_is_upgraded_mariadb() {
    an_older_database_is_upgraded(Backend::MariaDb).await;
}

#[tokio::test]
async fn an_older_database_is_upgraded_sqlite() {
    an_older_database_is_upgraded(Backend::Sqlite).await;
}

#[tokio::test]
async fn an_older_database_is_upgraded_postgres() {
    an_older_database_is_upgraded(Backend::Postgres).await;
}

#[tokio::test]
async fn unknown_database_urls_are_refused() {
    // The refusal names the scheme, never the rest: a URL may hold a password, and the
    // text reaches logs and `hearth doctor`.
    for url in [
        "oracle://scott:tiger-secret@localhost/hearth",
        "mysql2://u:tiger-secret@h/db",
    ] {
        let message = match hearth_store::open(url).await {
            Err(StoreError::Refused(message)) => message,
            other => panic!("{url}: {:?}", other.err()),
        };
        assert!(
            message.contains("unsupported database URL scheme"),
            "{message}"
        );
        assert!(!message.contains("tiger-secret"), "{message}");
        let checked = hearth_store::check_schema(url).await;
        assert!(
            matches!(&checked, Err(StoreError::Refused(m)) if !m.contains("tiger-secret")),
            "{checked:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_postgres_fails_fast_with_its_address() {
    // Refused at once (nothing listens on port 1), and an address that drops packets
    // (or has no route here): both must fail, naming the server, well before sqlx's
    // 30 s pool timeout (the store gives up after 5 s).
    for url in [
        "postgres://u@127.0.0.1:1/x",
        "postgres://u@10.255.255.1:5432/x",
    ] {
        let started = std::time::Instant::now();
        let result = PostgresStore::connect(url).await;
        let elapsed = started.elapsed();
        let message = match result {
            Err(StoreError::Backend(message)) => message,
            other => panic!("{url}: {:?}", other.err()),
        };
        assert!(
            message.contains("cannot connect to PostgreSQL at"),
            "{message}"
        );
        assert!(
            elapsed < std::time::Duration::from_secs(15),
            "{url}: {elapsed:?}"
        );
    }
}
