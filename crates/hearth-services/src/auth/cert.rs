//! Devices that log in with an X.509 client certificate (MQTTS and WSS).
//!
//! By the time a certificate reaches the authorizer, the TLS handshake has verified that
//! it chains to a CA the hub trusts for devices (its own device CA, and the one in
//! `[mqtt.tls] client_ca_file`). That alone does not make it a device's: it must also be
//! the very certificate the registry has on file for that device.
//!
//! - The device id is the certificate's subject **common name (CN)**. Subject
//!   alternative names (DNS, URI, IP) are ignored for identity, whatever they say; a
//!   certificate without a CN, or whose CN is not a registered device, is refused (a CN
//!   naming an application or a person is refused the same way: certificates are for
//!   devices only).
//! - Its SHA-256 fingerprint (of the DER) must equal the one stored for the device
//!   (`hearth device add ID --cert`, `hearth device cert ID`). Issuing a new certificate
//!   replaces it, so the old one is refused from then on, and the authorizer's watcher
//!   disconnects sessions that used it, as for a new secret.
//! - The device must be enabled, the client id must be the device id, and a user name,
//!   if given, must be the device id too. A password is not needed and not looked at.
//!
//! A refusal is 0x87 (not authorized), not 0x86: there is no password to guess, so it
//! does not count towards the failed-login limit.

use hearth_bus::{AuthError, ConnectRequest, Principal, PrincipalKind};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::snapshot::Snapshot;

/// The SHA-256 fingerprint of a certificate's DER, lowercase hex: what the registry
/// stores for a device (`openssl x509 -noout -fingerprint -sha256` prints the same
/// bytes, upper case with colons).
pub fn certificate_sha256(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The subject's common name of a DER certificate, `None` if it has none or cannot be
/// parsed.
pub fn certificate_common_name(der: &[u8]) -> Option<String> {
    let (_, certificate) = X509Certificate::from_der(der).ok()?;
    let cn = certificate.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

/// Decides which device, if any, a verified client certificate logs in as.
pub(super) fn authenticate(
    snapshot: &Snapshot,
    request: &ConnectRequest,
    der: &[u8],
) -> Result<Principal, AuthError> {
    let Some(name) = certificate_common_name(der) else {
        return Err(AuthError::not_authorized(
            "the client certificate has no subject common name (the device id)",
        ));
    };
    let Some((id, device)) = snapshot.devices.get_key_value(name.as_str()) else {
        return Err(AuthError::not_authorized(format!(
            "the client certificate names {name:?}, which is no registered device"
        )));
    };
    let fingerprint = certificate_sha256(der);
    if device.cert_sha256.as_deref() != Some(fingerprint.as_str()) {
        return Err(AuthError::not_authorized(format!(
            "the client certificate is not the one on file for device {name} \
             (re-issued, removed, or never registered)"
        )));
    }
    if !device.enabled {
        return Err(AuthError::not_authorized(format!(
            "device {name} is disabled"
        )));
    }
    if let Some(username) = &request.username
        && **username != *name
    {
        return Err(AuthError::not_authorized(format!(
            "the client certificate is device {name}'s, but the user name is {username:?}"
        )));
    }
    if *request.client_id != *name {
        return Err(AuthError {
            reason: 0x85,
            message: format!("device {name} must connect with client id {name}"),
        });
    }
    Ok(Principal::new(PrincipalKind::Device, id.clone()))
}
