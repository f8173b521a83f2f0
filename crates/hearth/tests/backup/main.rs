//! `hearth backup` and `hearth restore` with the real binary: a backup taken while
//! devices publish at full rate holds every message acknowledged before it began, the
//! retained messages and a persistent session's queue, on SQLite and PostgreSQL; a
//! damaged archive is refused by entry; a non-empty directory is refused; the control
//! socket is the owner's only and answers nothing it does not know. On MariaDB both
//! commands refuse and name `mariadb-dump --single-transaction` instead.

mod archive;
mod control;
mod mariadb;
mod under_load;

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

/// Runs the binary with `args` and returns what it did.
pub async fn hearth(args: &[&std::ffi::OsStr]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .env_remove("HEARTH_LOG")
        .env_remove("HEARTH_DATABASE")
        .env_remove("HEARTH_DATA_DIR")
        .env_remove("HEARTH_CONFIG")
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .expect("hearth runs")
}

pub fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `hearth backup FILE --data-dir DIR [--database URL]`.
pub async fn backup(file: &Path, data_dir: &Path, database: Option<&str>) -> Output {
    let mut args = vec![
        "backup".as_ref(),
        file.as_os_str(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ];
    if let Some(url) = database {
        args.extend([OsStr::new("--database"), OsStr::new(url)]);
    }
    hearth(&args).await
}

/// `hearth restore FILE --data-dir DIR [--database URL]`.
pub async fn restore(file: &Path, data_dir: &Path, database: Option<&str>) -> Output {
    let mut args = vec![
        "restore".as_ref(),
        file.as_os_str(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
    ];
    if let Some(url) = database {
        args.extend([OsStr::new("--database"), OsStr::new(url)]);
    }
    hearth(&args).await
}
