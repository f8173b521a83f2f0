//! `hearth backup FILE` and `hearth restore FILE`: everything a hub needs, copied
//! consistently while the hub runs and ingests (docs/backup.md).
//!
//! # Design
//! A backup holds three parts, each copied the way its owner allows:
//! - The SQL store. SQLite: `VACUUM INTO` from a connection of this process. WAL mode
//!   lets another process read one consistent snapshot while the hub writes, so the
//!   running hub's help is not needed. PostgreSQL: `pg_dump --format=custom` (see
//!   `postgres`), likewise a snapshot beside the running hub. MariaDB / MySQL: refused
//!   with the way to do it instead (`mariadb`), since a dump Hearth cannot also restore
//!   and check would be a backup nobody has tried.
//! - The broker state (`broker.redb`). redb locks its file, so while a hub runs only
//!   the hub can read it: the CLI asks it over the control socket in the data directory
//!   (`control`), and the hub copies one read transaction into a new redb file and sends
//!   it. When no hub answers there, the CLI opens the file and copies it itself; if the
//!   file is locked and no hub answers, it says so rather than guess.
//! - Every other regular file of the data directory (keys, certificates), see `files`.
//!
//! Each part is a consistent copy of its own; they are taken one after the other, not
//! at one instant. Nothing a device had acknowledged before the backup began is
//! missing: a QoS 1/2 PUBACK means the message is in the SQL store and the broker state
//! already, and both copies begin after the backup did. Messages that arrive during
//! the backup may be in one part and not the other, as after any crash.
//!
//! The parts are first copied into a private staging directory beside FILE, hashed,
//! and then written into the archive (`archive`) after the manifest, so the manifest
//! can come first and a restore can check everything before it writes anything.

mod archive;
pub mod control;
mod files;
mod mariadb;
mod postgres;
mod progress;

use anyhow::{Context, bail};
use clap::Args;
use std::path::{Path, PathBuf};

use crate::cli::StoreArgs;
use crate::config::HearthConfig;
use archive::{Entry, Manifest, Staged};
use progress::Progress;

/// Entry names in the archive.
const SQLITE_ENTRY: &str = "sql/hearth.db";
const PGDUMP_ENTRY: &str = "sql/hearth.pgdump";
const BROKER_ENTRY: &str = "broker/broker.redb";
const FILES_PREFIX: &str = "files/";
const BROKER_FILE: &str = "broker.redb";

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The archive to write: `.tar`, or `.tar.gz` / `.tgz` for a compressed one.
    pub file: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The archive `hearth backup` wrote.
    pub file: PathBuf,
    /// Restore into a non-empty data directory (files in the archive replace those
    /// there) or a non-empty PostgreSQL database (what the dump holds is dropped first).
    #[arg(long)]
    pub force: bool,
}

/// `hearth backup FILE`.
pub fn backup(args: &BackupArgs, store: &StoreArgs) -> anyhow::Result<()> {
    let config = HearthConfig::load_store(store)?;
    mariadb::refuse(config.database.as_deref(), "backup")?;
    let data_dir = &config.data_dir;
    if !data_dir.is_dir() {
        bail!("{}: no data directory there", data_dir.display());
    }
    if args.file.exists() && !args.force {
        bail!("{} exists (use --force to replace it)", args.file.display());
    }
    let url = config.database_url()?;
    let created_at = jiff::Timestamp::now().to_string();
    let parent = match args.file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new()
        .prefix(".hearth-backup-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a staging directory in {}", parent.display()))?;
    let progress = Progress::new();
    let mut staged = Vec::new();
    let mut database_names = vec![BROKER_FILE.to_owned()];

    let (backend, sql_tool) = if postgres::is_postgres(&url) {
        progress.step("PostgreSQL: pg_dump --format=custom ...");
        let dest = staging.path().join("hearth.pgdump");
        let version = postgres::dump(&url, &dest)?;
        staged.push(Staged {
            name: PGDUMP_ENTRY.into(),
            path: dest,
            mode: 0o600,
        });
        ("postgresql", Some(version))
    } else {
        let source = sqlite_path(&url)?;
        if let Some(name) = source.file_name() {
            database_names.push(name.to_string_lossy().into_owned());
        }
        progress.step(&format!(
            "SQLite: VACUUM INTO from {} ...",
            source.display()
        ));
        let dest = staging.path().join("hearth.db");
        block_on(async {
            hearth_store::sqlite_vacuum_into(&source, &dest)
                .await
                .map_err(anyhow::Error::from)
        })?;
        staged.push(Staged {
            name: SQLITE_ENTRY.into(),
            path: dest,
            mode: 0o600,
        });
        ("sqlite", None)
    };

    let broker = staging.path().join(BROKER_FILE);
    match control::fetch_broker_snapshot(data_dir, &broker)? {
        control::Fetched::Written(size) => {
            progress.step(&format!("broker state: {size} bytes from the running hub"));
            staged.push(Staged {
                name: BROKER_ENTRY.into(),
                path: broker,
                mode: 0o600,
            });
        }
        control::Fetched::NoBrokerState => {
            progress.step("no broker state: the running hub keeps none (persistence is off)");
        }
        control::Fetched::NoHub => {
            let live = data_dir.join(BROKER_FILE);
            if live.exists() {
                match hearth_store::snapshot_file(&live, &broker)? {
                    hearth_store::OfflineSnapshot::Written(counts) => progress.step(&format!(
                        "broker state (no hub running): {} retained, {} sessions, {} queued messages",
                        counts.retained, counts.sessions, counts.messages
                    )),
                    hearth_store::OfflineSnapshot::InUse => bail!(
                        "{} is in use but no hub answers on {}: is a hub of an older version \
                         running? Stop it, or upgrade it, and try again",
                        live.display(),
                        data_dir.join(control::SOCKET_NAME).display()
                    ),
                }
                staged.push(Staged {
                    name: BROKER_ENTRY.into(),
                    path: broker,
                    mode: 0o600,
                });
            } else {
                progress.step("no broker state (persistence is off, or the hub never ran)");
            }
        }
    }

    let mut said = Vec::new();
    let skip = [args.file.clone(), args.file.with_extension("partial")];
    staged.extend(files::stage(
        data_dir,
        staging.path(),
        &database_names,
        &skip,
        &mut said,
    )?);
    for line in &said {
        progress.step(line);
    }

    let mut entries = Vec::with_capacity(staged.len());
    for item in &staged {
        let (size, sha256) = archive::digest_file(&item.path)?;
        entries.push(Entry {
            name: item.name.clone(),
            size,
            sha256,
            mode: item.mode,
        });
    }
    let manifest = Manifest {
        format: archive::FORMAT_VERSION,
        hearth_version: env!("CARGO_PKG_VERSION").to_owned(),
        backend: backend.to_owned(),
        created_at,
        sql_tool,
        entries,
    };
    archive::write(&args.file, &manifest, &staged, &progress)?;
    let total: u64 = manifest.entries.iter().map(|entry| entry.size).sum();
    println!(
        "wrote {} ({} entries, {total} bytes before compression, backend {backend})",
        args.file.display(),
        manifest.entries.len()
    );
    Ok(())
}

/// `hearth restore FILE`.
pub fn restore(args: &RestoreArgs, store: &StoreArgs) -> anyhow::Result<()> {
    let config = HearthConfig::load_store(store)?;
    mariadb::refuse(config.database.as_deref(), "restore")?;
    let data_dir = config.data_dir.clone();
    let progress = Progress::new();
    if control::hub_answers(&data_dir) {
        bail!(
            "a hub is running on {}: stop it before restoring",
            data_dir.display()
        );
    }
    let not_empty = std::fs::read_dir(&data_dir).is_ok_and(|mut entries| entries.next().is_some());
    if not_empty && !args.force {
        bail!(
            "{} is not empty: restore into a new directory, or use --force to replace the files the archive holds",
            data_dir.display()
        );
    }
    // Checked whole before anything is written.
    let manifest = archive::verify(&args.file, &progress)?;
    progress.step(&format!(
        "archive verified: {} entries, backend {}, written by hearth {} at {}",
        manifest.entries.len(),
        manifest.backend,
        manifest.hearth_version,
        manifest.created_at
    ));
    let target_url = config
        .database
        .as_deref()
        .map(str::trim)
        .filter(|url| !url.is_empty());
    let postgres_url = match (manifest.backend.as_str(), target_url) {
        ("postgresql", Some(url)) if postgres::is_postgres(url) => Some(url.to_owned()),
        ("postgresql", _) => bail!(
            "this backup holds a PostgreSQL dump: name the database to restore into with --database postgres://..."
        ),
        ("sqlite", Some(url)) if postgres::is_postgres(url) => {
            bail!("this backup holds a SQLite database; restore it without a PostgreSQL --database")
        }
        ("sqlite", _) => None,
        (other, _) => bail!("unknown backend {other:?} in the manifest"),
    };
    if let Some(url) = &postgres_url {
        let empty = block_on(async {
            hearth_store::postgres_is_empty(url)
                .await
                .map_err(anyhow::Error::from)
        })?;
        if !empty && !args.force {
            bail!(
                "the PostgreSQL database is not empty: restore into an empty one, or use --force"
            );
        }
    }
    archive::create_private_dirs(&data_dir)?;
    let sqlite = match postgres_url {
        None => Some(sqlite_path(&config.database_url()?)?),
        Some(_) => None,
    };
    if let Some(db) = &sqlite {
        // A WAL left beside another database would be replayed into it.
        for suffix in ["-wal", "-shm", "-journal"] {
            let side = PathBuf::from(format!("{}{suffix}", db.display()));
            if side.exists() {
                std::fs::remove_file(&side)
                    .with_context(|| format!("removing {}", side.display()))?;
            }
        }
    }
    let dump_dir = tempfile::tempdir()?;
    let dump = dump_dir.path().join("hearth.pgdump");
    archive::extract(
        &args.file,
        &manifest,
        |entry: &Entry| match entry.name.as_str() {
            SQLITE_ENTRY => sqlite.clone(),
            PGDUMP_ENTRY => Some(dump.clone()),
            BROKER_ENTRY => Some(data_dir.join(BROKER_FILE)),
            name => name
                .strip_prefix(FILES_PREFIX)
                .map(|inner| data_dir.join(inner)),
        },
        &progress,
    )?;
    if let Some(url) = &postgres_url {
        progress.step("PostgreSQL: pg_restore --single-transaction ...");
        postgres::restore(url, &dump, args.force)?;
    }
    println!(
        "restored {} into {}",
        args.file.display(),
        data_dir.display()
    );
    Ok(())
}

/// The file of a `sqlite://PATH` URL.
fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    match url.strip_prefix("sqlite://") {
        Some(path) => Ok(Path::new(path.split('?').next().unwrap_or(path)).to_owned()),
        None => bail!("unsupported database URL (use sqlite://PATH or postgres://...)"),
    }
}

/// Runs one store call from this synchronous command.
fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future)
}
