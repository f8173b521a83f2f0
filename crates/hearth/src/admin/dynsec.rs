//! `hearth device broker-password <id>`: the password a device logs in to Mosquitto
//! with when the hub keeps Mosquitto's dynamic-security plugin in step (`[dynsec]`,
//! docs/scale.md "Mosquitto dynamic security"). Hearth keeps device secrets only
//! hashed, so Mosquitto gets a password derived from the hub's dynsec key and the
//! device's current secret hash; this prints it for the device's configuration.

use super::{Ctx, Failure};
use hearth_model::DeviceId;
use hearth_services::dynsec::BrokerKey;
use serde_json::json;

/// Prints the device's broker password (and how to try it).
pub async fn broker_password(ctx: &Ctx, id: &str) -> Result<(), Failure> {
    let id: DeviceId = id
        .parse()
        .map_err(|error: hearth_model::IdError| Failure::invalid("id", error.to_string()))?;
    let Some(key_path) = &ctx.dynsec_key else {
        return Err(Failure::invalid(
            "dynsec",
            "no [dynsec] table in the configuration: devices log in with their secret",
        ));
    };
    let key =
        BrokerKey::load_or_create(key_path).map_err(|error| Failure::invalid("dynsec", error))?;
    let credentials = ctx.store.credentials().await?;
    let Some(device) = credentials.devices.iter().find(|device| device.id == id) else {
        return Err(Failure {
            code: "not_found",
            field: Some("id".into()),
            message: format!("no device {id}"),
        });
    };
    let password = key.password("device", id.as_str(), &device.secret_hash);
    if ctx.out.json {
        ctx.out
            .json(&json!({ "id": id, "username": id, "client_id": id, "password": password }));
        return Ok(());
    }
    println!("broker password: {password}");
    eprintln!(
        "For Mosquitto with dynamic security: user name and client id {id}. It changes when \
         the device's secret is rotated."
    );
    Ok(())
}
