//! `[oidc]` of hearth.toml: the identity providers people may sign in with.
//!
//! ```toml
//! [oidc]
//! public_url = "https://hearth.example.org"   # optional
//!
//! [[oidc.providers]]
//! id = "keycloak"
//! name = "Family Keycloak"
//! issuer = "https://id.example.org/realms/home"
//! client_id = "hearth"
//! client_secret_file = "/etc/hearth/keycloak.secret"
//! scopes = ["openid", "email", "profile"]
//! username_claim = "preferred_username"
//! allow_registration = true
//! register_group = "home"
//! register_role = "member"
//! ```
//!
//! Each provider table is checked as it is read, so that a mistake stops the hub at
//! start with the line of the table (`[[oidc.providers]]`) and the key.

use hearth_model::Role;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[oidc]`: no providers by default (only passwords).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// The hub's address as people's browsers reach it (`https://hearth.example.org`,
    /// no path), from which the redirect URI registered at each provider is made:
    /// `<public_url>/api/v1/auth/oidc/<id>/callback`. Unset: the address the browser
    /// used for the request that started the sign-in (its `Host`, and `https` when the
    /// request came over HTTPS).
    pub public_url: Option<String>,
    pub providers: Vec<ProviderConfig>,
}

/// Which claim of the ID token names a person who registers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsernameClaim {
    #[default]
    PreferredUsername,
    /// The part of the address before `@`.
    Email,
    Sub,
}

/// One `[[oidc.providers]]` table. `Debug` leaves the client secret out.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawProvider")]
pub struct ProviderConfig {
    /// In URLs (`/api/v1/auth/oidc/<id>/...`) and stored links: lowercase letters,
    /// digits and `-`, 1 to 32. Changing it orphans the links made under the old one.
    pub id: String,
    /// What the sign-in button says ("Sign in with <name>").
    pub name: String,
    /// The issuer URL, exactly as the provider's discovery document and ID tokens say
    /// it (`https://accounts.google.com`). `https://`, or `http://` on a loopback
    /// address only (tests, a provider on the same machine).
    pub issuer: String,
    pub client_id: String,
    /// The client secret; prefer `client_secret_file`. Never written back or logged.
    #[serde(skip_serializing)]
    pub client_secret: Option<String>,
    /// A file whose first line is the client secret (read at start).
    pub client_secret_file: Option<PathBuf>,
    /// Asked for at the provider; must hold `openid`.
    pub scopes: Vec<String>,
    pub username_claim: UsernameClaim,
    /// Whether a person the hub does not know (no link, no account with their verified
    /// e-mail address) gets an account. Default false: refused.
    pub allow_registration: bool,
    /// The group a registered person joins (none: no group).
    pub register_group: Option<String>,
    /// Their role there (default `viewer`).
    pub register_role: Role,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "(hidden)"),
            )
            .field("client_secret_file", &self.client_secret_file)
            .field("scopes", &self.scopes)
            .field("username_claim", &self.username_claim)
            .field("allow_registration", &self.allow_registration)
            .field("register_group", &self.register_group)
            .field("register_role", &self.register_role)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    id: String,
    name: Option<String>,
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    client_secret_file: Option<PathBuf>,
    scopes: Option<Vec<String>>,
    username_claim: Option<UsernameClaim>,
    allow_registration: Option<bool>,
    register_group: Option<String>,
    register_role: Option<Role>,
}

/// Whether `url` is `https://...`, or `http://` to a loopback host.
pub(crate) fn allowed_url(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

impl TryFrom<RawProvider> for ProviderConfig {
    type Error = String;

    fn try_from(raw: RawProvider) -> Result<ProviderConfig, String> {
        let id = raw.id;
        if id.is_empty()
            || id.len() > 32
            || !id
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        {
            return Err(format!(
                "oidc provider id {id:?}: use 1 to 32 lowercase letters, digits and '-'"
            ));
        }
        let issuer = raw.issuer;
        if !allowed_url(&issuer) {
            return Err(format!(
                "oidc provider {id}: issuer {issuer:?} must be an https:// URL (http:// only \
                 on a loopback address)"
            ));
        }
        if raw.client_id.is_empty() {
            return Err(format!("oidc provider {id}: client_id is empty"));
        }
        match (&raw.client_secret, &raw.client_secret_file) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "oidc provider {id}: set client_secret or client_secret_file, not both"
                ));
            }
            (None, None) => {
                return Err(format!(
                    "oidc provider {id}: client_secret or client_secret_file is required"
                ));
            }
            (Some(secret), None) if secret.is_empty() => {
                return Err(format!("oidc provider {id}: client_secret is empty"));
            }
            _ => {}
        }
        let scopes = raw
            .scopes
            .unwrap_or_else(|| vec!["openid".into(), "email".into(), "profile".into()]);
        if !scopes.iter().any(|scope| scope == "openid") {
            return Err(format!(
                "oidc provider {id}: scopes must include \"openid\""
            ));
        }
        if scopes
            .iter()
            .any(|scope| scope.is_empty() || scope.contains(char::is_whitespace))
        {
            return Err(format!(
                "oidc provider {id}: a scope is empty or holds a space"
            ));
        }
        if let Some(group) = &raw.register_group
            && hearth_model::GroupId::new(group).is_err()
        {
            return Err(format!(
                "oidc provider {id}: register_group {group:?} is not a group id"
            ));
        }
        Ok(ProviderConfig {
            name: raw.name.unwrap_or_else(|| id.clone()),
            id,
            issuer,
            client_id: raw.client_id,
            client_secret: raw.client_secret,
            client_secret_file: raw.client_secret_file,
            scopes,
            username_claim: raw.username_claim.unwrap_or_default(),
            allow_registration: raw.allow_registration.unwrap_or(false),
            register_group: raw.register_group,
            register_role: raw.register_role.unwrap_or(Role::Viewer),
        })
    }
}

impl OidcConfig {
    /// What serde cannot check: ids unique, `public_url` an address.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(url) = &self.public_url
            && (!(url.starts_with("https://") || url.starts_with("http://"))
                || url.trim_end_matches('/').matches('/').count() > 2)
        {
            return Err(format!(
                "oidc: public_url {url:?} must be http(s)://host[:port] without a path"
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for provider in &self.providers {
            if !seen.insert(provider.id.as_str()) {
                return Err(format!("oidc: provider id {:?} is used twice", provider.id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Doc {
        oidc: OidcConfig,
    }

    #[test]
    fn a_provider_is_read_with_defaults_and_mistakes_name_their_line() {
        let doc: Doc = toml::from_str(
            "[[oidc.providers]]\nid = \"kc\"\nissuer = \"https://id.example.org/realms/home/\"\n\
             client_id = \"hearth\"\nclient_secret = \"s\"\n",
        )
        .unwrap();
        let provider = &doc.oidc.providers[0];
        assert_eq!(provider.issuer, "https://id.example.org/realms/home/");
        assert_eq!(provider.name, "kc");
        assert_eq!(provider.scopes, ["openid", "email", "profile"]);
        assert!(!provider.allow_registration);
        assert_eq!(provider.register_role, Role::Viewer);
        for (text, wanted) in [
            (
                "id = \"Kc\"\nissuer = \"https://a\"\nclient_id = \"c\"\nclient_secret = \"s\"",
                "lowercase",
            ),
            (
                "id = \"kc\"\nissuer = \"http://id.example.org\"\nclient_id = \"c\"\nclient_secret = \"s\"",
                "https://",
            ),
            (
                "id = \"kc\"\nissuer = \"https://a\"\nclient_id = \"c\"",
                "client_secret or client_secret_file",
            ),
            (
                "id = \"kc\"\nissuer = \"https://a\"\nclient_id = \"c\"\nclient_secret = \"s\"\nscopes = [\"email\"]",
                "openid",
            ),
            (
                "id = \"kc\"\nissuer = \"https://a\"\nclient_id = \"c\"\nclient_secret = \"s\"\nlisten = 1",
                "unknown field",
            ),
        ] {
            let text = format!("[oidc]\n\n[[oidc.providers]]\n{text}\n");
            let error = toml::from_str::<Doc>(&text).err().unwrap();
            assert!(error.message().contains(wanted), "{wanted}: {error}");
            let span = error.span().unwrap();
            let line = text[..span.start].matches('\n').count() + 1;
            assert!(line >= 3, "{wanted}: line {line}");
        }
        assert!(!format!("{provider:?}").contains("\"s\""), "{provider:?}");
        assert!(allowed_url("http://127.0.0.1:9000/x"));
        assert!(allowed_url("http://[::1]:9000"));
        assert!(allowed_url("http://localhost:1"));
        assert!(!allowed_url("http://10.0.0.1/"));
    }
}
