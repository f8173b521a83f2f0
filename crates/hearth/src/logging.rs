//! The process's logger: plain text for a person or journald, JSON lines for a log
//! collector (`--log-format json`), on stderr (stdout is for command output). The
//! filter sits behind a reload handle so that `PUT /api/v1/admin/log-level` can change
//! it while the hub runs ([`levels`] is the API's seam over it).

use std::sync::{Arc, OnceLock};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event (colours only at a terminal).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields` (with `message`),
    /// `target`, `span`s; what Loki, Vector, Fluent Bit and journald's collectors read.
    Json,
}

type Handle = reload::Handle<EnvFilter, Registry>;

/// Set once by [`init`]; `None` in a process that installed another logger (tests).
static HANDLE: OnceLock<Handle> = OnceLock::new();

/// Installs the logger: `level` (from `--log`) or `$HEARTH_LOG` or `default`.
pub fn init(level: Option<&str>, default: &str, format: LogFormat) {
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_env("HEARTH_LOG").unwrap_or_else(|_| EnvFilter::new(default)),
    };
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_ansi(log_colours())
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        // The target stays in JSON: a collector filters on it.
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
    if installed.is_ok() {
        let _ = HANDLE.set(handle);
    }
}

/// The API's handle on the filter, when this process's logger is [`init`]'s.
pub fn levels() -> Option<Arc<dyn hearth_api::LogLevels>> {
    HANDLE
        .get()
        .map(|handle| Arc::new(Levels(handle.clone())) as Arc<dyn hearth_api::LogLevels>)
}

struct Levels(Handle);

impl hearth_api::LogLevels for Levels {
    fn current(&self) -> String {
        self.0
            .with_current(|filter| filter.to_string())
            .unwrap_or_default()
    }

    fn set(&self, filter: &str) -> Result<String, String> {
        let parsed = EnvFilter::try_new(filter).map_err(|error| error.to_string())?;
        self.0
            .reload(parsed)
            .map_err(|error| format!("the logger is gone: {error}"))?;
        Ok(self.current())
    }
}

/// Colours only for a person at a terminal: a log file, a pipe or journald would keep
/// the escape codes as noise. `NO_COLOR` (any non-empty value, see no-color.org) turns
/// them off there too.
fn log_colours() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_filter_is_refused_with_the_reason() {
        let (_layer, handle) = reload::Layer::<EnvFilter, Registry>::new(EnvFilter::new("info"));
        let levels = Levels(handle);
        // The layer is not installed anywhere, so reloading fails: parsing comes first.
        let error = hearth_api::LogLevels::set(&levels, "info,hearth=loud").unwrap_err();
        assert!(!error.contains("logger is gone"), "{error}");
    }
}
