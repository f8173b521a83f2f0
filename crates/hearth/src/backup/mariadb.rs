//! MariaDB / MySQL (`mysql://`, `mariadb://`): `hearth backup` and `hearth restore`
//! refuse, and say how to do it with the server's own tools instead. Hearth copies only
//! what it can also restore and check (SQLite, PostgreSQL); for MariaDB,
//! `mariadb-dump --single-transaction` already takes one consistent InnoDB snapshot
//! beside a running hub, which is what a backup of the SQL part needs. Refusing before
//! anything is read or written is better than the generic "unsupported database URL",
//! which reads as if MariaDB were not a backend at all.

use anyhow::bail;

/// Whether `url` names a MariaDB or MySQL database (the schemes the store opens).
pub fn is_mariadb(url: &str) -> bool {
    let url = url.trim();
    url.starts_with("mysql://") || url.starts_with("mariadb://")
}

/// An error that says what to run instead, when the configured database is MariaDB;
/// `command` is `backup` or `restore`. The URL itself is never repeated (it may hold
/// a password), only its database name.
pub fn refuse(database: Option<&str>, command: &str) -> anyhow::Result<()> {
    let Some(url) = database.filter(|url| is_mariadb(url)) else {
        return Ok(());
    };
    let db = database_name(url).unwrap_or("DB");
    if command == "restore" {
        bail!(
            "hearth restore does not load MariaDB/MySQL databases: restore the SQL part with \
             the server's tools (`mariadb {db} < hearth.sql` into an empty database, from a \
             dump of `mariadb-dump --single-transaction {db}`), and copy the data \
             directory's files (broker.redb, keys, certificates) back with the hub stopped"
        );
    }
    bail!(
        "hearth {command} does not copy MariaDB/MySQL databases: back up the SQL part with \
         `mariadb-dump --single-transaction {db} > hearth.sql` (one consistent snapshot, \
         also while the hub runs), and copy the data directory's files (broker.redb with \
         the hub stopped, keys, certificates) beside it"
    );
}

/// `mysql://user:secret@host:3306/hearth?ssl-mode=required` → `hearth`.
fn database_name(url: &str) -> Option<&str> {
    let rest = url.trim().split_once("://")?.1;
    let path = rest.split_once('/')?.1;
    let name = path.split(['?', '#']).next().unwrap_or(path);
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_urls_are_refused_with_the_tool_to_use_and_without_the_password() {
        for url in [
            "mysql://hearth:s3cret@db:3306/hearth?ssl-mode=required",
            "mariadb://hearth:s3cret@db/hearth",
        ] {
            assert!(is_mariadb(url), "{url}");
            for command in ["backup", "restore"] {
                let message = refuse(Some(url), command).unwrap_err().to_string();
                assert!(message.contains("mariadb-dump --single-transaction hearth"));
                assert!(message.contains(&format!("hearth {command} does not")));
                assert!(!message.contains("s3cret"), "{message}");
            }
        }
        let message = refuse(Some("mysql://db"), "backup")
            .unwrap_err()
            .to_string();
        assert!(message.contains("mariadb-dump --single-transaction DB"));
    }

    #[test]
    fn other_databases_pass() {
        for database in [
            None,
            Some("sqlite:///var/lib/hearth/hearth.db"),
            Some("postgres://hearth@db/hearth"),
        ] {
            assert!(refuse(database, "backup").is_ok(), "{database:?}");
        }
    }
}
