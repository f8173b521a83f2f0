//! `hearth device discovered` and `hearth device adopt`: devices announced through Home
//! Assistant MQTT discovery (docs/discovery.md), listed until adopted.

use super::output;
use super::{Ctx, Failure, parse_id};
use hearth_model::{AppId, DeviceId, DiscoveredDevice};
use hearth_services::discovery::AdoptRequest;

/// Lists the announced devices not adopted yet.
pub async fn list(ctx: &Ctx) -> Result<(), Failure> {
    let entries = ctx.registry.store().discovered_list(None, false).await?;
    if ctx.out.json {
        ctx.out.json(&entries);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|entry| {
            vec![
                entry.id.to_string(),
                entry.app.to_string(),
                entry.name.clone().unwrap_or_default(),
                entry.kind.clone(),
                components(entry),
                match entry.online {
                    Some(true) => "online".into(),
                    Some(false) => "offline".into(),
                    None => "-".into(),
                },
            ]
        })
        .collect();
    output::table(
        &["ID", "FROM", "NAME", "KIND", "COMPONENTS", "AVAILABILITY"],
        &rows,
        "no discovered devices waiting to be adopted",
    );
    Ok(())
}

fn components(entry: &DiscoveredDevice) -> String {
    entry
        .components
        .iter()
        .map(|component| component.component.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Adopts discovered device `id` into `app`; `from` names the discovery application
/// when more than one announced that id.
pub async fn adopt(
    ctx: &Ctx,
    id: &str,
    app: &str,
    from: Option<&str>,
    new_id: Option<&str>,
    name: Option<String>,
    room: Option<String>,
) -> Result<(), Failure> {
    let id: DeviceId = parse_id("id", id)?;
    let app: AppId = parse_id("app", app)?;
    let from: Option<AppId> = from.map(|from| parse_id("from", from)).transpose()?;
    let new_id: Option<DeviceId> = new_id
        .map(|new_id| parse_id("new-id", new_id))
        .transpose()?;
    let candidates: Vec<DiscoveredDevice> = ctx
        .registry
        .store()
        .discovered_list(None, false)
        .await?
        .into_iter()
        .filter(|entry| entry.id == id && from.as_ref().is_none_or(|from| &entry.app == from))
        .collect();
    let entry = match candidates.as_slice() {
        [one] => one,
        [] => {
            return Err(hearth_store::StoreError::not_found("discovered device", &id).into());
        }
        several => {
            return Err(Failure::invalid(
                "from",
                format!(
                    "{} discovery applications announced {id}; say which with --from ({})",
                    several.len(),
                    several
                        .iter()
                        .map(|entry| entry.app.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    };
    let device = ctx
        .registry
        .adopt_discovered(
            &ctx.actor,
            &entry.app,
            &entry.id,
            AdoptRequest {
                app,
                id: new_id,
                name,
                room,
            },
        )
        .await?;
    if ctx.out.json {
        ctx.out.json(&device);
    } else {
        println!(
            "adopted {} from {} as device {} ({}) in application {}",
            entry.id, entry.app, device.id, device.kind, device.application
        );
    }
    Ok(())
}
