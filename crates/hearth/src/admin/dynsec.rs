//! `hearth device|app|site broker-password <id>`: the password a device, an
//! application or a site's link logs in to Mosquitto with when the hub keeps
//! Mosquitto's dynamic-security plugin in step (`[dynsec]`, docs/scale.md "Mosquitto
//! dynamic security"). Hearth keeps secrets only hashed, so Mosquitto gets a password
//! derived from the hub's dynsec key and the current secret hash; this prints it for the
//! device's or the integration's configuration.

use super::{Ctx, Failure};
use hearth_services::dynsec::BrokerKey;
use serde_json::json;

/// Whose broker password to print.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    Device,
    App,
    Site,
}

/// Prints the broker password of a device or an application (and its login names).
pub async fn broker_password(ctx: &Ctx, owner: Owner, id: &str) -> Result<(), Failure> {
    let Some(key_path) = &ctx.dynsec_key else {
        return Err(Failure::invalid(
            "dynsec",
            "no [dynsec] table in the configuration: log in with the secret",
        ));
    };
    let credentials = ctx.store.credentials().await?;
    let sites = match owner {
        Owner::Site => ctx.store.site_credentials().await?,
        _ => Vec::new(),
    };
    // (kind for the derivation, user name = client id, secret hash)
    let found = match owner {
        Owner::Device => credentials
            .devices
            .iter()
            .find(|device| device.id.as_str() == id)
            .map(|device| ("device", device.id.to_string(), device.secret_hash.clone())),
        Owner::App => credentials
            .apps
            .iter()
            .find(|app| app.id.as_str() == id)
            .map(|app| ("app", app.mqtt_key.clone(), app.secret_hash.clone())),
        Owner::Site => sites
            .iter()
            .find(|site| site.id.as_str() == id)
            .map(|site| ("site", site.id.to_string(), site.secret_hash.clone())),
    };
    let Some((kind, user, hash)) = found else {
        return Err(Failure {
            code: "not_found",
            field: Some("id".into()),
            message: match owner {
                Owner::Device => format!("no device {id}"),
                Owner::App => format!("no application {id}"),
                Owner::Site => format!("no site {id}"),
            },
        });
    };
    let key =
        BrokerKey::load_or_create(key_path).map_err(|error| Failure::invalid("dynsec", error))?;
    let password = key.password(kind, &user, &hash);
    // A site's link logs in under `site:{id}` (as the built-in broker requires).
    let client_id = match owner {
        Owner::Site => format!("site:{user}"),
        _ => user.clone(),
    };
    if ctx.out.json {
        ctx.out.json(
            &json!({ "id": id, "username": user, "client_id": client_id, "password": password }),
        );
        return Ok(());
    }
    println!("broker password: {password}");
    eprintln!(
        "For Mosquitto with dynamic security: user name {user}, client id {client_id}. It \
         changes when the secret is rotated."
    );
    Ok(())
}
