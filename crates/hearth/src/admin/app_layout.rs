//! `hearth app layout APP [--set FILE.toml | --clear] [--json]`: an application's topic
//! layout (docs/layouts.md). Without a flag it is printed (as TOML, the file format, or
//! as JSON, the API's); a running hub picks a change up through the audit log.

use super::{Ctx, Failure, parse_id};
use hearth_model::AppId;
use hearth_model::layout::Layout;
use serde_json::json;
use std::path::Path;

/// Reads a layout file (TOML, the shape of docs/layouts/*.toml).
fn read(file: &Path) -> Result<Layout, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|error| Failure::invalid("set", format!("{}: {error}", file.display())))?;
    toml::from_str(&text)
        .map_err(|error| Failure::invalid("set", format!("{}: {error}", file.display())))
}

pub async fn run(ctx: &Ctx, app: &str, set: Option<&Path>, clear: bool) -> Result<(), Failure> {
    let (registry, actor, out) = (&ctx.registry, ctx.actor.as_str(), ctx.out);
    let app: AppId = parse_id("app", app)?;
    if let Some(file) = set {
        let layout = read(file)?;
        registry.set_app_layout(actor, &app, Some(&layout)).await?;
        out.done(
            json!({ "application": app, "layout": layout }),
            &format!(
                "application {app} now speaks the layout of {} ({} inbound, {} command rules)",
                file.display(),
                layout.inbound.len(),
                layout.commands.len()
            ),
        );
        return Ok(());
    }
    if clear {
        registry.set_app_layout(actor, &app, None).await?;
        out.done(
            json!({ "application": app, "layout": null }),
            &format!("application {app} has no layout any more"),
        );
        return Ok(());
    }
    let layout = registry.app_layout(&app).await?;
    if out.json {
        out.json(&json!({ "application": app, "layout": layout }));
        return Ok(());
    }
    match layout {
        Some(layout) => print!(
            "{}",
            toml::to_string(&layout)
                .map_err(|error| Failure::invalid("layout", error.to_string()))?
        ),
        None => println!("application {app} has no layout"),
    }
    Ok(())
}
