//! `hearth group add|list|show|remove|member`.

use super::output;
use super::{Ctx, Failure, OutputArgs, parse_id};
use clap::{Args, Subcommand};
use hearth_model::{GroupId, Role, UserName};
use serde_json::json;

#[derive(Debug, Args)]
pub struct GroupArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: GroupCommand,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group (a home, team or workshop).
    Add {
        /// Group id: letters, digits, '-' and '_' (e.g. `home`).
        id: String,
        /// Display name (default: the id).
        #[arg(long)]
        name: Option<String>,
        /// Make this existing user the group's owner.
        #[arg(long)]
        owner: Option<String>,
    },
    /// List groups.
    List,
    /// Show a group with its members and applications.
    Show { id: String },
    /// Remove a group (refused while it still has applications).
    Remove { id: String },
    /// Set a member's role (owner, admin, member, viewer), or remove them with --remove.
    Member {
        group: String,
        user: String,
        /// owner, admin, member or viewer.
        #[arg(required_unless_present = "remove", conflicts_with = "remove")]
        role: Option<Role>,
        /// Remove the user from the group.
        #[arg(long)]
        remove: bool,
    },
}

pub async fn run(ctx: &Ctx, command: GroupCommand) -> Result<(), Failure> {
    let (registry, actor, out) = (&ctx.registry, ctx.actor.as_str(), ctx.out);
    match command {
        GroupCommand::Add { id, name, owner } => {
            let id: GroupId = parse_id("id", &id)?;
            let owner: Option<UserName> =
                owner.map(|owner| parse_id("owner", &owner)).transpose()?;
            let group = registry
                .add_group(actor, &id, name.as_deref(), owner.as_ref())
                .await?;
            if out.json {
                out.json(&output::with(&group, json!({ "owner": owner })));
            } else {
                println!("created group {} ({})", group.id, group.name);
                if let Some(owner) = owner {
                    println!("owner: {owner}");
                }
            }
        }
        GroupCommand::List => list(ctx).await?,
        GroupCommand::Show { id } => show(ctx, &id).await?,
        GroupCommand::Remove { id } => {
            let id: GroupId = parse_id("id", &id)?;
            registry.remove_group(actor, &id).await?;
            out.done(json!({ "removed": id }), &format!("removed group {id}"));
        }
        GroupCommand::Member {
            group,
            user,
            role,
            remove,
        } => match role {
            Some(role) if !remove => {
                let (group, user): (GroupId, UserName) =
                    (parse_id("group", &group)?, parse_id("user", &user)?);
                let membership = registry.set_member(actor, &group, &user, role).await?;
                out.done(
                    json!(membership),
                    &format!("{user} is now {role} of group {group}"),
                );
            }
            _ => {
                let (group, user): (GroupId, UserName) =
                    (parse_id("group", &group)?, parse_id("user", &user)?);
                registry.remove_member(actor, &group, &user).await?;
                out.done(
                    json!({ "group": group, "user": user, "removed": true }),
                    &format!("removed {user} from group {group}"),
                );
            }
        },
    }
    Ok(())
}

async fn list(ctx: &Ctx) -> Result<(), Failure> {
    let groups = ctx.store.groups().await?;
    let mut listed = Vec::with_capacity(groups.len());
    for group in groups {
        let members = ctx.store.members(&group.id).await?.len();
        let apps = ctx.store.apps(Some(&group.id)).await?.len();
        listed.push((group, members, apps));
    }
    if ctx.out.json {
        let items: Vec<_> = listed
            .iter()
            .map(|(group, members, apps)| {
                output::with(group, json!({ "members": members, "applications": apps }))
            })
            .collect();
        ctx.out.json(&items);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|(group, members, apps)| {
            vec![
                group.id.to_string(),
                group.name.clone(),
                members.to_string(),
                apps.to_string(),
                output::time(group.created_at_ms),
            ]
        })
        .collect();
    output::table(
        &["ID", "NAME", "MEMBERS", "APPS", "CREATED"],
        &rows,
        "no groups",
    );
    Ok(())
}

async fn show(ctx: &Ctx, id: &str) -> Result<(), Failure> {
    let id: GroupId = id
        .parse()
        .map_err(|error: hearth_model::IdError| Failure::invalid("id", error.to_string()))?;
    let group = ctx.store.group(&id).await?;
    let members = ctx.store.members(&id).await?;
    let apps = ctx.store.apps(Some(&id)).await?;
    if ctx.out.json {
        ctx.out.json(&output::with(
            &group,
            json!({ "members": members, "applications": apps }),
        ));
        return Ok(());
    }
    output::fields(&[
        ("id", group.id.to_string()),
        ("name", group.name.clone()),
        ("created", output::time(group.created_at_ms)),
    ]);
    output::heading("Members");
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|member| vec![member.user.to_string(), member.role.to_string()])
        .collect();
    output::table(&["USER", "ROLE"], &rows, "no members");
    output::heading("Applications");
    let rows: Vec<Vec<String>> = apps
        .iter()
        .map(|app| vec![app.id.to_string(), app.name.clone(), app.mqtt_key.clone()])
        .collect();
    output::table(&["ID", "NAME", "MQTT KEY"], &rows, "no applications");
    Ok(())
}
