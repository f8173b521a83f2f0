//! `hearth app add|update|list|show|remove|rotate-secret|grant|layout`.

use super::output;
use super::{Ctx, Failure, OutputArgs, parse_id};
use clap::{Args, Subcommand};
use hearth_model::{AppId, Application, GroupId, Permission, UserName};
use hearth_store::DeviceFilter;
use serde_json::json;

#[derive(Debug, Args)]
pub struct AppArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: AppCommand,
}

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an application in a group; prints its MQTT key and secret once.
    Add {
        /// Application id: letters, digits, '-' and '_', unique across the hub.
        id: String,
        /// The group it belongs to.
        #[arg(long)]
        group: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// A discovery login: Tasmota, Zigbee2MQTT, ESPHome or Shelly devices use its
        /// key and secret and announce themselves (docs/discovery.md).
        #[arg(long)]
        discovery: bool,
        /// Keep its devices' raw messages this many days (1 to 3650); the hub's default
        /// (`[history]`) when absent.
        #[arg(long, value_name = "DAYS")]
        message_retention_days: Option<u32>,
    },
    /// Change an application's settings: how long its devices' raw messages are kept.
    Update {
        id: String,
        /// Keep its devices' raw messages this many days (1 to 3650).
        #[arg(
            long,
            value_name = "DAYS",
            required_unless_present = "default_message_retention"
        )]
        message_retention_days: Option<u32>,
        /// Go back to the hub's default retention (`[history]`).
        #[arg(long, conflicts_with = "message_retention_days")]
        default_message_retention: bool,
    },
    /// List applications.
    List {
        /// Only the applications of this group.
        #[arg(long)]
        group: Option<String>,
    },
    /// Show an application with its grants and how many devices it has.
    Show { id: String },
    /// Remove an application (refused while it still has devices).
    Remove { id: String },
    /// Give an application a new MQTT secret (printed once); the old one stops working.
    RotateSecret { id: String },
    /// Print the password the application logs in to Mosquitto with when the hub keeps
    /// its dynamic security in step (`[dynsec]`, docs/scale.md).
    BrokerPassword { id: String },
    /// Grant a user view, control or manage on an application, or remove it with --remove.
    Grant {
        app: String,
        user: String,
        /// view, control or manage.
        #[arg(required_unless_present = "remove", conflicts_with = "remove")]
        permission: Option<Permission>,
        /// Remove the user's grant.
        #[arg(long)]
        remove: bool,
    },
    /// Show, set (--set FILE.toml) or clear (--clear) the application's topic layout:
    /// how its devices' own topics and payloads map onto Hearth's (docs/layouts.md).
    Layout {
        app: String,
        /// A layout file (TOML, like docs/layouts/seed-001-bulb.toml).
        #[arg(long, conflicts_with = "clear")]
        set: Option<std::path::PathBuf>,
        /// Remove the layout.
        #[arg(long)]
        clear: bool,
    },
}

pub async fn run(ctx: &Ctx, command: AppCommand) -> Result<(), Failure> {
    let (registry, actor, out) = (&ctx.registry, ctx.actor.as_str(), ctx.out);
    match command {
        AppCommand::Add {
            id,
            group,
            name,
            description,
            discovery,
            message_retention_days,
        } => {
            let id: AppId = parse_id("id", &id)?;
            let group: GroupId = parse_id("group", &group)?;
            let (mut app, secret) = registry
                .add_app_with_retention(
                    actor,
                    &id,
                    &group,
                    name.as_deref(),
                    description.as_deref(),
                    message_retention_days,
                )
                .await?;
            if discovery {
                registry.set_app_discovery(actor, &app.id, true).await?;
                app.discovery = true;
            }
            print_secret(ctx, &app, &secret, "created application");
        }
        AppCommand::Update {
            id,
            message_retention_days,
            default_message_retention: _,
        } => {
            // Without --message-retention-days, clap has made sure that
            // --default-message-retention was given.
            let id: AppId = parse_id("id", &id)?;
            let app = registry
                .set_app_message_retention(actor, &id, message_retention_days)
                .await?;
            out.done(
                json!(app),
                &format!(
                    "application {id}: raw messages kept {}",
                    retention_text(ctx, app.message_retention_days)
                ),
            );
        }
        AppCommand::List { group } => list(ctx, group.as_deref()).await?,
        AppCommand::Layout { app, set, clear } => {
            super::app_layout::run(ctx, &app, set.as_deref(), clear).await?
        }
        AppCommand::Show { id } => show(ctx, &id).await?,
        AppCommand::Remove { id } => {
            let id: AppId = parse_id("id", &id)?;
            registry.remove_app(actor, &id).await?;
            out.done(
                json!({ "removed": id }),
                &format!("removed application {id}"),
            );
        }
        AppCommand::BrokerPassword { id } => {
            super::dynsec::broker_password(ctx, super::dynsec::Owner::App, &id).await?
        }
        AppCommand::RotateSecret { id } => {
            let id: AppId = parse_id("id", &id)?;
            let secret = registry.rotate_app_secret(actor, &id).await?;
            let app = ctx.store.app(&id).await?;
            print_secret(ctx, &app, &secret, "new secret for application");
        }
        AppCommand::Grant {
            app,
            user,
            permission,
            remove,
        } => match permission {
            Some(permission) if !remove => {
                let (app, user): (AppId, UserName) =
                    (parse_id("app", &app)?, parse_id("user", &user)?);
                let grant = registry.set_grant(actor, &app, &user, permission).await?;
                out.done(
                    json!(grant),
                    &format!("{user} may now {permission} application {app}"),
                );
            }
            _ => {
                let (app, user): (AppId, UserName) =
                    (parse_id("app", &app)?, parse_id("user", &user)?);
                registry.remove_grant(actor, &app, &user).await?;
                out.done(
                    json!({ "application": app, "user": user, "removed": true }),
                    &format!("removed the grant of {user} on application {app}"),
                );
            }
        },
    }
    Ok(())
}

/// Prints an application's MQTT credentials; the secret exists only in this output.
fn print_secret(ctx: &Ctx, app: &Application, secret: &str, what: &str) {
    if ctx.out.json {
        ctx.out
            .json(&output::with(app, json!({ "secret": secret })));
        return;
    }
    println!("{what} {}", app.id);
    output::fields(&[
        ("group", app.group.to_string()),
        ("mqtt key", app.mqtt_key.clone()),
        ("secret", secret.to_owned()),
    ]);
    eprintln!(
        "The secret is shown only now: it is not stored, only its hash is. Connect with the \
         MQTT key as user name and the secret as password."
    );
}

/// How long raw messages are kept, in words: `30 days`, or the hub's default with what it
/// is in this configuration (`0` there keeps them forever).
fn retention_text(ctx: &Ctx, days: Option<u32>) -> String {
    let days_text = |days: u32| match days {
        1 => "1 day".to_owned(),
        days => format!("{days} days"),
    };
    match (days, ctx.history.message_retention_days) {
        (Some(days), _) => days_text(days),
        (None, 0) => "forever (the hub's default, [history])".to_owned(),
        (None, default) => format!("{} (the hub's default, [history])", days_text(default)),
    }
}

fn parse_app(id: &str) -> Result<AppId, Failure> {
    id.parse()
        .map_err(|error: hearth_model::IdError| Failure::invalid("id", error.to_string()))
}

async fn device_count(ctx: &Ctx, app: &AppId) -> Result<u64, Failure> {
    let filter = DeviceFilter {
        application: Some(app.clone()),
        ..DeviceFilter::default()
    };
    Ok(ctx.store.count_devices(&filter).await?)
}

async fn list(ctx: &Ctx, group: Option<&str>) -> Result<(), Failure> {
    let group: Option<GroupId> = match group {
        Some(group) => {
            let id = group.parse().map_err(|error: hearth_model::IdError| {
                Failure::invalid("group", error.to_string())
            })?;
            ctx.store.group(&id).await?;
            Some(id)
        }
        None => None,
    };
    let apps = ctx.store.apps(group.as_ref()).await?;
    let mut listed = Vec::with_capacity(apps.len());
    for app in apps {
        let devices = device_count(ctx, &app.id).await?;
        listed.push((app, devices));
    }
    if ctx.out.json {
        let items: Vec<_> = listed
            .iter()
            .map(|(app, devices)| output::with(app, json!({ "devices": devices })))
            .collect();
        ctx.out.json(&items);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|(app, devices)| {
            vec![
                app.id.to_string(),
                app.group.to_string(),
                app.name.clone(),
                app.mqtt_key.clone(),
                devices.to_string(),
            ]
        })
        .collect();
    output::table(
        &["ID", "GROUP", "NAME", "MQTT KEY", "DEVICES"],
        &rows,
        "no applications",
    );
    Ok(())
}

async fn show(ctx: &Ctx, id: &str) -> Result<(), Failure> {
    let id = parse_app(id)?;
    let app = ctx.store.app(&id).await?;
    let grants = ctx.store.grants(&id).await?;
    let devices = device_count(ctx, &id).await?;
    if ctx.out.json {
        ctx.out.json(&output::with(
            &app,
            json!({ "grants": grants, "devices": devices }),
        ));
        return Ok(());
    }
    output::fields(&[
        ("id", app.id.to_string()),
        ("group", app.group.to_string()),
        ("name", app.name.clone()),
        (
            "description",
            output::or_dash(Some(app.description.as_str()).filter(|text| !text.is_empty())),
        ),
        ("mqtt key", app.mqtt_key.clone()),
        (
            "messages kept",
            retention_text(ctx, app.message_retention_days),
        ),
        ("devices", devices.to_string()),
        ("created", output::time(app.created_at_ms)),
    ]);
    output::heading("Grants");
    let rows: Vec<Vec<String>> = grants
        .iter()
        .map(|grant| vec![grant.user.to_string(), grant.permission.to_string()])
        .collect();
    output::table(&["USER", "PERMISSION"], &rows, "no grants");
    Ok(())
}
