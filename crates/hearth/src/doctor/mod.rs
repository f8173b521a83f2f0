//! `hearth doctor`: checks a deployment the way `hearth serve` would read it (the same
//! file, `HEARTH_*` variables and flags) and says what to fix, one line per check with
//! `ok`, `warn` or `fail` and a remedy. It changes nothing: the database is opened
//! read-only and never migrated, listeners are bound only to see whether they are free
//! and closed at once. The exit code is 1 when any check fails.

use crate::cli::ServeArgs;
use crate::config::HearthConfig;

mod tls;
use serde::Serialize;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Print the checks as a JSON array instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

/// One finding: `check` is stable (`data_dir`, `tls_cert`, `listener.http`, ...).
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: String,
    pub status: Status,
    pub message: String,
    /// What to do about it; empty when the check passed.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub remedy: String,
}

/// Certificates expiring sooner than this warn.
const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 86_400);
/// Less free space than this (or than 10 %) in the data directory warns.
const LOW_DISK_BYTES: u64 = 1 << 30;

#[derive(Default)]
struct Report(Vec<Finding>);

impl Report {
    fn add(&mut self, check: &str, status: Status, message: String, remedy: &str) {
        self.0.push(Finding {
            check: check.to_owned(),
            status,
            message,
            remedy: if status == Status::Ok {
                String::new()
            } else {
                remedy.to_owned()
            },
        });
    }
    fn ok(&mut self, check: &str, message: String) {
        self.add(check, Status::Ok, message, "");
    }
}

pub fn run(args: DoctorArgs) -> ExitCode {
    let findings = check(&args.serve);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&findings).expect("findings serialize")
        );
    } else {
        for finding in &findings {
            let word = match finding.status {
                Status::Ok => "ok  ",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            println!("{word}  {:<16} {}", finding.check, finding.message);
            if !finding.remedy.is_empty() {
                println!("      {:<16} fix: {}", "", finding.remedy);
            }
        }
    }
    if findings
        .iter()
        .any(|finding| finding.status == Status::Fail)
    {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Every check, in order; stops after `config` if the configuration does not load.
pub fn check(args: &ServeArgs) -> Vec<Finding> {
    let mut report = Report::default();
    let config = match HearthConfig::load(args) {
        Ok(config) => {
            report.ok("config", "the configuration loads".into());
            config
        }
        Err(error) => {
            report.add(
                "config",
                Status::Fail,
                format!("{error:#}"),
                "correct hearth.toml (or the HEARTH_* variable or flag) named above",
            );
            return report.0;
        }
    };
    data_dir(&mut report, &config.data_dir);
    if let Some(tls) = &config.mqtt.tls {
        tls::check_files(&mut report, &tls.cert_file, &tls.key_file);
        if let Some(ca) = &tls.client_ca_file {
            tls::check_client_ca(&mut report, ca);
        }
    }
    listeners(&mut report, &config);
    let newest_ms = database(&mut report, &config);
    clock(&mut report, newest_ms);
    disk(&mut report, &config.data_dir);
    report.0
}

fn mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|meta| meta.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Secret-bearing files: PEM files (the hub's VAPID key, a device CA's key) and
/// anything whose name says key, secret, token or password.
fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["key", "secret", "token", "password", ".pem"]
        .iter()
        .any(|word| name.contains(word))
}

fn data_dir(report: &mut Report, dir: &Path) {
    let shown = dir.display();
    let Ok(meta) = std::fs::metadata(dir) else {
        report.add(
            "data_dir",
            Status::Warn,
            format!("{shown} does not exist (hearth serve would create it with the umask's mode)"),
            &format!("create it for the hub's user: install -d -m 0700 {shown}"),
        );
        return;
    };
    if !meta.is_dir() {
        report.add(
            "data_dir",
            Status::Fail,
            format!("{shown} is not a directory"),
            "point data_dir (--data-dir, HEARTH_DATA_DIR) at a directory",
        );
        return;
    }
    let probe = dir.join(format!(".hearth-doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
        }
        Err(error) => {
            report.add(
                "data_dir",
                Status::Fail,
                format!("{shown} is not writable: {error}"),
                &format!("chown it to the user the hub runs as, mode 0700: chmod 0700 {shown}"),
            );
            return;
        }
    }
    match mode(dir) {
        Some(bits) if bits & 0o007 != 0 => report.add(
            "data_dir",
            Status::Fail,
            format!("{shown} is open to every user (mode {bits:04o})"),
            &format!("chmod 0700 {shown} (0750 to let a backup group read it)"),
        ),
        Some(bits) if bits & 0o020 != 0 => report.add(
            "data_dir",
            Status::Warn,
            format!("{shown} is group-writable (mode {bits:04o})"),
            &format!("chmod 0750 {shown}"),
        ),
        Some(bits) => report.ok("data_dir", format!("{shown} is writable, mode {bits:04o}")),
        None => report.ok("data_dir", format!("{shown} is writable")),
    }
    // Secrets in the data directory: for the hub's user alone, whatever the directory's
    // mode (0750 lets a backup group in; keys must still not be readable by it). The
    // database files are guarded by the directory's mode.
    let mut loose = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            let inner = std::fs::read_dir(&path).into_iter().flatten().flatten();
            files.extend(inner.map(|inner| inner.path()));
        } else {
            files.push(path);
        }
    }
    for file in files.into_iter().filter(|file| file.is_file()) {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        if let (true, Some(bits)) = (name.as_deref().is_some_and(is_secret), mode(&file))
            && bits & 0o077 != 0
        {
            loose.push(format!("{} ({bits:04o})", file.display()));
        }
    }
    if loose.is_empty() {
        report.ok(
            "data_secrets",
            "keys and secrets in the data directory are 0600".into(),
        );
    } else {
        report.add(
            "data_secrets",
            Status::Fail,
            format!("readable by others: {}", loose.join(", ")),
            "chmod 0600 each of them (keys and secrets are for the hub's user alone)",
        );
    }
}

fn listeners(report: &mut Report, config: &HearthConfig) {
    let tls = config.mqtt.tls.is_some();
    // (name, address, encrypted); the redirect listener is plain by design and only
    // ever answers 301, so it is not warned about on every interface.
    let all: [(&str, Option<SocketAddr>, bool); 7] = [
        ("http", config.http, false),
        ("https", config.https, true),
        ("http_redirect", config.http_redirect, true),
        ("mqtt", config.mqtt.listen, false),
        ("ws", config.mqtt.ws_listen, false),
        ("mqtts", config.mqtt.tls_listen, true),
        ("wss", config.mqtt.wss_listen, true),
    ];
    let hub_running = config.http.is_some_and(hub_answers);
    for (name, addr, encrypted) in all {
        let Some(addr) = addr else { continue };
        let check = format!("listener.{name}");
        if encrypted && !tls && name != "http_redirect" {
            report.add(
                &check,
                Status::Fail,
                format!("{name} on {addr} needs a certificate and none is set"),
                "set [mqtt.tls] cert_file and key_file (--tls-cert, --tls-key)",
            );
            continue;
        }
        match TcpListener::bind(addr) {
            Ok(listener) => drop(listener),
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse && hub_running => {
                report.ok(&check, format!("{addr} is in use by the running hub"));
                continue;
            }
            Err(error) => {
                report.add(
                    &check,
                    Status::Fail,
                    format!("cannot listen on {addr}: {error}"),
                    "stop what uses the port (ss -ltnp) or choose another address",
                );
                continue;
            }
        }
        if addr.ip().is_unspecified() && !encrypted {
            report.add(
                &check,
                Status::Warn,
                format!("{addr} serves plain text on every interface"),
                "listen on 127.0.0.1 behind a TLS reverse proxy, or use the TLS listener",
            );
        } else {
            report.ok(&check, format!("{addr} is free"));
        }
    }
}

/// Whether a Hearth hub answers `/healthz` on `addr` (its own ports are then in use).
fn hub_answers(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let target = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&target, Duration::from_secs(2))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.take(64 * 1024).read_to_string(&mut answer);
    answer.contains("\"backend\"") && answer.contains("\"broker\"")
}

fn database(report: &mut Report, config: &HearthConfig) -> Option<i64> {
    let url = match config.database.as_deref().map(str::trim) {
        Some(url) if !url.is_empty() => url.to_owned(),
        _ => hearth_store::sqlite_url(&config.data_dir),
    };
    let shown = redact(&url);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let state = match runtime.block_on(hearth_store::check_schema(&url)) {
        Ok(state) => state,
        Err(error) => {
            report.add(
                "database",
                Status::Fail,
                format!("{shown}: {error}"),
                "start the database or correct the URL (database, --database, HEARTH_DATABASE)",
            );
            return None;
        }
    };
    let list = |versions: &[i64]| {
        versions
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if state.missing {
        report.add(
            "database",
            Status::Warn,
            format!("{shown} does not exist yet"),
            "hearth serve creates it on its first start",
        );
    } else if !state.edited.is_empty() || !state.failed.is_empty() {
        let mut problems = Vec::new();
        if !state.edited.is_empty() {
            problems.push(format!(
                "migrations {} were changed after they were applied",
                list(&state.edited)
            ));
        }
        if !state.failed.is_empty() {
            problems.push(format!(
                "migrations {} failed half-way",
                list(&state.failed)
            ));
        }
        report.add(
            "database",
            Status::Fail,
            format!("{shown}: {}", problems.join("; ")),
            "restore a backup taken with this version, or run the build that made the database",
        );
    } else if !state.unknown.is_empty() {
        report.add(
            "database",
            Status::Fail,
            format!(
                "{shown} has migrations {} that this build does not know: a newer build made it",
                list(&state.unknown)
            ),
            "run the newer hearth, or restore a backup taken with this version",
        );
    } else if !state.pending.is_empty() {
        report.add(
            "database",
            Status::Warn,
            format!(
                "{shown} ({}) is reachable; migrations {} are pending",
                state.backend,
                list(&state.pending)
            ),
            "take a backup (hearth backup FILE); the next hearth serve applies them",
        );
    } else {
        report.ok(
            "database",
            format!(
                "{shown} ({}) is reachable and migrated ({} migrations)",
                state.backend, state.applied
            ),
        );
    }
    state.newest_ms
}

/// A URL with its password replaced, for printing.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn unix_now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

fn clock(report: &mut Report, newest_ms: Option<i64>) {
    let now = SystemTime::now();
    // The binary's own file time stands for its build (or installation) time.
    let built = std::env::current_exe()
        .and_then(std::fs::metadata)
        .and_then(|meta| meta.modified())
        .ok();
    if let Some(built) = built
        && now + Duration::from_secs(3_600) < built
    {
        report.add(
            "clock",
            Status::Fail,
            "the system clock is before this program was built".into(),
            "set the time (timedatectl set-ntp true; a Pi without a real-time clock needs NTP)",
        );
        return;
    }
    let now_ms = unix_now_secs() * 1_000;
    match newest_ms {
        Some(newest) if newest > now_ms + 60_000 => report.add(
            "clock",
            Status::Fail,
            format!(
                "the system clock is {} s behind the newest record in the store",
                (newest - now_ms) / 1_000
            ),
            "set the time (timedatectl set-ntp true) before starting the hub",
        ),
        _ => report.ok("clock", "the system clock is plausible".into()),
    }
}

fn disk(report: &mut Report, dir: &Path) {
    let Some((free, total)) = free_space(dir) else {
        return;
    };
    let gib = |bytes: u64| bytes as f64 / f64::from(1u32 << 30);
    let message = format!(
        "{:.1} GiB free of {:.1} GiB in {}",
        gib(free),
        gib(total),
        dir.display()
    );
    if free < LOW_DISK_BYTES || free.saturating_mul(10) < total {
        report.add(
            "disk",
            Status::Warn,
            message,
            "free space, shorten history retention ([history]), or move data_dir",
        );
    } else {
        report.ok("disk", message);
    }
}

#[cfg(unix)]
fn free_space(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `stats` a writable statvfs.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stats) } != 0 {
        return None;
    }
    let unit = stats.f_frsize as u64;
    Some((stats.f_bavail as u64 * unit, stats.f_blocks as u64 * unit))
}

#[cfg(not(unix))]
fn free_space(_: &Path) -> Option<(u64, u64)> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            redact("postgres://hearth:s3cret@db:5432/hearth"),
            "postgres://hearth:***@db:5432/hearth"
        );
        assert_eq!(
            redact("sqlite:///var/lib/hearth/hearth.db"),
            "sqlite:///var/lib/hearth/hearth.db"
        );
        assert_eq!(
            redact("mysql://hearth:s3cret@db:3306/hearth?ssl-mode=required"),
            "mysql://hearth:***@db:3306/hearth?ssl-mode=required"
        );
        assert_eq!(
            redact("mariadb://hearth:p%40ss@db/hearth"),
            "mariadb://hearth:***@db/hearth"
        );
    }
}
