//! The data directory's own files (keys, certificates, generated secrets): every
//! regular file except the live databases (copied consistently instead), the control
//! socket, and hearth's own temporary files (names starting with `.hearth-`).
//! Symbolic links and other special files are skipped and named, not followed: a link
//! may point outside the directory, and restoring it elsewhere would mean something else.

use anyhow::Context;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::archive::{Staged, create_private_dirs};

/// Names never copied from the data directory (at any depth): the live databases and
/// their side files, the control socket, and partial files of an interrupted restore.
pub fn excluded(name: &str, database_names: &[String]) -> bool {
    name.starts_with(".hearth-")
        || name == super::control::SOCKET_NAME
        || name.ends_with(".partial")
        || database_names.iter().any(|db| {
            name == db
                || name
                    .strip_prefix(db.as_str())
                    .is_some_and(|suffix| matches!(suffix, "-wal" | "-shm" | "-journal"))
        })
}

/// Copies the data directory's files (see the module docs) into `staging/files/`,
/// keeping their modes, and lists them as `files/<relative path>`. `skip` holds files to
/// leave out by path (the archive being written, when it is inside the directory).
pub fn stage(
    data_dir: &Path,
    staging: &Path,
    database_names: &[String],
    skip: &[PathBuf],
    said: &mut Vec<String>,
) -> anyhow::Result<Vec<Staged>> {
    let mut staged = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = data_dir.join(&relative);
        let listing =
            std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
        let mut names: Vec<_> = listing.collect::<Result<_, _>>()?;
        names.sort_by_key(|entry| entry.file_name());
        for entry in names {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Only the top level holds the databases; deeper, the same names are files.
            let top_level = relative.as_os_str().is_empty();
            if excluded(&name, if top_level { database_names } else { &[] }) {
                continue;
            }
            let path = entry.path();
            let inner = relative.join(&name);
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(inner);
            } else if kind.is_file() {
                if skip.iter().any(|skipped| same_file(skipped, &path)) {
                    continue;
                }
                let copy = staging.join("files").join(&inner);
                if let Some(parent) = copy.parent() {
                    create_private_dirs(parent)?;
                }
                std::fs::copy(&path, &copy)
                    .with_context(|| format!("copying {}", path.display()))?;
                let mode = entry.metadata()?.permissions().mode() & 0o7777;
                staged.push(Staged {
                    name: format!("files/{}", inner.display()),
                    path: copy,
                    mode,
                });
            } else {
                said.push(format!("skipped {} (not a regular file)", path.display()));
            }
        }
    }
    Ok(staged)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::excluded;

    #[test]
    fn live_databases_and_hearths_own_files_are_left_out_and_keys_are_not() {
        let dbs = ["hearth.db".to_owned(), "broker.redb".to_owned()];
        for name in [
            "hearth.db",
            "hearth.db-wal",
            "hearth.db-shm",
            "broker.redb",
            "hearth.sock",
            ".hearth-snapshot-1",
            "x.partial",
        ] {
            assert!(excluded(name, &dbs), "{name}");
        }
        for name in ["vapid.pem", "hearth.db.bak", "ca.key", "hearth.toml"] {
            assert!(!excluded(name, &dbs), "{name}");
        }
    }
}
