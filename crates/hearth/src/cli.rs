//! The command line. Flags follow SPEC §8; each also reads a `HEARTH_*` variable, and
//! both override `hearth.toml`.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "hearth",
    version,
    about = "A self-hosted smart-home and IoT hub / 自托管的智能家居与物联网中枢"
)]
pub struct Cli {
    /// Log filter, e.g. `info` or `hearth_broker=debug` (default: $HEARTH_LOG or info).
    #[arg(long, global = true)]
    pub log: Option<String>,
    /// Log lines as `text` (default) or `json` (one object per line, for collectors).
    #[arg(
        long,
        env = "HEARTH_LOG_FORMAT",
        global = true,
        value_enum,
        default_value_t
    )]
    pub log_format: crate::logging::LogFormat,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub: MQTT broker, registry and history store, HTTP API and web app.
    Serve(Box<ServeArgs>),
    /// Check a deployment (data dir, certificates, listeners, database, clock, disk) and
    /// say what to fix / 检查部署并给出修复建议
    Doctor(Box<crate::doctor::DoctorArgs>),
    /// Add or update a user in a broker password file (argon2id hash).
    Passwd(PasswdArgs),
    /// Load-test an MQTT broker on loopback and compare brokers (see docs/performance.md).
    Bench(crate::bench::BenchArgs),
    /// Groups (homes, teams) and their members / 分组及其成员
    Group(crate::admin::group::GroupArgs),
    /// People who log in / 用户
    User(crate::admin::user::UserArgs),
    /// Applications: sets of devices with their own MQTT key / 应用
    App(crate::admin::app::AppArgs),
    /// Devices: register, list, import from CSV, rotate secrets / 设备
    Device(crate::admin::device::DeviceArgs),
    /// Automations: add from a JSON file, list, enable, disable, run now / 自动化
    Automation(crate::admin::automation::AutomationArgs),
    /// Scenes: named sets of device states for automations / 场景
    Scene(crate::admin::scene::SceneArgs),
    /// Firmware images for over-the-air updates (see docs/ota.md) / 固件镜像
    Firmware(crate::admin::firmware::FirmwareArgs),
    /// Roll firmware out to devices: start, show, continue, stop, retry / 固件升级发布
    Rollout(crate::admin::firmware::RolloutArgs),
    /// History: sizes, and compaction and retention now (see docs/history.md) / 历史数据
    History(crate::admin::history::HistoryArgs),
    /// Sites: home hubs that link to this hub and relay their devices (see docs/sites.md)
    /// / 站点（连接到本中心的家庭中心）
    Site(crate::admin::site::SiteArgs),
    /// TLS certificates: a local CA and server certificate for development / TLS 证书
    Tls(crate::tls_cmd::TlsArgs),
    /// Back up the hub (database, broker state, keys) into an archive, also while it runs / 备份
    Backup(crate::backup::BackupArgs),
    /// Restore a backup archive into an empty data directory / 从备份恢复
    Restore(crate::backup::RestoreArgs),
    /// Simulate devices that log in with real credentials: a demo home, a fleet for
    /// tests and load (see docs/simulate.md) / 模拟设备
    Simulate(Box<crate::simulate::SimulateArgs>),
    /// Be a device on a Linux board: GPIO buttons and relays, system readings, programs'
    /// JSON lines (`--config agent.toml`, see docs/agent.md) / 在 Linux 板上作为设备运行
    Agent,
}

/// Where the registry lives: the same three settings for `serve` and the administrative
/// commands, so that both find the same database. Global: `hearth --data-dir d device
/// list` and `hearth device list --data-dir d` mean the same.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// Configuration file (default: ./hearth.toml if it exists).
    #[arg(long, env = "HEARTH_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory (default ./data).
    #[arg(long, env = "HEARTH_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH, postgres://USER:PASSWORD@HOST/DB or
    /// mysql://USER:PASSWORD@HOST/DB (MariaDB; also mariadb://) (default: SQLite in the
    /// data directory).
    #[arg(long, env = "HEARTH_DATABASE", global = true)]
    pub database: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// MQTT over TCP listen address (default 127.0.0.1:1883); `off` disables it.
    #[arg(long, env = "HEARTH_MQTT")]
    pub mqtt: Option<Listen>,
    /// MQTT over WebSocket listen address (default 127.0.0.1:8083, path /mqtt).
    #[arg(long, env = "HEARTH_WS")]
    pub ws: Option<Listen>,
    /// MQTT over TLS listen address (needs --tls-cert and --tls-key).
    #[arg(long, env = "HEARTH_MQTTS")]
    pub mqtts: Option<Listen>,
    /// MQTT over secure WebSocket listen address (needs --tls-cert and --tls-key).
    #[arg(long, env = "HEARTH_WSS")]
    pub wss: Option<Listen>,
    /// HTTP (API and web app) listen address (default 127.0.0.1:8080).
    #[arg(long, env = "HEARTH_HTTP")]
    pub http: Option<Listen>,
    /// HTTPS (API and web app) listen address (needs --tls-cert and --tls-key).
    #[arg(long, env = "HEARTH_HTTPS")]
    pub https: Option<Listen>,
    /// A plain HTTP address that answers 301 to the HTTPS listener (needs --https).
    #[arg(long, env = "HEARTH_HTTP_REDIRECT")]
    pub http_redirect: Option<Listen>,
    /// PEM certificate chain for the TLS listeners (MQTTS, WSS, HTTPS); re-read when it
    /// changes.
    #[arg(long, env = "HEARTH_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for the TLS listeners.
    #[arg(long, env = "HEARTH_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Broker password file (`user:argon2-hash` lines).
    #[arg(long, env = "HEARTH_PASSWORD_FILE")]
    pub password_file: Option<PathBuf>,
    /// Broker ACL file (Mosquitto syntax).
    #[arg(long, env = "HEARTH_ACL_FILE")]
    pub acl_file: Option<PathBuf>,
    /// On first start, set the owner account's password from this file instead of
    /// printing a generated one-time password.
    #[arg(long, env = "HEARTH_ADMIN_PASSWORD_FILE")]
    pub admin_password_file: Option<PathBuf>,
    /// Let MQTT clients connect without credentials. For development only.
    #[arg(long, env = "HEARTH_ALLOW_ANONYMOUS")]
    pub allow_anonymous: bool,
    /// Print the address of each listener on stdout once bound, one `name=addr` per
    /// line, then `ready` (lets scripts and tests use port 0).
    #[arg(long)]
    pub print_addrs: bool,
}

/// A listen address or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listen {
    At(SocketAddr),
    Off,
}

impl std::str::FromStr for Listen {
    type Err = String;
    fn from_str(text: &str) -> Result<Listen, String> {
        if text.eq_ignore_ascii_case("off") {
            return Ok(Listen::Off);
        }
        text.parse()
            .map(Listen::At)
            .map_err(|_| format!("{text:?} is not an address like 127.0.0.1:1883 (or `off`)"))
    }
}

impl Listen {
    pub fn into_option(self) -> Option<SocketAddr> {
        match self {
            Listen::At(addr) => Some(addr),
            Listen::Off => None,
        }
    }
}

#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// Password file to create or update.
    pub file: PathBuf,
    /// User name.
    pub username: String,
    /// Remove the user instead of setting a password.
    #[arg(long)]
    pub delete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn store_flags_work_before_and_after_an_admin_command() {
        for argv in [
            &["hearth", "--data-dir", "d", "device", "list"][..],
            &["hearth", "device", "list", "--data-dir", "d"],
            &["hearth", "device", "--data-dir", "d", "list", "--json"],
        ] {
            let cli = Cli::try_parse_from(argv).unwrap();
            assert_eq!(cli.store.data_dir, Some(PathBuf::from("d")), "{argv:?}");
        }
    }

    #[test]
    fn serve_reads_the_store_flags_wherever_they_are() {
        for argv in [
            &["hearth", "serve", "--database", "sqlite://x.db"][..],
            &["hearth", "--database", "sqlite://x.db", "serve"],
        ] {
            let Command::Serve(args) = Cli::try_parse_from(argv).unwrap().command else {
                panic!("not serve");
            };
            assert_eq!(
                args.store.database.as_deref(),
                Some("sqlite://x.db"),
                "{argv:?}"
            );
        }
    }
}
