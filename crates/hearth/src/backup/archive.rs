//! The archive: a tar (gzip-compressed when the file name ends in `.gz` or `.tgz`)
//! whose first entry is `manifest.json`, then one entry per file. Entries stream from
//! and to disk; nothing is held in memory whole.
//!
//! The manifest lists every other entry with its size, SHA-256 and mode. A restore reads
//! the archive twice: once to check every entry against the manifest (nothing is written
//! yet), then to write; the second pass checks each file again before moving it into
//! place, so a file that changed in between is refused too.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::progress::Progress;

/// The manifest's name; always the first entry.
pub const MANIFEST: &str = "manifest.json";
/// The archive layout this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// A manifest larger than this is not one of ours.
const MAX_MANIFEST: u64 = 16 * 1024 * 1024;

/// What an archive holds and where it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT_VERSION`] of the writer.
    pub format: u32,
    /// The hearth version that wrote it.
    pub hearth_version: String,
    /// `sqlite` or `postgresql`: which `sql/` entry there is.
    pub backend: String,
    /// When the backup began (RFC 3339, UTC).
    pub created_at: String,
    /// The dump tool's version line (PostgreSQL only), for the restore's version check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql_tool: Option<String>,
    pub entries: Vec<Entry>,
}

/// One file in the archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// Relative path in the archive: `sql/...`, `broker/broker.redb`, `files/...`.
    pub name: String,
    pub size: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// Unix permission bits to restore (keys are 0600).
    pub mode: u32,
}

/// A file ready to go into the archive.
#[derive(Debug, Clone)]
pub struct Staged {
    pub name: String,
    pub path: PathBuf,
    pub mode: u32,
}

/// Size and SHA-256 of a file.
pub fn digest_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    digest(&mut file, &mut std::io::sink())
}

/// Copies `from` to `to`, returning how many bytes and their SHA-256.
fn digest(from: &mut impl Read, to: &mut impl Write) -> anyhow::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let read = from.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        to.write_all(&buffer[..read])?;
        size += read as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Writes the archive to `out` (through `out.partial`, renamed when complete; mode
/// 0600, since it holds every secret of the hub).
pub fn write(
    out: &Path,
    manifest: &Manifest,
    staged: &[Staged],
    progress: &Progress,
) -> anyhow::Result<()> {
    let partial = out.with_extension("partial");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let result = (|| {
        let writer = BufWriter::new(file.try_clone()?);
        let compressed = is_gzip_name(out);
        let writer: Box<dyn Write> = if compressed {
            Box::new(flate2::write::GzEncoder::new(
                writer,
                flate2::Compression::default(),
            ))
        } else {
            Box::new(writer)
        };
        let mut tar = tar::Builder::new(writer);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        let manifest_bytes = serde_json::to_vec_pretty(manifest)?;
        let mut header = tar_header(manifest_bytes.len() as u64, 0o600, now);
        tar.append_data(&mut header, MANIFEST, manifest_bytes.as_slice())?;
        progress.start_bytes(
            manifest.entries.iter().map(|entry| entry.size).sum(),
            "writing",
        );
        for item in staged {
            let file = File::open(&item.path)
                .with_context(|| format!("reading {}", item.path.display()))?;
            let size = file.metadata()?.len();
            let mut header = tar_header(size, item.mode, now);
            let reader = progress.wrap_read(file);
            tar.append_data(&mut header, &item.name, reader)
                .with_context(|| format!("writing entry {}", item.name))?;
        }
        let mut writer = tar.into_inner()?;
        writer.flush()?;
        drop(writer);
        progress.finish_bytes();
        file.sync_all()?;
        anyhow::Ok(())
    })();
    if let Err(error) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(error);
    }
    std::fs::rename(&partial, out).with_context(|| format!("renaming to {}", out.display()))?;
    Ok(())
}

fn tar_header(size: u64, mode: u32, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

fn is_gzip_name(path: &Path) -> bool {
    let name = path.to_string_lossy();
    name.ends_with(".gz") || name.ends_with(".tgz")
}

/// The archive's entries, decompressed when the file starts with gzip's magic bytes.
fn open(path: &Path) -> anyhow::Result<tar::Archive<Box<dyn Read>>> {
    let mut file =
        BufReader::new(File::open(path).with_context(|| format!("opening {}", path.display()))?);
    let mut magic = [0u8; 2];
    let gzip = {
        use std::io::BufRead;
        let start = file.fill_buf()?;
        if start.len() >= 2 {
            magic.copy_from_slice(&start[..2]);
        }
        magic == [0x1f, 0x8b]
    };
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(tar::Archive::new(reader))
}

/// Checks the whole archive against its manifest and returns the manifest. Writes
/// nothing. Errors name the entry at fault.
pub fn verify(path: &Path, progress: &Progress) -> anyhow::Result<Manifest> {
    let mut archive = open(path)?;
    let mut entries = archive.entries().context("reading the archive")?;
    let manifest = read_manifest(&mut entries)?;
    let total = manifest.entries.iter().map(|entry| entry.size).sum();
    progress.start_bytes(total, "verifying");
    let mut seen = std::collections::HashSet::new();
    for entry in entries {
        let entry = entry.context("reading the archive (damaged?)")?;
        let name = entry_name(&entry)?;
        let expected = manifest
            .entries
            .iter()
            .find(|listed| listed.name == name)
            .with_context(|| format!("entry {name}: not in the manifest"))?;
        if !seen.insert(name.clone()) {
            bail!("entry {name}: appears twice");
        }
        let mut reader = progress.wrap_read(entry);
        let (size, sha256) = digest(&mut reader, &mut std::io::sink())
            .with_context(|| format!("entry {name}: cannot be read (damaged archive)"))?;
        check(expected, size, &sha256)?;
    }
    if let Some(missing) = manifest
        .entries
        .iter()
        .find(|entry| !seen.contains(&entry.name))
    {
        bail!(
            "entry {}: in the manifest but not in the archive",
            missing.name
        );
    }
    progress.finish_bytes();
    Ok(manifest)
}

fn read_manifest(entries: &mut tar::Entries<'_, Box<dyn Read>>) -> anyhow::Result<Manifest> {
    let first = entries
        .next()
        .context("the archive is empty")?
        .context("reading the archive's first entry")?;
    if entry_name(&first)? != MANIFEST {
        bail!("not a hearth backup: the first entry is not {MANIFEST}");
    }
    let mut text = String::new();
    first
        .take(MAX_MANIFEST)
        .read_to_string(&mut text)
        .context("reading the manifest")?;
    let manifest: Manifest =
        serde_json::from_str(&text).context("entry manifest.json: not a manifest")?;
    if manifest.format != FORMAT_VERSION {
        bail!(
            "archive format {} (hearth {}); this hearth reads format {FORMAT_VERSION}",
            manifest.format,
            manifest.hearth_version
        );
    }
    for entry in &manifest.entries {
        safe_relative(&entry.name)?;
    }
    Ok(manifest)
}

/// Refuses entry names that would leave the restore's directory.
pub fn safe_relative(name: &str) -> anyhow::Result<&Path> {
    let path = Path::new(name);
    if name.is_empty()
        || !path
            .components()
            .all(|part| matches!(part, Component::Normal(_)))
    {
        bail!("entry {name:?}: not a plain relative path");
    }
    Ok(path)
}

fn entry_name<R: Read>(entry: &tar::Entry<'_, R>) -> anyhow::Result<String> {
    let path = entry.path().context("an entry with an unreadable name")?;
    Ok(path.to_string_lossy().into_owned())
}

fn check(expected: &Entry, size: u64, sha256: &str) -> anyhow::Result<()> {
    let name = &expected.name;
    if size != expected.size {
        bail!(
            "entry {name}: {size} bytes, the manifest says {}",
            expected.size
        );
    }
    if sha256 != expected.sha256 {
        bail!("entry {name}: SHA-256 does not match the manifest (the archive is damaged)");
    }
    Ok(())
}

/// Writes every entry where `place` says (entries it maps to `None` are skipped),
/// each through a `.partial` file that is checked against the manifest, given its mode,
/// synced and then renamed into place.
pub fn extract(
    path: &Path,
    manifest: &Manifest,
    place: impl Fn(&Entry) -> Option<PathBuf>,
    progress: &Progress,
) -> anyhow::Result<()> {
    let mut archive = open(path)?;
    let mut entries = archive.entries()?;
    read_manifest(&mut entries)?;
    let total = manifest.entries.iter().map(|entry| entry.size).sum();
    progress.start_bytes(total, "restoring");
    for entry in entries {
        let entry = entry?;
        let name = entry_name(&entry)?;
        let expected = manifest
            .entries
            .iter()
            .find(|listed| listed.name == name)
            .with_context(|| format!("entry {name}: not in the manifest"))?;
        let Some(dest) = place(expected) else {
            continue;
        };
        if let Some(parent) = dest.parent() {
            create_private_dirs(parent)?;
        }
        let partial = PathBuf::from(format!("{}.partial", dest.display()));
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        let mut reader = progress.wrap_read(entry);
        let written = digest(&mut reader, &mut out);
        let checked = written.and_then(|(size, sha256)| check(expected, size, &sha256));
        if let Err(error) = checked {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
        out.set_permissions(std::fs::Permissions::from_mode(expected.mode & 0o7777))?;
        out.sync_all()?;
        std::fs::rename(&partial, &dest).with_context(|| format!("writing {}", dest.display()))?;
    }
    progress.finish_bytes();
    Ok(())
}

/// Creates `dir` and its missing parents with mode 0700.
pub fn create_private_dirs(dir: &Path) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::safe_relative;

    #[test]
    fn entry_names_cannot_leave_the_directory() {
        for name in [
            "../evil",
            "files/../../etc/passwd",
            "/etc/passwd",
            "",
            "./x",
        ] {
            assert!(safe_relative(name).is_err(), "{name:?}");
        }
        for name in ["files/vapid.pem", "files/tls/ca.key", "sql/hearth.db"] {
            assert!(safe_relative(name).is_ok(), "{name:?}");
        }
    }
}
