//! `hearth automation add FILE|list|show|enable|disable|remove` (issue 14). The hub
//! stores and checks automations; no engine runs them yet.

use super::output;
use super::{Ctx, Failure, OutputArgs, parse_id};
use clap::{Args, Subcommand};
use hearth_model::{Automation, AutomationSpec, GroupId};
use hearth_services::automations::{AutomationError, Automations};
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct AutomationArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: AutomationCommand,
}

#[derive(Debug, Subcommand)]
pub enum AutomationCommand {
    /// Check and store an automation from a JSON file ('-' for standard input).
    Add { file: PathBuf },
    /// List automations.
    List {
        /// Only the automations of this group.
        #[arg(long)]
        group: Option<String>,
    },
    /// Show an automation's whole document.
    Show { id: String },
    /// Enable an automation.
    Enable { id: String },
    /// Disable an automation (it stays stored).
    Disable { id: String },
    /// Remove an automation with its runs.
    Remove { id: String },
}

impl From<AutomationError> for Failure {
    fn from(error: AutomationError) -> Failure {
        match error {
            AutomationError::Invalid(error) => {
                Failure::invalid(error.field.clone(), error.to_string())
            }
            AutomationError::Store(error) => error.into(),
        }
    }
}

pub async fn run(ctx: &Ctx, command: AutomationCommand) -> Result<(), Failure> {
    let automations = Automations::new(ctx.store.clone());
    let (actor, out) = (ctx.actor.as_str(), ctx.out);
    match command {
        AutomationCommand::Add { file } => {
            let spec = read_document(&file)?;
            let automation = automations.create(actor, spec).await?;
            out.done(
                json!(automation),
                &format!(
                    "added automation {} ({}) in group {}",
                    automation.id, automation.spec.name, automation.spec.group
                ),
            );
        }
        AutomationCommand::List { group } => {
            let group: Option<GroupId> =
                group.map(|group| parse_id("group", &group)).transpose()?;
            let listed = automations.list(group.as_ref()).await?;
            if out.json {
                out.json(&listed);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = listed.iter().map(row).collect();
            output::table(
                &[
                    "ID", "GROUP", "NAME", "ENABLED", "TRIGGERS", "ACTIONS", "UPDATED",
                ],
                &rows,
                "no automations",
            );
        }
        AutomationCommand::Show { id } => {
            let automation = automations.get(&id).await?;
            if out.json {
                out.json(&automation);
                return Ok(());
            }
            output::fields(&[
                ("id", automation.id.clone()),
                ("group", automation.spec.group.to_string()),
                ("name", automation.spec.name.clone()),
                ("enabled", automation.spec.enabled.to_string()),
                ("created by", automation.created_by.clone()),
                ("created", output::time(automation.created_at_ms)),
                ("updated", output::time(automation.updated_at_ms)),
            ]);
            output::heading("Document");
            let document = serde_json::to_string_pretty(&automation.spec)
                .map_err(|error| Failure::other(error.to_string()))?;
            println!("{document}");
        }
        AutomationCommand::Enable { id } => set_enabled(ctx, &automations, &id, true).await?,
        AutomationCommand::Disable { id } => set_enabled(ctx, &automations, &id, false).await?,
        AutomationCommand::Remove { id } => {
            automations.remove(actor, &id).await?;
            out.done(
                json!({ "removed": id }),
                &format!("removed automation {id}"),
            );
        }
    }
    Ok(())
}

async fn set_enabled(
    ctx: &Ctx,
    automations: &Automations,
    id: &str,
    enabled: bool,
) -> Result<(), Failure> {
    let automation = automations.set_enabled(&ctx.actor, id, enabled).await?;
    let state = if enabled { "enabled" } else { "disabled" };
    ctx.out
        .done(json!(automation), &format!("{state} automation {id}"));
    Ok(())
}

/// Reads and parses a document; what serde refuses (an unknown field or kind, a wrong
/// type) is reported against the file with serde's line and column.
fn read_document(file: &std::path::Path) -> Result<AutomationSpec, Failure> {
    let text = if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
    .map_err(|error| {
        Failure::invalid("file", format!("cannot read {}: {error}", file.display()))
    })?;
    serde_json::from_str(&text)
        .map_err(|error| Failure::invalid("file", format!("{}: {error}", file.display())))
}

fn row(automation: &Automation) -> Vec<String> {
    vec![
        automation.id.clone(),
        automation.spec.group.to_string(),
        automation.spec.name.clone(),
        if automation.spec.enabled { "yes" } else { "no" }.to_owned(),
        automation.spec.triggers.len().to_string(),
        automation.spec.actions.len().to_string(),
        output::time(automation.updated_at_ms),
    ]
}
