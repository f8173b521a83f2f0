//! `hearth user add|list|show|remove|passwd`.

use super::output;
use super::{Ctx, Failure, OutputArgs, parse_id, read_password};
use clap::{Args, Subcommand};
use hearth_model::{GroupId, Role, UserName};
use hearth_services::registry::NewUser;
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct UserArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: UserCommand,
}

/// Where a password comes from; neither flag generates one and prints it once.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from the first line of this file.
    #[arg(long, conflicts_with = "password_stdin")]
    pub password_file: Option<PathBuf>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; without a password option, one is generated and printed once.
    Add {
        /// Login name: letters, digits, '-', '_' and '.'.
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// en or zh-CN (default en).
        #[arg(long)]
        language: Option<String>,
        /// Make the user a hub administrator.
        #[arg(long)]
        admin: bool,
        /// Add the user to this group.
        #[arg(long)]
        group: Option<String>,
        /// Their role in --group (default member).
        #[arg(long, requires = "group")]
        role: Option<Role>,
    },
    /// List users.
    List,
    /// Show a user with their memberships and grants.
    Show { name: String },
    /// Remove a user with their memberships and grants.
    Remove { name: String },
    /// Set a user's password; without a password option, one is generated and printed once.
    Passwd {
        name: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
}

pub async fn run(ctx: &Ctx, command: UserCommand) -> Result<(), Failure> {
    let (registry, actor, out) = (&ctx.registry, ctx.actor.as_str(), ctx.out);
    match command {
        UserCommand::Add {
            name,
            password,
            display_name,
            email,
            language,
            admin,
            group,
            role,
        } => {
            let password =
                read_password(password.password_file.as_deref(), password.password_stdin)?;
            // Check the group first, so that a typo does not leave a user behind.
            let group: Option<GroupId> = match group {
                Some(group) => {
                    let id: GroupId = group.parse().map_err(|error: hearth_model::IdError| {
                        Failure::invalid("group", error.to_string())
                    })?;
                    ctx.store.group(&id).await?;
                    Some(id)
                }
                None => None,
            };
            let new_user = NewUser {
                name: parse_id("name", &name)?,
                password,
                display_name,
                email,
                language,
                is_admin: admin,
            };
            let (user, generated) = registry.add_user(actor, new_user).await?;
            let membership = match &group {
                Some(group) => Some(
                    registry
                        .set_member(actor, group, &user.name, role.unwrap_or(Role::Member))
                        .await?,
                ),
                None => None,
            };
            if out.json {
                out.json(&output::with(
                    &user,
                    json!({ "password": generated, "membership": membership }),
                ));
                return Ok(());
            }
            println!("created user {}", user.name);
            if let Some(membership) = membership {
                println!("{} of group {}", membership.role, membership.group);
            }
            if let Some(password) = generated {
                println!("password: {password}");
                eprintln!("(shown only now: it is not stored, only its hash is)");
            }
        }
        UserCommand::List => list(ctx).await?,
        UserCommand::Show { name } => show(ctx, &name).await?,
        UserCommand::Remove { name } => {
            let name: UserName = parse_id("name", &name)?;
            registry.remove_user(actor, &name).await?;
            out.done(json!({ "removed": name }), &format!("removed user {name}"));
        }
        UserCommand::Passwd { name, password } => {
            let given = read_password(password.password_file.as_deref(), password.password_stdin)?;
            let generated = match given {
                Some(_) => None,
                None => Some(hearth_services::secret::random_string(16)),
            };
            let password = given.or_else(|| generated.clone()).unwrap_or_default();
            let name: UserName = parse_id("name", &name)?;
            registry.set_password(actor, &name, &password).await?;
            if out.json {
                out.json(&json!({ "name": name, "password": generated }));
            } else {
                println!("password of {name} changed");
                if let Some(password) = generated {
                    println!("password: {password}");
                    eprintln!("(shown only now: it is not stored, only its hash is)");
                }
            }
        }
    }
    Ok(())
}

async fn list(ctx: &Ctx) -> Result<(), Failure> {
    let users = ctx.store.users().await?;
    let mut listed = Vec::with_capacity(users.len());
    for user in users {
        let memberships = ctx.store.memberships_of(&user.name).await?;
        listed.push((user, memberships));
    }
    if ctx.out.json {
        let items: Vec<_> = listed
            .iter()
            .map(|(user, memberships)| output::with(user, json!({ "memberships": memberships })))
            .collect();
        ctx.out.json(&items);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|(user, memberships)| {
            let groups: Vec<String> = memberships
                .iter()
                .map(|membership| format!("{} ({})", membership.group, membership.role))
                .collect();
            vec![
                user.name.to_string(),
                user.display_name.clone(),
                output::or_dash(user.email.as_deref()),
                user.language.clone(),
                if user.is_admin { "yes" } else { "no" }.to_owned(),
                if groups.is_empty() {
                    "-".to_owned()
                } else {
                    groups.join(", ")
                },
            ]
        })
        .collect();
    output::table(
        &[
            "NAME",
            "DISPLAY NAME",
            "EMAIL",
            "LANGUAGE",
            "ADMIN",
            "GROUPS",
        ],
        &rows,
        "no users",
    );
    Ok(())
}

async fn show(ctx: &Ctx, name: &str) -> Result<(), Failure> {
    let name: UserName = name
        .parse()
        .map_err(|error: hearth_model::IdError| Failure::invalid("name", error.to_string()))?;
    let user = ctx.store.user(&name).await?;
    let memberships = ctx.store.memberships_of(&name).await?;
    let grants = ctx.store.grants_of(&name).await?;
    if ctx.out.json {
        ctx.out.json(&output::with(
            &user,
            json!({ "memberships": memberships, "grants": grants }),
        ));
        return Ok(());
    }
    output::fields(&[
        ("name", user.name.to_string()),
        ("display name", user.display_name.clone()),
        ("email", output::or_dash(user.email.as_deref())),
        ("language", user.language.clone()),
        ("admin", if user.is_admin { "yes" } else { "no" }.to_owned()),
        ("created", output::time(user.created_at_ms)),
    ]);
    output::heading("Groups");
    let rows: Vec<Vec<String>> = memberships
        .iter()
        .map(|membership| vec![membership.group.to_string(), membership.role.to_string()])
        .collect();
    output::table(&["GROUP", "ROLE"], &rows, "no groups");
    output::heading("Grants");
    let rows: Vec<Vec<String>> = grants
        .iter()
        .map(|grant| vec![grant.application.to_string(), grant.permission.to_string()])
        .collect();
    output::table(&["APPLICATION", "PERMISSION"], &rows, "no grants");
    Ok(())
}
