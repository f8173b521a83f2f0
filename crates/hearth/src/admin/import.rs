//! `hearth device import FILE.csv`: many devices at once, all or nothing.
//!
//! Every row is read and checked before anything is written, and the registry writes
//! them in one transaction, so a bad row (named by its number, counted from the first
//! device row) leaves the hub as it was. The secrets exist only in this command's
//! output: `--output` is opened before the import (a path that cannot be written fails
//! first) and created with mode 0600.

use super::{Ctx, Failure};
use hearth_model::{AppId, DeviceId};
use hearth_services::registry::{self, DeviceSpec};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;

/// The columns a file may have; `id` is required.
pub const COLUMNS: [&str; 7] = [
    "id",
    "app",
    "name",
    "kind",
    "room",
    "firmware",
    "heartbeat_timeout_secs",
];

pub async fn run(
    ctx: &Ctx,
    file: &Path,
    app: Option<&str>,
    output: Option<&Path>,
) -> Result<(), Failure> {
    let specs = read_specs(file, app)?;
    let mut sink = match output {
        Some(path) => Some((create_private(path)?, path)),
        None => None,
    };
    let bar = if ctx.out.json || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let style = ProgressStyle::with_template("hashing secrets {wide_bar} {pos}/{len}")
            .expect("a valid progress template");
        ProgressBar::new(specs.len() as u64).with_style(style)
    };
    let progress = |count: usize| bar.set_position(count as u64);
    let result = ctx.registry.add_devices(&ctx.actor, specs, &progress).await;
    bar.finish_and_clear();
    let secrets = match result {
        Ok(secrets) => secrets,
        Err(error) => {
            if let Some((file, path)) = sink.take() {
                drop(file);
                let _ = std::fs::remove_file(path);
            }
            return Err(error.into());
        }
    };
    let mut text = String::from("id,secret\n");
    for (id, secret) in &secrets {
        // Ids and generated secrets are letters, digits, '-' and '_': nothing to quote.
        text.push_str(&format!("{id},{secret}\n"));
    }
    match sink {
        Some((mut file, path)) => {
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|error| {
                    Failure::invalid(
                        "output",
                        format!(
                            "output: writing {}: {error} (the {} devices were registered; \
                             rotate their secrets with `hearth device rotate-secret`)",
                            path.display(),
                            secrets.len()
                        ),
                    )
                })?;
            ctx.out.done(
                json!({ "imported": secrets.len(), "output": path }),
                &format!(
                    "registered {} devices; their secrets are in {} (readable only by you)",
                    secrets.len(),
                    path.display()
                ),
            );
        }
        None if ctx.out.json => {
            let items: Vec<_> = secrets
                .iter()
                .map(|(id, secret)| json!({ "id": id, "secret": secret }))
                .collect();
            ctx.out.json(&items);
        }
        None => {
            print!("{text}");
            eprintln!(
                "registered {} devices; the secrets above are shown only now",
                secrets.len()
            );
        }
    }
    Ok(())
}

/// Reads and shapes every row, parsing its ids (an invalid one is refused with its row
/// number, in the registry's words); nothing is checked against the registry yet.
pub(super) fn read_specs(
    file: &Path,
    default_app: Option<&str>,
) -> Result<Vec<DeviceSpec>, Failure> {
    let bad_file =
        |message: String| Failure::invalid("file", format!("{}: {message}", file.display()));
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|error| bad_file(error.to_string()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|error| bad_file(error.to_string()))?
        .iter()
        .map(|name| name.trim_start_matches('\u{feff}').to_owned())
        .collect();
    for (index, name) in header.iter().enumerate() {
        if !COLUMNS.contains(&name.as_str()) {
            return Err(bad_file(format!(
                "unknown column {name:?}; the columns are {}",
                COLUMNS.join(", ")
            )));
        }
        if header[..index].contains(name) {
            return Err(bad_file(format!("column {name:?} appears twice")));
        }
    }
    if !header.iter().any(|name| name == "id") {
        return Err(bad_file(format!(
            "no `id` column; the first row must name the columns ({})",
            COLUMNS.join(", ")
        )));
    }
    let mut specs = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let row = index + 1;
        let record = record.map_err(|error| bad_file(format!("row {row}: {error}")))?;
        let field = |column: &str| {
            let index = header.iter().position(|name| name == column)?;
            record
                .get(index)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        let heartbeat_timeout_secs = field("heartbeat_timeout_secs")
            .map(|text| {
                text.parse().map_err(|_| {
                    Failure::invalid(
                        "heartbeat_timeout_secs",
                        format!(
                            "heartbeat_timeout_secs: row {row}: {text:?} is not a number of \
                             seconds"
                        ),
                    )
                })
            })
            .transpose()?;
        // The application before the id: the order the registry checked them in when it
        // took strings, so a row with both wrong is reported as it always was.
        let in_row = |error: registry::RegistryError| Failure::from(error.at_row(row));
        let app: Option<AppId> = field("app")
            .as_deref()
            .or(default_app)
            .map(|app| registry::parse_id("app", app).map_err(in_row))
            .transpose()?;
        let id: DeviceId =
            registry::parse_id("id", &field("id").unwrap_or_default()).map_err(in_row)?;
        specs.push(DeviceSpec {
            id,
            app,
            name: field("name"),
            kind: field("kind"),
            room: field("room"),
            firmware: field("firmware"),
            metadata: None,
            heartbeat_timeout_secs,
        });
    }
    if specs.is_empty() {
        return Err(bad_file(
            "no devices: the file has only a header row".to_owned(),
        ));
    }
    Ok(specs)
}

/// Creates `path` for secrets: new (an existing file is never overwritten, it may hold
/// the only copy of other secrets) and readable only by its owner.
pub(super) fn create_private(path: &Path) -> Result<File, Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path).map_err(|error| {
        let hint = if error.kind() == std::io::ErrorKind::AlreadyExists {
            " (it is never overwritten: choose a new file)"
        } else {
            ""
        };
        Failure::invalid(
            "output",
            format!("output: cannot create {}: {error}{hint}", path.display()),
        )
    })
}
