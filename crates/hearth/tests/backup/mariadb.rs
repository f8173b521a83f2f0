//! `hearth backup` and `hearth restore` on a real MariaDB database (`HEARTH_TEST_MARIADB`):
//! both refuse before they read or write anything, and say what to run instead
//! (`mariadb-dump --single-transaction DB`), never the URL with its password.

use crate::{backup, restore, text};
use hearth_testkit::{Backend, database_url};
use sqlx::Connection;

/// The tables in the database `url` names (none: nothing was created there).
async fn tables(url: &str) -> i64 {
    let mut connection = sqlx::MySqlConnection::connect(url).await.unwrap();
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();
    count
}

#[tokio::test]
async fn backup_and_restore_refuse_mariadb_and_name_mariadb_dump() {
    let (url, _guard) = database_url(Backend::MariaDb);
    let name = url.rsplit('/').next().unwrap().to_owned();
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    std::fs::create_dir(&data_dir).unwrap();
    std::fs::write(data_dir.join("key.pem"), "a key").unwrap();
    let file = work.path().join("hub.tar.gz");

    for scheme_url in [url.clone(), url.replacen("mysql://", "mariadb://", 1)] {
        let output = backup(&file, &data_dir, Some(&scheme_url)).await;
        assert!(!output.status.success(), "{}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("hearth backup does not copy MariaDB/MySQL databases")
                && stderr.contains(&format!("mariadb-dump --single-transaction {name}")),
            "{}",
            text(&output)
        );
        assert!(!stderr.contains("unsupported database URL"), "{stderr}");
        assert!(!stderr.contains(&scheme_url), "the URL is shown: {stderr}");
    }
    assert!(!file.exists(), "no archive is written");
    let left: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(left, ["data"], "no staging directory is left behind");

    // Restore refuses before it looks at the archive or the database.
    let restored = work.path().join("restored");
    let output = restore(&file, &restored, Some(&url)).await;
    assert!(!output.status.success(), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("hearth restore does not load MariaDB/MySQL databases")
            && stderr.contains("mariadb-dump --single-transaction"),
        "{}",
        text(&output)
    );
    assert!(!stderr.contains(&url), "the URL is shown: {stderr}");
    assert!(!restored.exists(), "restore made no data directory");
    assert_eq!(tables(&url).await, 0, "nothing was written to MariaDB");
}
