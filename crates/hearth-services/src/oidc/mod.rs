//! Signing in with an OpenID Connect provider (issue 23, docs/onboarding.md "Signing in
//! with an identity provider"): the authorization code flow with PKCE (S256), state and
//! nonce, for the providers of `[[oidc.providers]]`.
//!
//! - `config`: [`OidcConfig`], checked as it is read.
//! - `flow`: the sign-in's state, nonce and PKCE verifier in a MAC'd cookie.
//! - `provider`: discovery, the provider's keys (cached), the token endpoint.
//! - `jwt`: the ID token's signature and claims.
//! - `link`: which person the token is (stored link, verified e-mail, registration).
//!
//! The HTTP side (`/api/v1/auth/oidc/...`, the session cookie) is hearth-api's
//! `routes/oidc.rs`; this module never sees a request.
//!
//! # Dependencies
//! No OIDC or JWT crate: the ID token is a JWS checked with ring (RS256 with
//! `RsaPublicKeyComponents`, ES256 with `ECDSA_P256_SHA256_FIXED`), which the build
//! already has through rustls and Web Push; the HTTP requests go through
//! [`crate::outbound::HttpClient`] (hyper and rustls, already here for webhooks).
//! `openidconnect` brings oauth2, reqwest and its own crypto stack; `jsonwebtoken` 10+
//! brings either aws-lc (which this project keeps out) or RustCrypto's `rsa`, `p256`,
//! `p384`, `ed25519-dalek` and `hmac` for two algorithms ring already verifies. What
//! Hearth does itself is small and tested: splitting a compact JWS, refusing every
//! algorithm but RS256 and ES256, matching a key to the algorithm, and the claim checks
//! of OIDC Core 3.1.3.7.

pub mod config;
pub mod flow;
pub mod jwt;
pub mod link;
pub mod provider;

pub use config::{OidcConfig, ProviderConfig, UsernameClaim};
pub use flow::{FLOW_COOKIE, FLOW_TTL_MS, Flow, safe_return_path};

use crate::outbound::HttpClient;
use crate::registry::Registry;
use hearth_model::User;
use hearth_store::Store;
use provider::Provider;
use std::sync::Arc;

/// Why a sign-in failed. [`OidcError::code`] is what the browser is told (the web app
/// words it); the rest goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("no provider with that id")]
    UnknownProvider,
    #[error("the sign-in cookie is missing, altered or expired")]
    NoFlow,
    #[error("the state sent back is not this browser's sign-in")]
    StateMismatch,
    #[error("the provider answered with error {0}")]
    Denied(String),
    #[error("the token endpoint refused the code: {0}")]
    Refused(String),
    #[error("the provider cannot be reached or answered nonsense: {0}")]
    Unreachable(String),
    #[error("the ID token is not valid: {0}")]
    Token(#[from] jwt::TokenError),
    #[error("the e-mail address is not verified by the provider and no link exists")]
    EmailUnverified,
    #[error("no account is linked and registration through this provider is off")]
    NoAccount,
    #[error(
        "the account with this e-mail address is already linked to another account at this provider"
    )]
    AlreadyLinked,
    #[error("the name {0} is taken")]
    NameTaken(String),
    #[error("the provider gave no usable name for a new account")]
    BadName,
    #[error("{0}")]
    Internal(String),
}

impl OidcError {
    /// A stable code for the web app (`/login?oidc_error=<code>`).
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::UnknownProvider => "unknown_provider",
            OidcError::NoFlow => "flow_expired",
            OidcError::StateMismatch => "state_mismatch",
            OidcError::Denied(_) => "denied",
            OidcError::Refused(_) => "provider_refused",
            OidcError::Unreachable(_) => "provider_unreachable",
            OidcError::Token(_) => "token_invalid",
            OidcError::EmailUnverified => "email_unverified",
            OidcError::NoAccount => "no_account",
            OidcError::AlreadyLinked => "already_linked",
            OidcError::NameTaken(_) => "name_taken",
            OidcError::BadName => "bad_name",
            OidcError::Internal(_) => "internal",
        }
    }

    /// The provider's own error code, when it gave one (`invalid_grant`): safe to show.
    pub fn provider_code(&self) -> Option<&str> {
        match self {
            OidcError::Denied(code) | OidcError::Refused(code) => Some(code),
            _ => None,
        }
    }
}

/// What the provider sent back to the callback.
#[derive(Debug, Default, Clone)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// A finished sign-in: who, and where the web app goes next.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    /// The hub path the sign-in was started from (checked), if any.
    pub return_to: Option<String>,
}

/// The configured providers and what sign-ins need.
pub struct Oidc {
    providers: Vec<Arc<Provider>>,
    public_url: Option<String>,
    store: Arc<dyn Store>,
    registry: Registry,
}

impl Oidc {
    /// Reads each provider's secret (`client_secret_file`'s first line); `Err` names the
    /// provider and the file.
    pub fn new(
        config: &OidcConfig,
        store: Arc<dyn Store>,
        registry: Registry,
        http: HttpClient,
    ) -> Result<Oidc, String> {
        config.validate()?;
        let mut providers = Vec::new();
        for provider in &config.providers {
            let secret = match (&provider.client_secret, &provider.client_secret_file) {
                (Some(secret), _) => secret.clone(),
                (None, Some(file)) => std::fs::read_to_string(file)
                    .map_err(|error| {
                        format!(
                            "oidc provider {}: client_secret_file {}: {error}",
                            provider.id,
                            file.display()
                        )
                    })?
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_owned(),
                (None, None) => String::new(),
            };
            if secret.is_empty() {
                return Err(format!(
                    "oidc provider {}: the client secret is empty",
                    provider.id
                ));
            }
            providers.push(Arc::new(Provider::new(
                provider.clone(),
                secret,
                http.clone(),
            )));
        }
        Ok(Oidc {
            providers,
            public_url: config
                .public_url
                .as_ref()
                .map(|url| url.trim_end_matches('/').to_owned()),
            store,
            registry,
        })
    }

    /// `(id, display name)` of each provider, in the configured order.
    pub fn list(&self) -> Vec<(String, String)> {
        self.providers
            .iter()
            .map(|provider| (provider.config.id.clone(), provider.config.name.clone()))
            .collect()
    }

    /// `[oidc] public_url`, without a trailing `/`.
    pub fn public_url(&self) -> Option<&str> {
        self.public_url.as_deref()
    }

    fn provider(&self, id: &str) -> Result<&Arc<Provider>, OidcError> {
        self.providers
            .iter()
            .find(|provider| provider.config.id == id)
            .ok_or(OidcError::UnknownProvider)
    }

    /// Starts a sign-in: the provider's authorization URL to send the browser to and
    /// the flow cookie's value. `return_to` (a hub path, else dropped) is where the
    /// browser goes once signed in.
    pub async fn start(
        &self,
        id: &str,
        redirect_uri: &str,
        return_to: Option<&str>,
    ) -> Result<(String, String), OidcError> {
        let provider = self.provider(id)?;
        let metadata = provider.metadata().await?;
        let mut flow = Flow::new(id, redirect_uri, hearth_model::now_millis());
        flow.return_to = return_to.and_then(flow::safe_return_path);
        let mut url = metadata.authorization_endpoint.clone();
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(
            &form_urlencoded::Serializer::new(String::new())
                .append_pair("response_type", "code")
                .append_pair("client_id", &provider.config.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("scope", &provider.config.scopes.join(" "))
                .append_pair("state", &flow.state)
                .append_pair("nonce", &flow.nonce)
                .append_pair("code_challenge", &flow::challenge(&flow.verifier))
                .append_pair("code_challenge_method", "S256")
                .finish(),
        );
        let cookie = flow.seal(&flow::cookie_key(&provider.client_secret));
        Ok((url, cookie))
    }

    /// Finishes a sign-in at the callback: checks the flow cookie and the state,
    /// exchanges the code, verifies the ID token and finds (links, registers) the
    /// person.
    pub async fn finish(
        &self,
        id: &str,
        cookie: Option<&str>,
        callback: &Callback,
    ) -> Result<SignedIn, OidcError> {
        let provider = self.provider(id)?;
        let flow = cookie
            .and_then(|cookie| {
                Flow::open(
                    cookie,
                    &flow::cookie_key(&provider.client_secret),
                    hearth_model::now_millis(),
                )
            })
            .filter(|flow| flow.provider == id)
            .ok_or(OidcError::NoFlow)?;
        let state = callback.state.as_deref().unwrap_or("");
        if !jwt::ring_eq(state.as_bytes(), flow.state.as_bytes()) {
            return Err(OidcError::StateMismatch);
        }
        if let Some(error) = &callback.error {
            let code: String = error
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(40)
                .collect();
            return Err(OidcError::Denied(code));
        }
        let code = callback
            .code
            .as_deref()
            .filter(|code| !code.is_empty())
            .ok_or_else(|| OidcError::Denied("no_code".into()))?;
        let id_token = provider
            .exchange(code, &flow.redirect_uri, &flow.verifier)
            .await?;
        let claims = provider.verify(&id_token, &flow.nonce).await?;
        let person = link::Person::from_claims(&claims);
        let user = link::resolve(&*self.store, &self.registry, &provider.config, &person).await?;
        Ok(SignedIn {
            user,
            return_to: flow.return_to,
        })
    }
}
