//! The SQL part on PostgreSQL: the database's own tools. `pg_dump --format=custom`
//! writes the dump (one consistent snapshot, taken in a repeatable-read transaction, so
//! the hub keeps writing meanwhile); `pg_restore --single-transaction` loads it into the
//! database `--database` names on restore, all or nothing.
//!
//! Version rule (PostgreSQL's): `pg_dump` must be of the server's major version or newer,
//! and `pg_restore` must be at least as new as the `pg_dump` that wrote the archive. The
//! tools are found on `PATH` (Debian's `postgresql-client`, whose wrapper picks the
//! newest installed version), or named by `HEARTH_PG_DUMP` / `HEARTH_PG_RESTORE`.
//!
//! The password in the URL goes to the tools through `PGPASSWORD`, never on a command
//! line that `ps` would show.

use anyhow::{Context, bail};
use std::path::Path;
use std::process::Command;

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Dumps the database at `url` to `dest`; returns the tool's version line.
pub fn dump(url: &str, dest: &Path) -> anyhow::Result<String> {
    let tool = std::env::var("HEARTH_PG_DUMP").unwrap_or_else(|_| "pg_dump".to_owned());
    let version = version(&tool)?;
    let mut command = Command::new(&tool);
    command.arg("--format=custom").arg("--file").arg(dest);
    run(command, url, &tool)?;
    Ok(version)
}

/// Loads the dump at `dump` into the database at `url`; `clean` drops what the dump
/// recreates first (`--clean --if-exists`, for `--force`).
pub fn restore(url: &str, dump: &Path, clean: bool) -> anyhow::Result<()> {
    let tool = std::env::var("HEARTH_PG_RESTORE").unwrap_or_else(|_| "pg_restore".to_owned());
    let mut command = Command::new(&tool);
    command.args([
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
    ]);
    if clean {
        command.args(["--clean", "--if-exists"]);
    }
    command.arg(dump);
    run(command, url, &tool)
}

fn version(tool: &str) -> anyhow::Result<String> {
    let output = Command::new(tool).arg("--version").output().with_context(|| {
        format!("running {tool} (install PostgreSQL's client tools, e.g. Debian's postgresql-client)")
    })?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn run(mut command: Command, url: &str, tool: &str) -> anyhow::Result<()> {
    let (without_password, password) = split_password(url);
    command.arg("--dbname").arg(&without_password);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = command
        .output()
        .with_context(|| format!("running {tool}"))?;
    if !output.status.success() {
        bail!(
            "{tool} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// `postgres://user:secret@host/db` → (`postgres://user@host/db`, `secret`), with the
/// password percent-decoded as libpq would.
fn split_password(url: &str) -> (String, Option<String>) {
    let Some(scheme_end) = url.find("://").map(|at| at + 3) else {
        return (url.to_owned(), None);
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?'])
        .map_or(url.len(), |at| scheme_end + at);
    let Some(at) = url[scheme_end..authority_end]
        .rfind('@')
        .map(|at| scheme_end + at)
    else {
        return (url.to_owned(), None);
    };
    match url[scheme_end..at].split_once(':') {
        Some((user, password)) => (
            format!("{}{user}{}", &url[..scheme_end], &url[at..]),
            Some(percent_decode(password)),
        ),
        None => (url.to_owned(), None),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(value) = text
                .get(index + 1..index + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            out.push(value);
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::split_password;

    #[test]
    fn the_password_leaves_the_url() {
        assert_eq!(
            split_password("postgres://hearth:s%40cret@db:5432/hearth?sslmode=disable"),
            (
                "postgres://hearth@db:5432/hearth?sslmode=disable".to_owned(),
                Some("s@cret".to_owned())
            )
        );
        assert_eq!(
            split_password("postgres://hearth@db/hearth"),
            ("postgres://hearth@db/hearth".to_owned(), None)
        );
    }
}
