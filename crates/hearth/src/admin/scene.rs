//! `hearth scene add FILE|list|show|update|remove|apply` (issue 14): named sets of
//! device states, stored and checked through the `Automations` service like automations
//! (every target device must belong to the scene's group). Automations apply them with a
//! `scene` action; `apply` records each target's command in the store, which a running
//! hub delivers like `hearth device command`'s, and waits for their statuses.

use super::automation::read_document;
use super::output;
use super::{Ctx, Failure, OutputArgs, parse_id};
use clap::{Args, Subcommand};
use hearth_model::{GroupId, Scene, SceneSpec};
use hearth_services::automations::Automations;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct SceneArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: SceneCommand,
}

#[derive(Debug, Subcommand)]
pub enum SceneCommand {
    /// Check and store a scene from a JSON file ('-' for standard input), e.g.
    /// {"group": "home", "name": "Reading", "targets": [{"device": "desk-lamp",
    /// "command": "switch", "params": {"on": true}}]}.
    Add { file: PathBuf },
    /// List scenes.
    List {
        /// Only the scenes of this group.
        #[arg(long)]
        group: Option<String>,
    },
    /// Show a scene's whole document.
    Show { id: String },
    /// Replace a scene's document from a JSON file (it stays in its group).
    Update { id: String, file: PathBuf },
    /// Remove a scene.
    Remove { id: String },
    /// Apply a scene through the running hub: every target's command at once, then wait
    /// for each device's answer.
    ///
    /// The commands are recorded in the store; a running hub picks them up within a
    /// second and delivers each when its device is online. Prints `n/m confirmed` and
    /// each device's status (with --json, `{"scene", "result", "confirmed", "total",
    /// "devices"}`). Exit status 0 when every device has a final status (all confirmed
    /// or not: compare `confirmed` with `total`); 3 when some are still open after
    /// --wait (the commands stay, within their time to live); 1 for an unknown scene.
    Apply {
        id: String,
        /// How long to wait here for the devices (seconds; 0: only send).
        #[arg(long, value_name = "SECS", default_value_t = 30)]
        wait: u64,
    },
}

pub async fn run(ctx: &Ctx, command: SceneCommand) -> Result<(), Failure> {
    let automations = Automations::new(ctx.store.clone());
    let (actor, out) = (ctx.actor.as_str(), ctx.out);
    match command {
        SceneCommand::Add { file } => {
            let spec: SceneSpec = read_document(&file)?;
            let scene = automations.create_scene(actor, spec).await?;
            out.done(
                json!(scene),
                &format!(
                    "added scene {} ({}) in group {}",
                    scene.id, scene.spec.name, scene.spec.group
                ),
            );
        }
        SceneCommand::List { group } => {
            let group: Option<GroupId> =
                group.map(|group| parse_id("group", &group)).transpose()?;
            let listed = automations.scenes(group.as_ref()).await?;
            if out.json {
                out.json(&listed);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = listed.iter().map(row).collect();
            output::table(
                &["ID", "GROUP", "NAME", "DEVICES", "UPDATED"],
                &rows,
                "no scenes",
            );
        }
        SceneCommand::Show { id } => {
            let scene = automations.scene(&id).await?;
            if out.json {
                out.json(&scene);
                return Ok(());
            }
            output::fields(&[
                ("id", scene.id.clone()),
                ("group", scene.spec.group.to_string()),
                ("name", scene.spec.name.clone()),
                ("created by", scene.created_by.clone()),
                ("created", output::time(scene.created_at_ms)),
                ("updated", output::time(scene.updated_at_ms)),
            ]);
            output::heading("Targets");
            let rows: Vec<Vec<String>> = scene
                .spec
                .targets
                .iter()
                .map(|target| {
                    vec![
                        target.device.to_string(),
                        target.command.clone(),
                        target.params.to_string(),
                    ]
                })
                .collect();
            output::table(&["DEVICE", "COMMAND", "PARAMS"], &rows, "no targets");
        }
        SceneCommand::Update { id, file } => {
            let spec: SceneSpec = read_document(&file)?;
            let scene = automations.update_scene(actor, &id, spec).await?;
            out.done(json!(scene), &format!("updated scene {id}"));
        }
        SceneCommand::Remove { id } => {
            automations.remove_scene(actor, &id).await?;
            out.done(json!({ "removed": id }), &format!("removed scene {id}"));
        }
        SceneCommand::Apply { id, wait } => apply(ctx, &automations, &id, wait).await?,
    }
    Ok(())
}

/// `scene apply`: the commands, then their statuses polled until all are final or the
/// wait ends.
async fn apply(
    ctx: &Ctx,
    automations: &Automations,
    id: &str,
    wait_secs: u64,
) -> Result<(), Failure> {
    let request = automations
        .request_scene(&ctx.actor, id, &ctx.commands)
        .await?;
    if !ctx.out.json {
        println!(
            "applying scene {}: {} commands recorded",
            request.scene_id,
            request.targets.len()
        );
    }
    let deadline = Instant::now() + Duration::from_secs(wait_secs);
    let mut progress = automations.scene_progress(&request).await?;
    while !progress.finished && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        progress = automations.scene_progress(&request).await?;
    }
    let outcome = &progress.outcome;
    if ctx.out.json {
        ctx.out.json(outcome);
    } else {
        println!("scene {}: {}", request.scene_id, text(&outcome["result"]));
        for (device, status) in outcome["devices"].as_object().into_iter().flatten() {
            println!("  {device}: {}", text(status));
        }
    }
    if progress.finished || wait_secs == 0 {
        return Ok(());
    }
    Err(Failure::not_finished(format!(
        "scene {} not finished after {wait_secs} s: {} (a running hub delivers each \
         command when its device is online, within the command's time to live)",
        request.scene_id,
        text(&outcome["result"])
    )))
}

/// How often `apply` looks at the commands' statuses.
const POLL: Duration = Duration::from_millis(200);

fn text(value: &serde_json::Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

fn row(scene: &Scene) -> Vec<String> {
    vec![
        scene.id.clone(),
        scene.spec.group.to_string(),
        scene.spec.name.clone(),
        scene.spec.targets.len().to_string(),
        output::time(scene.updated_at_ms),
    ]
}
