//! `hearth firmware add|list|remove` and `hearth rollout start|show|list|continue|stop|retry`
//! (issue 17, docs/ota.md), through [`hearth_services::ota::Ota`] without its tracker:
//! images go into `<data_dir>/firmware/` and the store; a rollout's `ota` commands are
//! recorded as `pending`, and the running hub delivers them and follows the devices.
//! The CLI is the hub's operator, so it may do what a hub administrator may.

use super::output;
use super::{Ctx, Failure, OutputArgs, parse_id};
use clap::{Args, Subcommand};
use hearth_model::{AppId, DeviceId, GroupId, RolloutSummary};
use hearth_services::ota::{ImageInfo, Ota, OtaError, RolloutRequest};
use hearth_store::DeviceFilter;
use serde_json::json;
use std::path::PathBuf;
use tokio::io::AsyncReadExt;

#[derive(Debug, Args)]
pub struct FirmwareArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: FirmwareCommand,
}

#[derive(Debug, Subcommand)]
pub enum FirmwareCommand {
    /// Store an image (hashed, under data/firmware/<sha256>) for devices of one kind.
    Add {
        file: PathBuf,
        /// The version devices report once they run it (`firmware_version`).
        #[arg(long)]
        version: String,
        /// The device kind it is for (relay, sensor...).
        #[arg(long)]
        kind: String,
        /// A name for people (default: the file name).
        #[arg(long)]
        name: Option<String>,
    },
    /// List images, newest first.
    List,
    /// Remove an image (refused while a rollout uses it).
    Remove { id: String },
}

#[derive(Debug, Args)]
pub struct RolloutArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: RolloutCommand,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Roll an image out to one device, a kind in a group, or an application.
    Start {
        #[arg(long)]
        firmware: String,
        #[arg(long, conflicts_with_all = ["kind", "app"])]
        device: Option<String>,
        /// Every device of this kind in --group.
        #[arg(long, requires = "group", conflicts_with = "app")]
        kind: Option<String>,
        #[arg(long)]
        group: Option<String>,
        /// Every device of the image's kind in this application.
        #[arg(long)]
        app: Option<String>,
        /// Percentage sent first; the rest when they all succeeded (or `continue`).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u8).range(1..=100))]
        first: u8,
    },
    /// List rollouts, newest first.
    List,
    /// A rollout's summary and each device's state.
    Show { id: String },
    /// Send the rest of a first-wave rollout now.
    Continue { id: String },
    /// Stop a rollout: nothing more is sent, open download links stop working.
    Stop { id: String },
    /// Send the image again to the devices that failed.
    Retry { id: String },
}

impl From<OtaError> for Failure {
    fn from(error: OtaError) -> Failure {
        match error {
            OtaError::Invalid { field, .. } => Failure {
                code: "invalid",
                field: Some(field.to_owned()),
                message: error.to_string(),
            },
            OtaError::Store(error) => error.into(),
            other => Failure::other(other.to_string()),
        }
    }
}

fn ota(ctx: &Ctx) -> Ota {
    Ota::offline(
        ctx.store.clone(),
        &ctx.data_dir,
        ctx.firmware_url.clone(),
        ctx.firmware.clone(),
        ctx.commands.clone(),
    )
}

pub async fn run_firmware(ctx: &Ctx, command: FirmwareCommand) -> Result<(), Failure> {
    let out = ctx.out;
    match command {
        FirmwareCommand::Add {
            file,
            version,
            kind,
            name,
        } => {
            let service = ota(ctx);
            let mut source = tokio::fs::File::open(&file).await.map_err(|error| {
                Failure::invalid("file", format!("cannot read {}: {error}", file.display()))
            })?;
            let mut upload = service.begin_upload().await?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let read = source
                    .read(&mut buf)
                    .await
                    .map_err(|error| Failure::invalid("file", error.to_string()))?;
                if read == 0 {
                    break;
                }
                upload.write(&buf[..read]).await?;
            }
            let name = name.unwrap_or_else(|| {
                file.file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "firmware".into())
            });
            let info = ImageInfo {
                name,
                version,
                kind,
            };
            let firmware = service.finish_upload(&ctx.actor, upload, info).await?;
            out.done(
                json!(firmware),
                &format!(
                    "added firmware {} ({} {} for {}, sha256 {})",
                    firmware.id, firmware.name, firmware.version, firmware.kind, firmware.sha256
                ),
            );
        }
        FirmwareCommand::List => {
            let images = ctx.store.firmware_list().await?;
            if out.json {
                out.json(&images);
            } else {
                let rows: Vec<Vec<String>> = images
                    .iter()
                    .map(|image| {
                        vec![
                            image.id.clone(),
                            image.name.clone(),
                            image.version.clone(),
                            image.kind.clone(),
                            image.size.to_string(),
                            image.sha256[..16].to_owned(),
                            output::time(image.uploaded_at_ms),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "ID", "NAME", "VERSION", "KIND", "BYTES", "SHA256", "UPLOADED",
                    ],
                    &rows,
                    "no firmware images",
                );
            }
        }
        FirmwareCommand::Remove { id } => {
            ota(ctx).delete_firmware(&ctx.actor, &id).await?;
            out.done(json!({"removed": id}), &format!("removed firmware {id}"));
        }
    }
    Ok(())
}

pub async fn run_rollout(ctx: &Ctx, command: RolloutCommand) -> Result<(), Failure> {
    let service = ota(ctx);
    let (actor, out) = (ctx.actor.as_str(), ctx.out);
    let id = match command {
        RolloutCommand::Start {
            firmware,
            device,
            kind,
            group,
            app,
            first,
        } => {
            let image = ctx.store.firmware(&firmware).await?;
            let (group, selector, devices) = if let Some(device) = device {
                let id: DeviceId = parse_id("device", &device)?;
                let found = ctx.store.device(&id).await?;
                let app = ctx.store.app(&found.application).await?;
                (app.group, format!("device:{id}"), vec![id])
            } else {
                let (group, selector, filter) = if let Some(app) = app {
                    let id: AppId = parse_id("app", &app)?;
                    let group = ctx.store.app(&id).await?.group;
                    let filter = DeviceFilter {
                        application: Some(id.clone()),
                        ..DeviceFilter::default()
                    };
                    (group, format!("app:{id}"), filter)
                } else if let (Some(kind), Some(group)) = (kind, group) {
                    let group: GroupId = parse_id("group", &group)?;
                    if kind != image.kind {
                        return Err(Failure::invalid(
                            "kind",
                            format!("the image is for {}", image.kind),
                        ));
                    }
                    let filter = DeviceFilter {
                        group: Some(group.clone()),
                        ..DeviceFilter::default()
                    };
                    (group, format!("kind:{kind}"), filter)
                } else {
                    return Err(Failure::invalid(
                        "device",
                        "give --device, --kind with --group, or --app",
                    ));
                };
                let filter = DeviceFilter {
                    kind: Some(image.kind.clone()),
                    enabled: Some(true),
                    ..filter
                };
                let devices = ctx.store.devices(&filter).await?;
                (group, selector, devices.into_iter().map(|d| d.id).collect())
            };
            let rollout = service
                .start_rollout(RolloutRequest {
                    actor: actor.to_owned(),
                    firmware: image.id,
                    group,
                    selector,
                    devices,
                    first_percent: first,
                })
                .await?;
            rollout.id
        }
        RolloutCommand::List => {
            let rollouts = ctx.store.rollouts().await?;
            if out.json {
                out.json(&rollouts);
            } else {
                let rows: Vec<Vec<String>> = rollouts
                    .iter()
                    .map(|rollout| {
                        vec![
                            rollout.id.clone(),
                            rollout.firmware.clone(),
                            rollout.group.to_string(),
                            rollout.selector.clone(),
                            rollout.state.as_str().to_owned(),
                            output::time(rollout.created_at_ms),
                        ]
                    })
                    .collect();
                output::table(
                    &["ID", "FIRMWARE", "GROUP", "TARGETS", "STATE", "CREATED"],
                    &rows,
                    "no rollouts",
                );
            }
            return Ok(());
        }
        RolloutCommand::Show { id } => id,
        RolloutCommand::Continue { id } => {
            service.continue_rollout(actor, &id).await?;
            id
        }
        RolloutCommand::Stop { id } => {
            service.stop_rollout(actor, &id).await?;
            id
        }
        RolloutCommand::Retry { id } => {
            service.retry_rollout(actor, &id).await?;
            id
        }
    };
    show(ctx, &service, &id).await
}

async fn show(ctx: &Ctx, service: &Ota, id: &str) -> Result<(), Failure> {
    let (rollout, targets) = service.rollout(id).await?;
    let summary = RolloutSummary::of(&targets);
    if ctx.out.json {
        ctx.out
            .json(&json!({"rollout": rollout, "summary": summary, "targets": targets}));
        return Ok(());
    }
    output::fields(&[
        ("rollout", rollout.id.clone()),
        ("firmware", rollout.firmware.clone()),
        ("group", rollout.group.to_string()),
        ("targets", rollout.selector.clone()),
        ("state", rollout.state.as_str().to_owned()),
        ("summary", summary.text.clone()),
    ]);
    let rows: Vec<Vec<String>> = targets
        .iter()
        .map(|target| {
            vec![
                target.device.to_string(),
                target.wave.to_string(),
                target.state.as_str().to_owned(),
                target
                    .progress
                    .map(|p| format!("{p}%"))
                    .unwrap_or_else(|| "-".into()),
                output::or_dash(target.reported_version.as_deref()),
                output::or_dash(target.error.as_deref()),
            ]
        })
        .collect();
    output::table(
        &["DEVICE", "WAVE", "STATE", "PROGRESS", "VERSION", "ERROR"],
        &rows,
        "no devices",
    );
    Ok(())
}
