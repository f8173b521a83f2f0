//! `hearth site add|list|show|remove|rotate-secret|disable|enable` (issue 20,
//! docs/sites.md): the home hubs linked to this hub.

use super::output;
use super::{Ctx, Failure, OutputArgs, parse_id};
use clap::{Args, Subcommand};
use hearth_model::{GroupId, Site, SiteId};
use serde_json::json;

#[derive(Debug, Args)]
pub struct SiteArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: SiteCommand,
}

#[derive(Debug, Subcommand)]
pub enum SiteCommand {
    /// Register a site (a home hub that links to this one); prints its secret once.
    Add {
        /// Site id: letters, digits, '-' and '_'; the home hub's `[bridge] site`.
        id: String,
        /// The group whose devices it may relay.
        #[arg(long)]
        group: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List sites.
    List {
        /// Only the sites of this group.
        #[arg(long)]
        group: Option<String>,
    },
    /// Show a site and its devices.
    Show { id: String },
    /// Remove a site; its link is cut and its devices belong to no site.
    Remove { id: String },
    /// Give a site a new secret (printed once); its link is cut.
    RotateSecret { id: String },
    /// Print the password the site's link logs in to Mosquitto with when the hub keeps
    /// its dynamic security in step (`[dynsec]`, docs/scale.md).
    BrokerPassword { id: String },
    /// Stop a site from connecting; its link is cut.
    Disable { id: String },
    /// Let a disabled site connect again.
    Enable { id: String },
}

pub async fn run(ctx: &Ctx, command: SiteCommand) -> Result<(), Failure> {
    let (registry, actor, out) = (&ctx.registry, ctx.actor.as_str(), ctx.out);
    match command {
        SiteCommand::Add { id, group, name } => {
            let id: SiteId = parse_id("id", &id)?;
            let group: GroupId = parse_id("group", &group)?;
            let (site, secret) = registry
                .add_site(actor, &id, &group, name.as_deref())
                .await?;
            print_secret(ctx, &site, &secret, "created site");
        }
        SiteCommand::List { group } => {
            let group: Option<GroupId> = group
                .as_deref()
                .map(|group| parse_id("group", group))
                .transpose()?;
            let sites = ctx.store.sites(group.as_ref()).await?;
            let mut listed = Vec::with_capacity(sites.len());
            for site in sites {
                let devices = ctx.store.site_devices(&site.id).await?.len();
                listed.push((site, devices));
            }
            if out.json {
                let items: Vec<_> = listed
                    .iter()
                    .map(|(site, devices)| output::with(site, json!({ "devices": devices })))
                    .collect();
                out.json(&items);
                return Ok(());
            }
            let rows: Vec<Vec<String>> = listed
                .iter()
                .map(|(site, devices)| {
                    vec![
                        site.id.to_string(),
                        site.group.to_string(),
                        site.name.clone(),
                        enabled_word(site).to_owned(),
                        devices.to_string(),
                        output::time_or_never(site.last_seen_ms),
                    ]
                })
                .collect();
            output::table(
                &["ID", "GROUP", "NAME", "STATE", "DEVICES", "LAST SEEN"],
                &rows,
                "no sites",
            );
        }
        SiteCommand::Show { id } => {
            let id: SiteId = parse_id("id", &id)?;
            let site = ctx.store.site(&id).await?;
            let devices = ctx.store.site_devices(&id).await?;
            // Devices its home pushed up that this hub did not take (registry mirror).
            let conflicts = ctx.store.site_conflicts(&id).await?;
            if out.json {
                out.json(&output::with(
                    &site,
                    json!({ "devices": devices, "conflicts": conflicts }),
                ));
                return Ok(());
            }
            let device_list: Vec<&str> = devices.iter().map(|device| device.as_str()).collect();
            let conflict_list: Vec<String> = conflicts
                .iter()
                .map(|conflict| format!("{}: {}", conflict.device, conflict.reason))
                .collect();
            output::fields(&[
                ("id", site.id.to_string()),
                ("group", site.group.to_string()),
                ("name", site.name.clone()),
                ("state", enabled_word(&site).to_owned()),
                ("created", output::time(site.created_at_ms)),
                ("last seen", output::time_or_never(site.last_seen_ms)),
                (
                    "devices",
                    output::or_dash(
                        Some(device_list.join(", ").as_str()).filter(|s| !s.is_empty()),
                    ),
                ),
                (
                    "conflicts",
                    output::or_dash(
                        Some(conflict_list.join("; ").as_str()).filter(|s| !s.is_empty()),
                    ),
                ),
            ]);
        }
        SiteCommand::Remove { id } => {
            let id: SiteId = parse_id("id", &id)?;
            registry.remove_site(actor, &id).await?;
            out.done(json!({ "removed": id }), &format!("removed site {id}"));
        }
        SiteCommand::BrokerPassword { id } => {
            super::dynsec::broker_password(ctx, super::dynsec::Owner::Site, &id).await?
        }
        SiteCommand::RotateSecret { id } => {
            let id: SiteId = parse_id("id", &id)?;
            let secret = registry.rotate_site_secret(actor, &id).await?;
            let site = ctx.store.site(&id).await?;
            print_secret(ctx, &site, &secret, "new secret for site");
        }
        SiteCommand::Disable { id } => {
            let id: SiteId = parse_id("id", &id)?;
            registry.set_site_enabled(actor, &id, false).await?;
            out.done(
                json!({ "id": id, "enabled": false }),
                &format!("disabled site {id}"),
            );
        }
        SiteCommand::Enable { id } => {
            let id: SiteId = parse_id("id", &id)?;
            registry.set_site_enabled(actor, &id, true).await?;
            out.done(
                json!({ "id": id, "enabled": true }),
                &format!("enabled site {id}"),
            );
        }
    }
    Ok(())
}

fn enabled_word(site: &Site) -> &'static str {
    if site.enabled { "enabled" } else { "disabled" }
}

/// Prints a site's credentials; the secret exists only in this output.
fn print_secret(ctx: &Ctx, site: &Site, secret: &str, what: &str) {
    if ctx.out.json {
        ctx.out
            .json(&output::with(site, json!({ "secret": secret })));
        return;
    }
    println!("{what} {}", site.id);
    output::fields(&[
        ("group", site.group.to_string()),
        ("user name", site.id.to_string()),
        ("client id", format!("site:{}", site.id)),
        ("secret", secret.to_owned()),
    ]);
    eprintln!(
        "The secret is shown only now: it is not stored, only its hash is. Put it in the \
         home hub's [bridge] section (secret or secret_file)."
    );
}
