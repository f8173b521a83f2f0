//! The Web Push channel: a notification to a browser where a person enabled push, sent
//! to the browser's push service (RFC 8030) encrypted for that browser (RFC 8291) and
//! signed by the hub (VAPID, RFC 8292).
//!
//! - Encryption (`aes128gcm`, RFC 8188): a fresh P-256 key pair per message, ECDH with
//!   the browser's `p256dh` key, HKDF-SHA256 with the browser's `auth` secret, then
//!   AES-128-GCM over the JSON payload in one record; the header carries the salt, the
//!   record size and the hub's one-time public key. The push service cannot read it.
//! - VAPID: an ES256 JWT (`aud` the push service's origin, `exp` 12 hours, `sub` a
//!   contact) in `Authorization: vapid t=<jwt>, k=<public key>`. The key pair is made at
//!   first start and kept in `<data_dir>/vapid.pem` (PKCS#8, mode 0600); its public
//!   half is what the web app passes to `PushManager.subscribe()` as
//!   `applicationServerKey`, so changing it orphans every subscription.
//! - A 404 or 410 from the push service means the subscription is gone (the browser
//!   unsubscribed, the app was removed): it is deleted and the attempt fails for good.
//!
//! All cryptography is ring's (already in the build through rustls).

use super::text::render;
use super::{Channel, Failure};
use crate::outbound::HttpClient;
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hearth_model::Notification;
use hearth_store::{Store, StoreError};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use ring::{aead, agreement, hkdf};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One attempt's deadline.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The one record's size (RFC 8188); push services take at most 4096 bytes of body.
const RECORD_SIZE: u32 = 4096;
/// A message's text is cut to this many characters so that the whole fits a record.
const MAX_TEXT_CHARS: usize = 600;

/// `[notifications.push]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushConfig {
    /// Sends Web Push (the key pair is made and the channel added) when true.
    pub enabled: bool,
    /// The VAPID contact push services may write to about this hub (`mailto:` or
    /// `https:`); default: the e-mail sender's address, else `mailto:hearth@localhost`.
    pub subject: Option<String>,
    /// How long a push service keeps a message for a browser that is offline.
    pub ttl_secs: u32,
}

impl Default for PushConfig {
    fn default() -> PushConfig {
        PushConfig {
            enabled: true,
            subject: None,
            ttl_secs: 86_400,
        }
    }
}

/// The hub's VAPID key pair.
pub struct VapidKeys {
    key_pair: EcdsaKeyPair,
}

impl std::fmt::Debug for VapidKeys {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "VapidKeys({})", self.public_key())
    }
}

impl VapidKeys {
    /// Reads the key pair from `path` (PEM, PKCS#8), or makes one and writes it there
    /// (mode 0600, created whole or not at all). A file others may read is narrowed to
    /// 0600, with a warning.
    pub fn load_or_create(path: &Path) -> Result<VapidKeys, String> {
        let rng = SystemRandom::new();
        let shown = path.display();
        if path.exists() {
            narrow_permissions(path)?;
            let der = PrivatePkcs8KeyDer::from_pem_file(path)
                .map_err(|error| format!("{shown}: not a PKCS#8 PEM private key: {error}"))?;
            let key_pair = EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                der.secret_pkcs8_der(),
                &rng,
            )
            .map_err(|error| format!("{shown}: not a P-256 key: {error}"))?;
            return Ok(VapidKeys { key_pair });
        }
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| "no randomness for the VAPID key".to_owned())?;
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        let body = STANDARD.encode(pkcs8.as_ref());
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        write_private(path, pem.as_bytes()).map_err(|error| format!("{shown}: {error}"))?;
        tracing::info!("made the Web Push (VAPID) key pair in {shown}");
        let key_pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .map_err(|error| format!("{shown}: {error}"))?;
        Ok(VapidKeys { key_pair })
    }

    /// The public key, uncompressed P-256 point in base64url: the web app's
    /// `applicationServerKey`.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key_pair.public_key().as_ref())
    }

    /// The `Authorization` header's value for a request to `endpoint`.
    pub fn authorization(
        &self,
        endpoint: &str,
        subject: &str,
        now_secs: i64,
    ) -> Result<String, String> {
        let audience = origin(endpoint).ok_or_else(|| format!("not an https URL: {endpoint}"))?;
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = json!({"aud": audience, "exp": now_secs + 12 * 3600, "sub": subject});
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature = self
            .key_pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| "signing failed".to_owned())?;
        let token = format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        );
        Ok(format!("vapid t={token}, k={}", self.public_key()))
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> Option<&str> {
    let after_scheme = url.find("://")? + 3;
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |at| after_scheme + at);
    (end > after_scheme).then(|| &url[..end])
}

#[cfg(unix)]
fn narrow_permissions(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let metadata =
        std::fs::metadata(path).map_err(|error| format!("{}: {error}", path.display()))?;
    if metadata.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            "{} could be read by others; narrowing it to 0600",
            path.display()
        );
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|error| format!("{}: {error}", path.display()))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn narrow_permissions(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// Writes a secret file whole: a temporary file of mode 0600, then renamed.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("pem.new");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn hkdf_sha256(salt: &[u8], secret: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(secret);
    let mut out = vec![0; len];
    prk.expand(&[info], Len(len))
        .and_then(|okm| okm.fill(&mut out))
        .expect("HKDF-SHA256 gives up to 8160 bytes");
    out
}

/// `plaintext` encrypted for the browser whose keys are `p256dh` (65 bytes) and `auth`
/// (16 bytes), as an `aes128gcm` body (RFC 8291 §3.4, one record).
pub fn encrypt(plaintext: &[u8], p256dh: &[u8], auth: &[u8]) -> Result<Vec<u8>, String> {
    if plaintext.len() + 17 > RECORD_SIZE as usize {
        return Err("the message is too long for one record".into());
    }
    let rng = SystemRandom::new();
    let unspecified = |what: &str| format!("{what} failed");
    let private = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
        .map_err(|_| unspecified("key generation"))?;
    let public = private
        .compute_public_key()
        .map_err(|_| unspecified("key generation"))?;
    let browser = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, p256dh);
    let shared = agreement::agree_ephemeral(private, &browser, |secret| secret.to_vec())
        .map_err(|_| "the subscription's p256dh is not a P-256 public key".to_owned())?;
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(p256dh);
    key_info.extend_from_slice(public.as_ref());
    let ikm = hkdf_sha256(auth, &shared, &key_info, 32);
    let mut salt = [0u8; 16];
    rng.fill(&mut salt).map_err(|_| unspecified("randomness"))?;
    let cek = hkdf_sha256(&salt, &ikm, b"Content-Encoding: aes128gcm\0", 16);
    let nonce = hkdf_sha256(&salt, &ikm, b"Content-Encoding: nonce\0", 12);
    let key = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_128_GCM, &cek).map_err(|_| unspecified("AES key"))?,
    );
    let nonce = aead::Nonce::try_assume_unique_for_key(&nonce).map_err(|_| unspecified("nonce"))?;
    let mut record = plaintext.to_vec();
    // The last (and only) record's delimiter, no padding.
    record.push(2);
    key.seal_in_place_append_tag(nonce, aead::Aad::empty(), &mut record)
        .map_err(|_| unspecified("encryption"))?;
    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + record.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(public.as_ref().len() as u8);
    body.extend_from_slice(public.as_ref());
    body.extend_from_slice(&record);
    Ok(body)
}

/// What is wrong with a browser's subscription, as `(field, message)`: the endpoint
/// must be an `https://` URL (every browser's push service is), `keys.p256dh` a P-256
/// public key (a point on the curve) and `keys.auth` 16 bytes, both base64url.
pub fn check_subscription(
    endpoint: &str,
    p256dh: &str,
    auth: &str,
) -> Result<(), (&'static str, &'static str)> {
    let host_ok = endpoint
        .strip_prefix("https://")
        .and_then(|rest| rest.split('/').next())
        .is_some_and(|host| !host.is_empty() && !host.contains('@'));
    if !host_ok
        || endpoint.len() > 2048
        || endpoint
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err((
            "endpoint",
            "the push service's https:// URL, at most 2048 characters",
        ));
    }
    let decode = |text: &str| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok();
    // On the curve too: an agreement with a throw-away key validates the point.
    let on_curve = |key: &[u8]| {
        agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &SystemRandom::new())
            .ok()
            .and_then(|private| {
                let public = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, key);
                agreement::agree_ephemeral(private, &public, |_| ()).ok()
            })
            .is_some()
    };
    let point = decode(p256dh).filter(|key| key.len() == 65 && key[0] == 4 && on_curve(key));
    if point.is_none() {
        return Err((
            "keys.p256dh",
            "the browser's P-256 public key (65 bytes, base64url)",
        ));
    }
    if decode(auth).is_none_or(|secret| secret.len() != 16) {
        return Err((
            "keys.auth",
            "the browser's authentication secret (16 bytes, base64url)",
        ));
    }
    Ok(())
}

/// Sends through the browsers' push services.
pub struct PushChannel {
    store: Arc<dyn Store>,
    http: HttpClient,
    keys: Arc<VapidKeys>,
    subject: String,
    ttl_secs: u32,
    link_base: String,
}

impl PushChannel {
    pub fn new(
        store: Arc<dyn Store>,
        http: HttpClient,
        keys: Arc<VapidKeys>,
        subject: String,
        ttl_secs: u32,
    ) -> PushChannel {
        PushChannel {
            store,
            http,
            keys,
            subject,
            ttl_secs,
            link_base: String::new(),
        }
    }

    /// What the service worker receives: JSON with the title, the text and where to go.
    pub fn payload(&self, notification: &Notification) -> Vec<u8> {
        let text = render(notification, &self.link_base);
        let cut = |text: &str| text.chars().take(MAX_TEXT_CHARS).collect::<String>();
        json!({
            "title": cut(&text.subject),
            "body": cut(&text.message),
            "url": text.link,
            "alert": notification.alert,
            "event": notification.event,
            "severity": notification.payload["severity"],
            "tag": notification.alert,
        })
        .to_string()
        .into_bytes()
    }
}

#[async_trait]
impl Channel for PushChannel {
    async fn deliver(&self, notification: &Notification) -> Result<String, Failure> {
        let target = &notification.target;
        let field = |name: &str| -> Result<Vec<u8>, Failure> {
            target["keys"][name]
                .as_str()
                .and_then(|text| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok())
                .ok_or_else(|| Failure::permanent(format!("the subscription has no valid {name}")))
        };
        let Some(endpoint) = target["endpoint"].as_str() else {
            return Err(Failure::permanent("the subscription has no endpoint"));
        };
        let (p256dh, auth) = (field("p256dh")?, field("auth")?);
        let body =
            encrypt(&self.payload(notification), &p256dh, &auth).map_err(Failure::permanent)?;
        let authorization = self
            .keys
            .authorization(endpoint, &self.subject, hearth_model::now_millis() / 1000)
            .map_err(Failure::permanent)?;
        let ttl = self.ttl_secs.to_string();
        let urgency = match notification.payload["severity"].as_str() {
            Some("critical") => "high",
            Some("major") => "normal",
            _ => "low",
        };
        let headers = [
            ("authorization", authorization.as_str()),
            ("content-encoding", "aes128gcm"),
            ("content-type", "application/octet-stream"),
            ("ttl", ttl.as_str()),
            ("urgency", urgency),
        ];
        match self.http.post_raw(endpoint, body, &headers, TIMEOUT).await {
            Ok(status) if (200..300).contains(&status) => Ok(format!("HTTP {status}")),
            Ok(status @ (404 | 410)) => {
                match self.store.delete_push_subscription(endpoint, None).await {
                    Ok(()) | Err(StoreError::NotFound { .. }) => {}
                    Err(error) => tracing::warn!("a gone push subscription not deleted: {error}"),
                }
                Err(Failure::permanent(format!(
                    "HTTP {status}: the subscription is gone (deleted)"
                )))
            }
            Ok(status) if (400..500).contains(&status) && status != 408 && status != 429 => {
                Err(Failure::permanent(format!("HTTP {status}")))
            }
            Ok(status) => Err(Failure::retry(format!("HTTP {status}"))),
            Err(error) => Err(Failure::retry(error.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://fcm.googleapis.com/fcm/send/abc"),
            Some("https://fcm.googleapis.com")
        );
        assert_eq!(origin("http://127.0.0.1:9/x"), Some("http://127.0.0.1:9"));
        assert_eq!(origin("https://push.example"), Some("https://push.example"));
        assert_eq!(origin("nothing"), None);
    }

    #[test]
    fn the_key_file_is_made_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vapid.pem");
        let made = VapidKeys::load_or_create(&path).unwrap();
        let read = VapidKeys::load_or_create(&path).unwrap();
        assert_eq!(made.public_key(), read.public_key());
        assert_eq!(URL_SAFE_NO_PAD.decode(made.public_key()).unwrap().len(), 65);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            VapidKeys::load_or_create(&path).unwrap();
            assert_eq!(mode(&path), 0o600);
        }
    }
}
