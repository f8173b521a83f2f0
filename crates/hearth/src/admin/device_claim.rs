//! `hearth device add ID --unclaimed`, `hearth device import FILE --unclaimed`,
//! `hearth device label ID` and `hearth device unclaim ID`: claiming devices from the command line (issue 23,
//! docs/onboarding.md "Claiming a device"). The rules are the registry's
//! (`hearth_services::registry`'s claims); the label is the API's QR code.

use super::{Ctx, Failure, parse_id};
use hearth_api::{claim_url, qr_svg};
use hearth_model::DeviceId;
use hearth_services::registry::DeviceSpec;
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// The hub's address as phones reach it: `--url`, else what `[firmware] public_url`
/// or the configured listener says.
fn base(ctx: &Ctx, url: Option<&str>) -> Result<String, Failure> {
    let base = url
        .map(str::to_owned)
        .unwrap_or_else(|| ctx.firmware_url.clone());
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(Failure::invalid(
            "url",
            format!(
                "url: {base:?} is not the hub's address; give it as --url https://hub.example.org"
            ),
        ));
    }
    Ok(base)
}

/// Registers `spec` unclaimed; prints its secret, claim code and claim URL once.
pub async fn add(ctx: &Ctx, spec: DeviceSpec, url: Option<&str>) -> Result<(), Failure> {
    let base = base(ctx, url)?;
    let made = ctx
        .registry
        .add_unclaimed_device(ctx.actor.as_str(), spec)
        .await?;
    let url = claim_url(&base, &made.device.id, &made.code);
    if ctx.out.json {
        ctx.out.json(&json!({
            "id": made.device.id,
            "secret": made.secret,
            "code": made.code,
            "claim_url": url,
        }));
        return Ok(());
    }
    println!("registered device {} unclaimed", made.device.id);
    println!("secret: {}", made.secret);
    println!("claim code: {}", made.code);
    println!("claim URL: {url}");
    eprintln!(
        "The secret and the claim code are shown only now: only their hashes are kept. \
         Put the secret on the device and the code on its label (`hearth device label {} \
         --code CODE`).",
        made.device.id
    );
    Ok(())
}

/// Prints the device's label, its claim URL as an SVG QR code, to stdout or `out`.
/// Without `code`, makes a new claim code (the previous one stops working).
pub async fn label(
    ctx: &Ctx,
    id: &str,
    code: Option<String>,
    url: Option<&str>,
    out: Option<&Path>,
) -> Result<(), Failure> {
    let id: DeviceId = parse_id("id", id)?;
    let base = base(ctx, url)?;
    let code = match code {
        Some(code) => {
            let current = ctx
                .registry
                .claim_state(&id)
                .await?
                .code_hash
                .is_some_and(|hash| hearth_services::secret::verify(code.as_bytes(), &hash));
            if !current {
                return Err(Failure::invalid(
                    "code",
                    format!("code: not device {id}'s current claim code"),
                ));
            }
            code
        }
        None => {
            let code = ctx.registry.new_claim_code(ctx.actor.as_str(), &id).await?;
            eprintln!("new claim code for {id}: {code} (the previous one no longer works)");
            code
        }
    };
    let svg = qr_svg(&claim_url(&base, &id, &code));
    match out {
        Some(path) => {
            std::fs::write(path, svg).map_err(|error| {
                Failure::invalid("out", format!("out: {}: {error}", path.display()))
            })?;
            eprintln!("wrote {}", path.display());
        }
        None => println!("{svg}"),
    }
    Ok(())
}

/// Unclaims a device: new secret and code (printed once), disconnected at once.
pub async fn unclaim(ctx: &Ctx, id: &str, url: Option<&str>) -> Result<(), Failure> {
    let id: DeviceId = parse_id("id", id)?;
    let base = base(ctx, url)?;
    let (secret, code) = ctx.registry.unclaim_device(ctx.actor.as_str(), &id).await?;
    let url = claim_url(&base, &id, &code);
    if ctx.out.json {
        ctx.out
            .json(&json!({ "id": id, "secret": secret, "code": code, "claim_url": url }));
        return Ok(());
    }
    println!("device {id} is unclaimed and was disconnected");
    println!("secret: {secret}");
    println!("claim code: {code}");
    println!("claim URL: {url}");
    Ok(())
}

/// Registers a CSV file's devices unclaimed, all or nothing; prints (or writes to
/// `output`, mode 0600) `id,secret,code,claim_url` rows, shown only now.
pub async fn import(
    ctx: &Ctx,
    file: &Path,
    url: Option<&str>,
    output: Option<&Path>,
) -> Result<(), Failure> {
    let base = base(ctx, url)?;
    let specs = super::import::read_specs(file, None)?;
    for (index, spec) in specs.iter().enumerate() {
        if spec.app.is_some() || spec.room.is_some() {
            return Err(Failure::invalid(
                "app",
                format!(
                    "row {}: unclaimed devices take no app or room (they wait in the holding \
                     application; the person who claims one chooses them)",
                    index + 1
                ),
            ));
        }
    }
    let mut sink = output.map(super::import::create_private).transpose()?;
    let made = ctx
        .registry
        .add_unclaimed_devices(ctx.actor.as_str(), specs, &|_| {})
        .await?;
    let mut text = String::from("id,secret,code,claim_url\n");
    for (id, secret, code) in &made {
        text.push_str(&format!(
            "{id},{secret},{code},{}\n",
            claim_url(&base, id, code)
        ));
    }
    match (&mut sink, output) {
        (Some(file), Some(path)) => {
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|error| {
                    Failure::invalid(
                        "output",
                        format!(
                            "output: writing {}: {error} (the devices were registered; \
                             `hearth device label ID` makes new codes)",
                            path.display()
                        ),
                    )
                })?;
            ctx.out.done(
                json!({ "imported": made.len(), "output": path }),
                &format!(
                    "registered {} devices unclaimed; their secrets and claim codes are in {} \
                     (readable only by you)",
                    made.len(),
                    path.display()
                ),
            );
        }
        _ if ctx.out.json => {
            let items: Vec<_> = made
                .iter()
                .map(|(id, secret, code)| {
                    json!({ "id": id, "secret": secret, "code": code, "claim_url": claim_url(&base, id, code) })
                })
                .collect();
            ctx.out.json(&items);
        }
        _ => {
            print!("{text}");
            eprintln!(
                "registered {} devices unclaimed; the secrets and codes above are shown only now",
                made.len()
            );
        }
    }
    Ok(())
}
