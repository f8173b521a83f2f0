//! SQL helpers that do not depend on the backend (compiled once), and the home of the
//! query files both backends include.
//!
//! # Layout
//! - this file: error mapping, JSON and LIKE helpers, the embedded-migration list type.
//! - `registry.rs` (groups, users, applications, grants, credentials, `ping`, `close`),
//!   `devices.rs`, `audit.rs`, `history.rs`, `auth.rs` (sessions, API tokens): NOT
//!   modules of this one. `sqlite/mod.rs`, `postgres/mod.rs` and `mysql/mod.rs` each
//!   include them with [`include_shared_queries!`] (`#[path = "../sql/..."] mod ...;`)
//!   after defining `type Db` (`sqlx::Sqlite`, `sqlx::Postgres` or `sqlx::MySql`),
//!   `type ThisStore`, the few constants where the SQL differs and `statement`, `scalar`
//!   and `dialect` (MariaDB's translate the text, see `mysql/dialect.rs`). Each query is thus written once, yet compiled against a concrete
//!   database type in each backend, which spares us generic code bounded on
//!   `sqlx::Database` (`for<'c> &'c mut Db::Connection: Executor<'c>`,
//!   `for<'q> T: Encode<'q, Db> + Type<Db>`... on every function).

use crate::StoreError;
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Includes the shared query files into the backend module that invokes it, after that
/// module has defined `Db`, `ThisStore`, its constants and `statement`/`scalar`/`dialect`
/// (see the module doc). One list for the three backends.
macro_rules! include_shared_queries {
    () => {
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/alerts.rs"]
        mod alerts;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/apps.rs"]
        mod apps;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/audit.rs"]
        mod audit;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/auth.rs"]
        mod auth;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/automation_gates.rs"]
        mod automation_gates;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/automations.rs"]
        mod automations;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/claims.rs"]
        mod claims;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/commands.rs"]
        mod commands;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/compact.rs"]
        mod compact;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/devices.rs"]
        mod devices;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/discovery.rs"]
        mod discovery;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/firmware.rs"]
        mod firmware;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/history.rs"]
        mod history;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/history_prune.rs"]
        mod history_prune;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/history_read.rs"]
        mod history_read;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/identities.rs"]
        mod identities;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/layouts.rs"]
        mod layouts;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/leases.rs"]
        mod leases;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/mirror.rs"]
        mod mirror;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/mirror_home.rs"]
        mod mirror_home;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/notification_prefs.rs"]
        mod notification_prefs;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/registry.rs"]
        mod registry;
        #[allow(clippy::duplicate_mod)]
        #[path = "../sql/sites.rs"]
        mod sites;
    };
}
pub(crate) use include_shared_queries;

/// One embedded migration: version, description, SQL (from `include_str!`).
pub type EmbeddedMigration = (i64, &'static str, &'static str);

/// A [`Migrator`] over an embedded list. New migrations are appended to a backend's list
/// (`0002_ingest.sql`...); the `_sqlx_migrations` table records what ran, so opening a
/// database applies exactly the missing ones and refuses one whose applied migrations
/// were edited afterwards (checksum mismatch).
pub fn migrator(migrations: &[EmbeddedMigration]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// What a failed statement means for the caller. `unique` names what already exists
/// (with its id) and `foreign` what was referenced but is missing, where the caller can
/// tell; any other failure is a `Backend` error carrying sqlx's message.
pub fn map_err(
    error: sqlx::Error,
    unique: Option<(&'static str, &str)>,
    foreign: Option<(&'static str, &str)>,
) -> StoreError {
    if let sqlx::Error::Database(db_error) = &error {
        match db_error.kind() {
            sqlx::error::ErrorKind::UniqueViolation => {
                if let Some((what, id)) = unique {
                    return StoreError::conflict(what, id);
                }
            }
            sqlx::error::ErrorKind::ForeignKeyViolation => {
                if let Some((what, id)) = foreign {
                    return StoreError::not_found(what, id);
                }
            }
            _ => {}
        }
    }
    backend(error)
}

/// Any other sqlx error, as text (sqlx stays out of the public API).
pub fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(error.to_string())
}

/// A JSON value as stored (TEXT in both backends).
pub fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

/// A stored JSON text back to a value; a column that does not hold JSON is corruption.
pub fn json_value(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|error| backend(format!("stored JSON is invalid: {error}")))
}

/// `%text%` with LIKE's wildcards escaped (for `LIKE ... ESCAPE '\'`), so that searching
/// `esp_0` does not match `espx0`.
pub fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

/// The ids of the history's series (device, metric) this process has seen committed,
/// so that a batch looks up in memory, not in the database, which integer each point
/// is stored under. Only committed ids enter (a rolled-back batch's new series may be
/// gone); a series is never deleted, so an entry never goes stale. The first miss loads
/// the whole (small) table, so a restarted hub does not look series up one by one.
#[derive(Default)]
pub struct SeriesCache {
    ids: Mutex<HashMap<String, HashMap<String, i64>>>,
    loaded: AtomicBool,
}

impl SeriesCache {
    /// The id known for each `(device, metric)`, `None` where unknown.
    pub fn lookup<'k>(&self, keys: impl Iterator<Item = (&'k str, &'k str)>) -> Vec<Option<i64>> {
        let ids = self
            .ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.map(|(device, metric)| {
            ids.get(device)
                .and_then(|metrics| metrics.get(metric))
                .copied()
        })
        .collect()
    }

    /// Whether the whole table was read once already.
    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::Relaxed)
    }

    /// Records series ids read from the database (committed rows only); `whole_table`
    /// when that was all of them.
    pub fn remember(&self, series: Vec<(String, String, i64)>, whole_table: bool) {
        let mut ids = self
            .ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (device, metric, id) in series {
            ids.entry(device).or_default().insert(metric, id);
        }
        if whole_table {
            self.loaded.store(true, Ordering::Relaxed);
        }
    }
}

/// Splits `items` into chunks whose lengths come from a fixed ladder: `largest`, then
/// `largest / 8`, `largest / 64`... down to 1. A multi-row INSERT's text depends on its
/// row count, and sqlx prepares (and caches) one statement per text: with the ladder, a
/// batch of any size reuses a handful of cached statements instead of preparing a new
/// one for its odd-sized tail.
pub fn ladder_chunks<T>(items: &[T], largest: usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let mut rest = items;
    let mut size = largest.max(1);
    while !rest.is_empty() {
        while size > 1 && rest.len() < size {
            size = (size / 8).max(1);
        }
        let (chunk, tail) = rest.split_at(size);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_chunks_use_few_sizes() {
        let items: Vec<u32> = (0..10_000).collect();
        let sizes: Vec<usize> = ladder_chunks(&items, 4096)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(sizes.iter().sum::<usize>(), 10_000);
        assert_eq!(&sizes[..2], &[4096, 4096]);
        assert!(
            sizes
                .iter()
                .all(|size| [4096, 512, 64, 8, 1].contains(size))
        );
        assert!(ladder_chunks::<u32>(&[], 4096).is_empty());
        assert_eq!(ladder_chunks(&items[..3], 4096).len(), 3);
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("esp_0"), "%esp\\_0%");
        assert_eq!(like_pattern("100%"), "%100\\%%");
        assert_eq!(like_pattern("客厅"), "%客厅%");
    }
}
