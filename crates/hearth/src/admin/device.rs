//! `hearth device add|list|show|remove|rotate-secret|disable|enable|import|command|cert|label|unclaim`.

use super::output;
use super::{Ctx, Failure, OutputArgs, parse_id};
use clap::{Args, Subcommand};
use hearth_model::{AppId, Device, DeviceId, GroupId};
use hearth_services::registry::DeviceSpec;
use hearth_store::DeviceFilter;
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct DeviceArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(subcommand)]
    pub command: DeviceCommand,
}

#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Register a device; prints its MQTT secret once.
    Add {
        /// Device id (also its MQTT client id and user name): letters, digits, '-', '_'.
        id: String,
        /// Application (optional when the hub has only one).
        #[arg(long)]
        app: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// sensor, switch, relay, light, thermostat, lock, smoke, camera, gateway, other...
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        room: Option<String>,
        #[arg(long)]
        firmware: Option<String>,
        /// Offline after this many seconds without data or heartbeat (5..=86400).
        #[arg(long, value_name = "SECS")]
        heartbeat_timeout: Option<u32>,
        /// A JSON object with anything else worth noting, e.g. '{"serial": "A12"}'.
        #[arg(long, value_name = "JSON")]
        metadata: Option<String>,
        /// Also issue a client certificate from the hub's device CA (see `device cert`).
        #[arg(long)]
        cert: bool,
        /// Where to write the certificate and key (with --cert; default: here).
        #[arg(long, value_name = "DIR", requires = "cert")]
        out: Option<PathBuf>,
        /// Register it unclaimed, waiting for a person to claim it with the one-time
        /// claim code printed here (docs/onboarding.md "Claiming a device").
        #[arg(long, conflicts_with_all = ["app", "room", "cert"])]
        unclaimed: bool,
        /// The hub's address as phones reach it, for the claim URL (with --unclaimed;
        /// default: [firmware] public_url or the HTTP(S) listener).
        #[arg(long, requires = "unclaimed")]
        url: Option<String>,
    },
    /// Print a device's claim label: its claim URL as an SVG QR code / 打印设备认领二维码
    ///
    /// Without --code, makes a new claim code (printed on stderr; the previous one stops
    /// working), since only the code's hash is kept.
    Label {
        id: String,
        /// The device's current claim code (from `add --unclaimed`).
        #[arg(long)]
        code: Option<String>,
        /// The hub's address as phones reach it (default: [firmware] public_url or the
        /// HTTP(S) listener).
        #[arg(long)]
        url: Option<String>,
        /// Write the SVG to this file instead of stdout.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Return a claimed device to unclaimed: a new secret and claim code (printed once);
    /// it is disconnected at once.
    Unclaim {
        id: String,
        /// The hub's address as phones reach it, for the claim URL.
        #[arg(long)]
        url: Option<String>,
    },
    /// Issue a device a new X.509 client certificate (MQTTS/WSS login without a secret) /
    /// 签发设备客户端证书
    ///
    /// Writes ID.cert.pem and ID.key.pem (mode 0600) from the hub's device CA in
    /// <data dir>/tls. The device's previous certificate stops working at once.
    Cert {
        id: String,
        /// Directory for the two files (default: here).
        #[arg(long, value_name = "DIR", conflicts_with_all = ["import", "revoke"])]
        out: Option<PathBuf>,
        /// Register a certificate issued elsewhere (by the CA in [mqtt.tls]
        /// client_ca_file) instead: its subject CN must be the device id.
        #[arg(long, value_name = "PEM", conflicts_with = "revoke")]
        import: Option<PathBuf>,
        /// Remove the device's certificate: it no longer logs in with one.
        #[arg(long)]
        revoke: bool,
    },
    /// List devices.
    List(ListArgs),
    /// Show everything about a device, including its live state.
    Show { id: String },
    /// Remove a device; it is disconnected at once.
    Remove { id: String },
    /// Give a device a new secret (printed once); it is disconnected at once.
    RotateSecret { id: String },
    /// Print the password the device logs in to Mosquitto with when the hub keeps its
    /// dynamic security in step (`[dynsec]`, docs/scale.md).
    BrokerPassword { id: String },
    /// Stop a device from connecting; it is disconnected at once.
    Disable { id: String },
    /// Let a disabled device connect again.
    Enable { id: String },
    /// Put a device in a site (a home hub linked to this hub, see docs/sites.md): its
    /// messages then come only through that site's link and its commands go there; or
    /// take it out of its site with --no-site.
    Update {
        id: String,
        /// The site (of the group of the device's application).
        #[arg(long, required_unless_present = "no_site", conflicts_with = "no_site")]
        site: Option<String>,
        /// The device belongs to no site: it connects to this hub itself.
        #[arg(long)]
        no_site: bool,
    },
    /// Send a command to a device through the running hub and wait for its outcome.
    ///
    /// The command is recorded in the store; the hub picks it up within a second,
    /// publishes it on devices/{id}/commands/{name} when the device is online, and
    /// records the device's answer. Exit status 0 when the device acknowledged it, 1
    /// when it failed, timed out, or is still open after --wait.
    Command {
        id: String,
        /// The command's name (the last topic level), e.g. relay.
        name: String,
        /// Parameters, a JSON object, e.g. '{"on": true}'.
        #[arg(long, value_name = "JSON")]
        params: Option<String>,
        /// How long the command may wait for an offline device (seconds).
        #[arg(long, value_name = "SECS")]
        ttl: Option<u32>,
        /// How long to wait here for the outcome (seconds; 0: do not wait).
        #[arg(long, value_name = "SECS", default_value_t = 20)]
        wait: u64,
    },
    /// List devices announced through Home Assistant MQTT discovery and not adopted yet
    /// (docs/discovery.md).
    Discovered,
    /// Adopt a discovered device into an application: creates the device with the kind,
    /// capabilities and topic layout its announcement implies.
    Adopt {
        /// The discovery id (see `hearth device discovered`).
        id: String,
        /// The application it joins (of the discovery application's group).
        #[arg(long)]
        app: String,
        /// The discovery application that announced it (when several did).
        #[arg(long)]
        from: Option<String>,
        /// The new device's id (default: the discovery id).
        #[arg(long = "id", value_name = "NEW_ID")]
        new_id: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        room: Option<String>,
    },
    /// Register devices from a CSV file, all or nothing; prints `id,secret` rows.
    ///
    /// The first row names the columns: id (required), app, name, kind, room, firmware,
    /// heartbeat_timeout_secs. Rows are numbered from the first device row.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Application for rows without an `app` value.
        #[arg(long)]
        app: Option<String>,
        /// Write the `id,secret` rows to this file (mode 0600) instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Register them unclaimed (no `app` or `room` column values): the rows printed
        /// are `id,secret,code,claim_url` (docs/onboarding.md "Claiming a device").
        #[arg(long, conflicts_with = "app")]
        unclaimed: bool,
        /// The hub's address as phones reach it, for the claim URLs (with --unclaimed).
        #[arg(long, requires = "unclaimed")]
        url: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only devices of this application.
    #[arg(long)]
    app: Option<String>,
    /// Only devices of this group's applications.
    #[arg(long)]
    group: Option<String>,
    #[arg(long)]
    room: Option<String>,
    #[arg(long)]
    kind: Option<String>,
    /// Only online devices.
    #[arg(long, conflicts_with = "offline")]
    online: bool,
    /// Only offline devices.
    #[arg(long)]
    offline: bool,
    /// Only devices whose id or name contains this (case-insensitive).
    #[arg(long)]
    search: Option<String>,
    /// At most this many devices.
    #[arg(long)]
    limit: Option<u32>,
}

pub async fn run(ctx: &Ctx, command: DeviceCommand) -> Result<(), Failure> {
    let (registry, actor, out) = (&ctx.registry, ctx.actor.as_str(), ctx.out);
    match command {
        DeviceCommand::Add {
            id,
            app,
            name,
            kind,
            room,
            firmware,
            heartbeat_timeout,
            metadata,
            cert,
            out: cert_dir,
            unclaimed,
            url,
        } => {
            let metadata = metadata
                .map(|text| {
                    serde_json::from_str(&text).map_err(|error| {
                        Failure::invalid("metadata", format!("metadata: not JSON: {error}"))
                    })
                })
                .transpose()?;
            // The application first, then the id: the order the registry checked them in.
            let app: Option<AppId> = app.map(|app| parse_id("app", &app)).transpose()?;
            if unclaimed {
                let spec = DeviceSpec {
                    name,
                    kind,
                    firmware,
                    metadata,
                    heartbeat_timeout_secs: heartbeat_timeout,
                    ..DeviceSpec::new(parse_id("id", &id)?)
                };
                return super::device_claim::add(ctx, spec, url.as_deref()).await;
            }
            let spec = DeviceSpec {
                id: parse_id("id", &id)?,
                app,
                name,
                kind,
                room,
                firmware,
                metadata,
                heartbeat_timeout_secs: heartbeat_timeout,
            };
            let (device, secret) = registry.add_device(actor, spec).await?;
            let files = match cert {
                true => Some(super::device_cert::issue(ctx, &device.id, cert_dir).await?),
                false => None,
            };
            if out.json {
                let mut extra = json!({ "secret": secret });
                if let Some(files) = &files {
                    extra["certificate"] = files.json();
                }
                out.json(&output::with(&device, extra));
                return Ok(());
            }
            println!(
                "registered device {} in application {}",
                device.id, device.application
            );
            print_secret(&device.id, &secret);
            if let Some(files) = &files {
                files.print(&device.id);
            }
        }
        DeviceCommand::Cert {
            id,
            out: cert_dir,
            import,
            revoke,
        } => super::device_cert::run(ctx, &id, cert_dir, import, revoke).await?,
        DeviceCommand::Label {
            id,
            code,
            url,
            output,
        } => super::device_claim::label(ctx, &id, code, url.as_deref(), output.as_deref()).await?,
        DeviceCommand::Unclaim { id, url } => {
            super::device_claim::unclaim(ctx, &id, url.as_deref()).await?
        }
        DeviceCommand::List(args) => list(ctx, args).await?,
        DeviceCommand::Show { id } => show(ctx, &id).await?,
        DeviceCommand::Remove { id } => {
            let id: DeviceId = parse_id("id", &id)?;
            registry.remove_device(actor, &id).await?;
            out.done(json!({ "removed": id }), &format!("removed device {id}"));
        }
        DeviceCommand::BrokerPassword { id } => {
            super::dynsec::broker_password(ctx, super::dynsec::Owner::Device, &id).await?
        }
        DeviceCommand::RotateSecret { id } => {
            let id: DeviceId = parse_id("id", &id)?;
            let secret = registry.rotate_device_secret(actor, &id).await?;
            if out.json {
                out.json(&json!({ "id": id, "secret": secret }));
                return Ok(());
            }
            println!("new secret for device {id}");
            print_secret(&id, &secret);
        }
        DeviceCommand::Disable { id } => {
            let id: DeviceId = parse_id("id", &id)?;
            registry.set_device_enabled(actor, &id, false).await?;
            out.done(
                json!({ "id": id, "enabled": false }),
                &format!("disabled device {id}"),
            );
        }
        DeviceCommand::Enable { id } => {
            let id: DeviceId = parse_id("id", &id)?;
            registry.set_device_enabled(actor, &id, true).await?;
            out.done(
                json!({ "id": id, "enabled": true }),
                &format!("enabled device {id}"),
            );
        }
        DeviceCommand::Update { id, site, .. } => {
            let id: DeviceId = parse_id("id", &id)?;
            let site: Option<hearth_model::SiteId> = site
                .as_deref()
                .map(|site| parse_id("site", site))
                .transpose()?;
            registry.set_device_site(actor, &id, site.as_ref()).await?;
            let sentence = match &site {
                Some(site) => format!("device {id} now belongs to site {site}"),
                None => format!("device {id} belongs to no site"),
            };
            out.done(json!({ "id": id, "site": site }), &sentence);
        }
        DeviceCommand::Discovered => super::discovered::list(ctx).await?,
        DeviceCommand::Adopt {
            id,
            app,
            from,
            new_id,
            name,
            room,
        } => {
            super::discovered::adopt(
                ctx,
                &id,
                &app,
                from.as_deref(),
                new_id.as_deref(),
                name,
                room,
            )
            .await?
        }
        DeviceCommand::Import {
            file,
            output,
            unclaimed: true,
            url,
            ..
        } => super::device_claim::import(ctx, &file, url.as_deref(), output.as_deref()).await?,
        DeviceCommand::Import {
            file, app, output, ..
        } => super::import::run(ctx, &file, app.as_deref(), output.as_deref()).await?,
        DeviceCommand::Command {
            id,
            name,
            params,
            ttl,
            wait,
        } => send_command(ctx, &id, &name, params.as_deref(), ttl, wait).await?,
    }
    Ok(())
}

/// Prints a device's secret and a command to try it with; the secret exists only here.
fn print_secret(id: &DeviceId, secret: &str) {
    println!("secret: {secret}");
    eprintln!("The secret is shown only now: it is not stored, only its hash is.");
    println!("Try it:");
    println!(
        "  mosquitto_pub -h 127.0.0.1 -p 1883 -i {id} -u {id} -P '{secret}' \
         -t devices/{id}/data -m '{{\"temperature\": 21.5}}'"
    );
}

fn parse_device(id: &str) -> Result<DeviceId, Failure> {
    id.parse()
        .map_err(|error: hearth_model::IdError| Failure::invalid("id", error.to_string()))
}

async fn list(ctx: &Ctx, args: ListArgs) -> Result<(), Failure> {
    let mut filter = DeviceFilter {
        room: args.room,
        kind: args.kind,
        online: match (args.online, args.offline) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        search: args.search,
        limit: args.limit,
        ..DeviceFilter::default()
    };
    // An unknown application or group is a mistake, not an empty list.
    if let Some(app) = args.app {
        let app: AppId = app
            .parse()
            .map_err(|error: hearth_model::IdError| Failure::invalid("app", error.to_string()))?;
        ctx.store.app(&app).await?;
        filter.application = Some(app);
    }
    if let Some(group) = args.group {
        let group: GroupId = group
            .parse()
            .map_err(|error: hearth_model::IdError| Failure::invalid("group", error.to_string()))?;
        ctx.store.group(&group).await?;
        filter.group = Some(group);
    }
    let devices = ctx.store.devices(&filter).await?;
    if ctx.out.json {
        ctx.out.json(&devices);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = devices
        .iter()
        .map(|device| {
            vec![
                device.id.to_string(),
                device.application.to_string(),
                device.name.clone(),
                device.kind.clone(),
                output::or_dash(device.room.as_deref()),
                state(device).to_owned(),
                output::time_or_never(device.live.last_seen_ms),
            ]
        })
        .collect();
    output::table(
        &["ID", "APP", "NAME", "KIND", "ROOM", "STATE", "LAST SEEN"],
        &rows,
        "no devices",
    );
    Ok(())
}

/// `disabled`, `online` or `offline`.
fn state(device: &Device) -> &'static str {
    if !device.enabled {
        "disabled"
    } else if device.live.is_online {
        "online"
    } else {
        "offline"
    }
}

async fn show(ctx: &Ctx, id: &str) -> Result<(), Failure> {
    let device = ctx.store.device(&parse_device(id)?).await?;
    if ctx.out.json {
        ctx.out.json(&device);
        return Ok(());
    }
    let live = &device.live;
    output::fields(&[
        ("id", device.id.to_string()),
        ("application", device.application.to_string()),
        ("name", device.name.clone()),
        ("kind", device.kind.clone()),
        ("room", output::or_dash(device.room.as_deref())),
        ("firmware", output::or_dash(device.firmware.as_deref())),
        (
            "site",
            output::or_dash(device.site.as_ref().map(|site| site.as_str())),
        ),
        (
            "enabled",
            if device.enabled { "yes" } else { "no" }.to_owned(),
        ),
        (
            "heartbeat timeout",
            device
                .heartbeat_timeout_secs
                .map_or_else(|| "hub default".to_owned(), |secs| format!("{secs} s")),
        ),
        ("metadata", device.metadata.to_string()),
        ("created", output::time(device.created_at_ms)),
        ("state", state(&device).to_owned()),
        ("last seen", output::time_or_never(live.last_seen_ms)),
        (
            "last heartbeat",
            output::time_or_never(live.last_heartbeat_ms),
        ),
        ("status", output::or_dash(live.device_status.as_deref())),
        (
            "last data",
            live.last_report_data
                .as_ref()
                .map_or_else(|| "-".to_owned(), |data| data.to_string()),
        ),
    ]);
    Ok(())
}

/// `hearth device command`: records the command, then follows it in the store.
async fn send_command(
    ctx: &Ctx,
    id: &str,
    name: &str,
    params: Option<&str>,
    ttl_secs: Option<u32>,
    wait_secs: u64,
) -> Result<(), Failure> {
    let params = match params {
        Some(text) => serde_json::from_str(text)
            .map_err(|error| Failure::invalid("params", format!("not JSON: {error}")))?,
        None => serde_json::Value::Null,
    };
    let device = hearth_model::DeviceId::new(id).map_err(|error| {
        Failure::invalid("device", format!("device: {}: {}", error.value, error.why))
    })?;
    let (mut command, _) = hearth_services::commands::record_new(
        ctx.store.as_ref(),
        &ctx.commands,
        &ctx.actor,
        &device,
        name,
        params,
        ttl_secs,
    )
    .await?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait_secs);
    while !command.status.is_final() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        command = ctx.store.command(&command.id).await?;
    }
    let status = command.status;
    if ctx.out.json {
        // One JSON document on stdout: the command when acknowledged, else the error.
        if status == hearth_model::CommandStatus::Acked {
            ctx.out
                .json(&serde_json::to_value(&command).unwrap_or_default());
        }
    } else {
        println!(
            "command {} to {}: {}",
            command.id,
            command.device,
            status.as_str()
        );
        if let Some(state) = &command.reported_state {
            println!("state reported by the device: {state}");
        }
        if let Some(result) = &command.result {
            println!("result: {result}");
        }
    }
    match status {
        hearth_model::CommandStatus::Acked => Ok(()),
        other if !other.is_final() => Err(Failure::other(format!(
            "command {} is still {} after {wait_secs} s (a running hub delivers it when the device is online)",
            command.id,
            other.as_str()
        ))),
        other => Err(Failure::other(format!(
            "command {} ended {}",
            command.id,
            other.as_str()
        ))),
    }
}
