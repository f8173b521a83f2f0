//! The administrative commands: `hearth group|user|app|device|automation|scene|history|site ...`.
//!
//! They open the same store as `hearth serve` (same `hearth.toml`, `HEARTH_*` variables
//! and flags) and change it through [`Registry`], so that validation, generated secrets
//! and the audit log are those of the HTTP API. A running hub notices the change by
//! itself (it polls the audit log), so a command only writes.
//!
//! # Layout
//! - `group`, `user`, `app`, `device`, `automation`, `scene`: one file per resource,
//!   each with its clap subcommands and what they do; `import`: `device import` from
//!   CSV.
//! - `output`: tables, key/value blocks, JSON, and errors in both forms.

pub mod app;
mod app_layout;
pub mod automation;
pub mod device;
mod device_cert;
mod device_claim;
mod discovered;
mod dynsec;
pub mod firmware;
pub mod group;
pub mod history;
mod import;
mod output;
pub mod scene;
pub mod site;
pub mod user;

use crate::cli::StoreArgs;
use crate::config::HearthConfig;
use hearth_services::{Registry, RegistryError};
use hearth_store::{Store, StoreError};
use output::Output;
use std::process::ExitCode;
use std::sync::Arc;

/// `--json`, global to each resource's subcommands.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct OutputArgs {
    /// Print machine-readable JSON on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

/// One administrative command, parsed.
pub enum AdminCommand {
    Group(group::GroupArgs),
    User(user::UserArgs),
    App(app::AppArgs),
    Device(device::DeviceArgs),
    Automation(automation::AutomationArgs),
    Scene(scene::SceneArgs),
    Firmware(firmware::FirmwareArgs),
    Rollout(firmware::RolloutArgs),
    History(history::HistoryArgs),
    Site(site::SiteArgs),
}

/// The exit status of a request that was stored but did not finish within `--wait`
/// (`automation run`): neither a success nor the user's error (SPEC §8's 1), so that a
/// script can tell it apart.
pub const EXIT_NOT_FINISHED: u8 = 3;

/// Runs one command and turns its outcome into an exit status: 0 on success, 1 with a
/// message (and, with `--json`, an error object on stdout) otherwise, and
/// [`EXIT_NOT_FINISHED`] with a note on stderr for a request still open after its wait
/// (the command printed its JSON itself). Usage errors never get here: clap exits with 2
/// first.
pub fn run(command: AdminCommand, store_args: &StoreArgs) -> ExitCode {
    let json = match &command {
        AdminCommand::Group(args) => args.output.json,
        AdminCommand::User(args) => args.output.json,
        AdminCommand::App(args) => args.output.json,
        AdminCommand::Device(args) => args.output.json,
        AdminCommand::Automation(args) => args.output.json,
        AdminCommand::Scene(args) => args.output.json,
        AdminCommand::Firmware(args) => args.output.json,
        AdminCommand::Rollout(args) => args.output.json,
        AdminCommand::History(args) => args.output.json,
        AdminCommand::Site(args) => args.output.json,
    };
    let out = Output { json };
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::other(format!("starting the runtime: {error}")))
        .and_then(|runtime| runtime.block_on(run_async(command, store_args, out)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) if failure.code == NOT_FINISHED => {
            eprintln!("{}", failure.message);
            ExitCode::from(EXIT_NOT_FINISHED)
        }
        Err(failure) => {
            out.error(&failure);
            ExitCode::from(1)
        }
    }
}

async fn run_async(
    command: AdminCommand,
    store_args: &StoreArgs,
    out: Output,
) -> Result<(), Failure> {
    let config = HearthConfig::load_store(store_args)
        .map_err(|error| Failure::invalid("config", format!("{error:#}")))?;
    let url = config.database_url().map_err(|error| Failure {
        code: "database",
        field: None,
        message: format!("{error:#}"),
    })?;
    let store = hearth_store::open(&url).await?;
    let ctx = Ctx {
        registry: Registry::new(store.clone()),
        store: store.clone(),
        actor: actor(),
        out,
        commands: config.commands.clone(),
        data_dir: config.data_dir.clone(),
        firmware: config.firmware.clone(),
        firmware_url: crate::hub_ota::firmware_url_of(&config),
        history: config.history.clone(),
        dynsec_key: config
            .dynsec
            .as_ref()
            .map(|dynsec| dynsec.key_path(&config.data_dir)),
    };
    let result = match command {
        AdminCommand::Group(args) => group::run(&ctx, args.command).await,
        AdminCommand::User(args) => user::run(&ctx, args.command).await,
        AdminCommand::App(args) => app::run(&ctx, args.command).await,
        AdminCommand::Device(args) => device::run(&ctx, args.command).await,
        AdminCommand::Automation(args) => automation::run(&ctx, args.command).await,
        AdminCommand::Scene(args) => scene::run(&ctx, args.command).await,
        AdminCommand::Firmware(args) => firmware::run_firmware(&ctx, args.command).await,
        AdminCommand::Rollout(args) => firmware::run_rollout(&ctx, args.command).await,
        AdminCommand::History(args) => history::run(&ctx, args.command).await,
        AdminCommand::Site(args) => site::run(&ctx, args.command).await,
    };
    store.close().await;
    result
}

/// What every command needs.
pub struct Ctx {
    pub registry: Registry,
    pub store: Arc<dyn Store>,
    /// `cli:<OS user>`, for the audit log.
    pub actor: String,
    pub out: Output,
    /// The hub's `[commands]` settings, for commands recorded from here.
    pub commands: hearth_services::commands::CommandConfig,
    /// The hub's data directory (the device CA lives in `tls/`).
    pub data_dir: std::path::PathBuf,
    /// `[firmware]`, and what download URLs start with (`hearth rollout`).
    pub firmware: hearth_services::ota::OtaConfig,
    pub firmware_url: String,
    /// `[history]`, for `hearth history compact`.
    pub history: hearth_services::retention::RetentionConfig,
    /// `[dynsec]`'s key file, when the hub keeps Mosquitto's dynamic security in step.
    pub dynsec_key: Option<std::path::PathBuf>,
}

/// The audit log's name for whoever runs the command: `cli:<OS user>`, or `cli`.
pub(crate) fn actor() -> String {
    match std::env::var("USER").or_else(|_| std::env::var("USERNAME")) {
        Ok(user) if !user.trim().is_empty() => format!("cli:{}", user.trim()),
        _ => "cli".to_owned(),
    }
}

/// Why a command failed: a machine-readable `code` (`not_found`, `conflict`, `invalid`,
/// `refused`, `database`, or `not_finished`), the field or flag to blame when there is
/// one, and a message for the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
}

/// [`Failure::code`] of a request still open after its wait.
const NOT_FINISHED: &str = "not_finished";

impl Failure {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Failure {
        Failure {
            code: "invalid",
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A request that was stored but did not finish within the wait: exit status
    /// [`EXIT_NOT_FINISHED`], `message` on stderr.
    pub fn not_finished(message: impl Into<String>) -> Failure {
        Failure {
            code: NOT_FINISHED,
            field: None,
            message: message.into(),
        }
    }

    /// A failure of the machine rather than of the input (a file that cannot be
    /// written, no runtime).
    pub fn other(message: impl Into<String>) -> Failure {
        Failure {
            code: "error",
            field: None,
            message: message.into(),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        let code = match &error {
            StoreError::NotFound { .. } => "not_found",
            StoreError::Conflict { .. } => "conflict",
            StoreError::Refused(_) => "refused",
            StoreError::Backend(_) => "database",
        };
        Failure {
            code,
            field: None,
            message: error.to_string(),
        }
    }
}

impl From<hearth_services::commands::CommandError> for Failure {
    fn from(error: hearth_services::commands::CommandError) -> Failure {
        use hearth_services::commands::CommandError;
        match error {
            CommandError::Invalid { field, .. } => Failure {
                code: "invalid",
                field: Some(field.to_owned()),
                message: error.to_string(),
            },
            CommandError::Store(error) => error.into(),
            CommandError::Stopped => Failure::other(error.to_string()),
        }
    }
}

impl From<RegistryError> for Failure {
    fn from(error: RegistryError) -> Failure {
        match error {
            RegistryError::Invalid { ref field, .. } => Failure {
                code: "invalid",
                field: Some(field.to_string()),
                message: error.to_string(),
            },
            RegistryError::Store(error) => error.into(),
        }
    }
}

/// Parses an id typed on the command line once, before the registry sees it, blaming
/// `field` in the registry's words (`id: a/b: use only letters...`, code `invalid`),
/// so a typo reads the same as when the registry parsed strings itself.
pub fn parse_id<T>(field: &'static str, value: &str) -> Result<T, Failure>
where
    T: std::str::FromStr<Err = hearth_model::IdError>,
{
    hearth_services::registry::parse_id(field, value).map_err(Failure::from)
}

/// Reads a password from `--password-file` or `--password-stdin` (first line, without
/// its line ending); `None` when neither was given.
pub fn read_password(
    file: Option<&std::path::Path>,
    stdin: bool,
) -> Result<Option<String>, Failure> {
    let text = if let Some(path) = file {
        std::fs::read_to_string(path).map_err(|error| {
            Failure::invalid(
                "password-file",
                format!("cannot read {}: {error}", path.display()),
            )
        })?
    } else if stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|error| Failure::invalid("password-stdin", error.to_string()))?;
        line
    } else {
        return Ok(None);
    };
    let first_line = text.lines().next().unwrap_or("");
    Ok(Some(first_line.to_owned()))
}
