//! `hearth automation add FILE|list|show|enable|disable|run|remove` (issue 14).
//!
//! Changes go through the `Automations` service, which checks the document and audits;
//! the running hub's engine notices them through the audit log within a second and
//! runs what is enabled. `run` asks that engine for a run now through the store (a
//! request it picks up within a second, or at its next start when it is stopped) and
//! waits here for the run's record.

use super::output;
use super::{Ctx, Failure, OutputArgs, parse_id};
use clap::{Args, Subcommand};
use hearth_model::{Automation, GroupId};
use hearth_services::automations::{AutomationError, Automations};
use hearth_store::AutomationRun;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

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
    /// Ask the running hub to run an automation now (its manual trigger; its conditions
    /// still apply) and wait for the run.
    ///
    /// The request is stored: a running hub picks it up within a second, a stopped one
    /// when it starts. Prints the run's id, then its status and trace (with --json, the
    /// run record). Exit status 0 when the run finished, whatever its status (done,
    /// failed, skipped: see `status`); 3 when it did not finish within --wait (the
    /// request stays; with --json, stdout has `{"id", "automation_id", "status"}`, the
    /// status `requested` or `running`); 1 for an unknown or disabled automation.
    Run {
        id: String,
        /// How long to wait here for the run to finish (seconds; 0: only ask).
        #[arg(long, value_name = "SECS", default_value_t = 30)]
        wait: u64,
    },
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
            let spec: hearth_model::AutomationSpec = read_document(&file)?;
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
        AutomationCommand::Run { id, wait } => run_now(ctx, &automations, &id, wait).await?,
    }
    Ok(())
}

/// `automation run`: the request, then the run's record polled until it is finished or
/// the wait ends.
async fn run_now(
    ctx: &Ctx,
    automations: &Automations,
    id: &str,
    wait_secs: u64,
) -> Result<(), Failure> {
    let request = automations.request_run(&ctx.actor, id).await?;
    if !ctx.out.json {
        println!(
            "requested run {} of automation {}",
            request.run_id, request.automation_id
        );
    }
    let deadline = Instant::now() + Duration::from_secs(wait_secs);
    let mut run = None;
    if wait_secs > 0 {
        loop {
            run = automations.requested_run(&request).await?;
            let finished = run.as_ref().is_some_and(|run| run.finished_at_ms.is_some());
            if finished || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
    }
    match run {
        Some(run) if run.finished_at_ms.is_some() => {
            print_finished(ctx, &run);
            Ok(())
        }
        unfinished => {
            let status = unfinished
                .as_ref()
                .map_or("requested", |run| run.status.as_str());
            if ctx.out.json {
                ctx.out.json(&json!({
                    "id": request.run_id,
                    "automation_id": request.automation_id,
                    "status": status,
                }));
            }
            if wait_secs == 0 {
                return Ok(());
            }
            let why = if unfinished.is_none() {
                "not started: a running hub starts it within a second, a stopped one when it \
                 starts (the request is stored)"
            } else {
                "still running; its record shows how it ends"
            };
            Err(Failure::not_finished(format!(
                "run {} not finished after {wait_secs} s: {why}",
                request.run_id
            )))
        }
    }
}

/// A finished run: its record with `--json`, else its status and one line per step.
fn print_finished(ctx: &Ctx, run: &AutomationRun) {
    if ctx.out.json {
        ctx.out.json(&run_json(run));
        return;
    }
    let took = run
        .finished_at_ms
        .map_or(0, |finished| finished - run.started_at_ms);
    println!("run {}: {} in {took} ms", run.id, run.status);
    for line in trace_lines(&run.trace) {
        println!("  {line}");
    }
}

/// How often `run` looks at the run's record.
const POLL: Duration = Duration::from_millis(200);

/// A run as the API shows it (`AutomationRunView`).
fn run_json(run: &AutomationRun) -> Value {
    json!({
        "id": run.id,
        "automation_id": run.automation_id,
        "started_at_ms": run.started_at_ms,
        "finished_at_ms": run.finished_at_ms,
        "status": run.status,
        "trigger": run.trigger,
        "trace": run.trace,
    })
}

/// One line per condition and action of a run's trace (`{"conditions": [...],
/// "actions": [...], "reason": ...}`), for people.
fn trace_lines(trace: &Value) -> Vec<String> {
    let text = |value: &Value| match value {
        Value::String(text) => text.clone(),
        Value::Null => "nothing".to_owned(),
        other => other.to_string(),
    };
    let mut lines = Vec::new();
    for condition in trace["conditions"].as_array().into_iter().flatten() {
        let mut line = format!(
            "condition {} {}",
            text(&condition["path"]),
            text(&condition["type"])
        );
        for key in ["device", "metric"] {
            if let Some(value) = condition[key].as_str() {
                line.push_str(&format!(" {value}"));
            }
        }
        let passed = if condition["passed"] == true {
            "passed"
        } else {
            "did not hold"
        };
        line.push_str(&format!(": saw {}, {passed}", text(&condition["seen"])));
        lines.push(line);
    }
    for action in trace["actions"].as_array().into_iter().flatten() {
        let mut line = format!(
            "action {} {}",
            text(&action["index"]),
            text(&action["type"])
        );
        for key in ["device", "name", "scene", "message"] {
            if let Some(value) = action[key].as_str() {
                line.push_str(&format!(" {value}"));
            }
        }
        line.push_str(&format!(": {}", text(&action["result"])));
        if let Some(error) = action.get("error").filter(|error| !error.is_null()) {
            line.push_str(&format!(" ({})", text(error)));
        }
        if let Some(ms) = action["duration_ms"].as_u64() {
            line.push_str(&format!(", {ms} ms"));
        }
        lines.push(line);
    }
    if let Some(reason) = trace["reason"].as_str() {
        lines.push(format!("reason: {reason}"));
    }
    lines
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

/// Reads and parses a document (automation or scene); what serde refuses (an unknown
/// field or kind, a wrong type) is reported against the file with serde's line and
/// column.
pub(super) fn read_document<T: DeserializeOwned>(file: &std::path::Path) -> Result<T, Failure> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_reads_one_line_per_condition_and_action() {
        let trace = json!({
            "conditions": [{"path": "conditions[0]", "type": "time", "seen": "21:05",
                "weekday": "sun", "passed": true},
                {"path": "conditions[1]", "type": "reading", "device": "hall-temp",
                "metric": "temp", "seen": null, "passed": false}],
            "actions": [{"type": "command", "device": "hall-lamp", "name": "switch",
                "command": "c-1", "result": "acked", "answer": null, "index": 0,
                "duration_ms": 12},
                {"type": "scene", "scene": "s-1", "result": "failed", "error": "no scene",
                "index": 1, "duration_ms": 0}],
        });
        assert_eq!(
            trace_lines(&trace),
            [
                "condition conditions[0] time: saw 21:05, passed",
                "condition conditions[1] reading hall-temp temp: saw nothing, did not hold",
                "action 0 command hall-lamp switch: acked, 12 ms",
                "action 1 scene s-1: failed (no scene), 0 ms",
            ]
        );
        let skipped =
            json!({"conditions": [], "actions": [], "reason": "a condition did not hold"});
        assert_eq!(trace_lines(&skipped), ["reason: a condition did not hold"]);
    }
}
