//! `hearth scene add FILE|list|show|update|remove` (issue 14): named sets of device
//! states, stored and checked through the `Automations` service like automations (every
//! target device must belong to the scene's group). Automations apply them with a
//! `scene` action.

use super::automation::read_document;
use super::output;
use super::{Ctx, Failure, OutputArgs, parse_id};
use clap::{Args, Subcommand};
use hearth_model::{GroupId, Scene, SceneSpec};
use hearth_services::automations::Automations;
use serde_json::json;
use std::path::PathBuf;

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
    }
    Ok(())
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
