//! A small OpenID Connect provider for the sign-in tests, on 127.0.0.1 and port 0:
//! discovery, JWKS, an authorization endpoint that signs the configured person in at
//! once (redirecting back with a code), and a token endpoint that checks the client's
//! secret, the code (single use, ten-second life unless told otherwise), the redirect
//! URI and the PKCE verifier, then returns an ID token signed RS256 with a 2048-bit RSA
//! key made for the test by `openssl genpkey`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "hearth-test";
pub const CLIENT_SECRET: &str = "test-client-secret-0123456789";

/// Who the provider signs in next, and how it misbehaves.
#[derive(Debug, Clone)]
pub struct Person {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    /// `aud` of the ID token (default: the client id).
    pub audience: Option<String>,
    /// Sign with a key the JWKS does not hold (same `kid`).
    pub forge_signature: bool,
    /// Codes issued from now on have already expired.
    pub expired_codes: bool,
}

impl Person {
    pub fn new(sub: &str) -> Person {
        Person {
            sub: sub.into(),
            email: None,
            email_verified: false,
            preferred_username: None,
            audience: None,
            forge_signature: false,
            expired_codes: false,
        }
    }
}

struct Code {
    nonce: String,
    challenge: String,
    redirect_uri: String,
    person: Person,
    expires_at_ms: i64,
    used: bool,
}

struct Inner {
    issuer: String,
    key: RsaKeyPair,
    other_key: RsaKeyPair,
    person: Mutex<Person>,
    codes: Mutex<HashMap<String, Code>>,
    /// Token requests refused, by error code.
    pub refusals: Mutex<Vec<String>>,
}

/// The running provider (stopped when the test's runtime ends).
#[derive(Clone)]
pub struct Provider(Arc<Inner>);

/// A fresh 2048-bit RSA key from openssl.
fn rsa_key() -> RsaKeyPair {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("key.der");
    let status = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .args(["-outform", "DER", "-out"])
        .arg(&path)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success());
    // OpenSSL 3 writes a DER RSA key in PKCS#1 form (RSAPrivateKey).
    RsaKeyPair::from_der(&std::fs::read(&path).unwrap()).unwrap()
}

fn now_ms() -> i64 {
    hearth_model::now_millis()
}

impl Provider {
    pub async fn start() -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let inner = Arc::new(Inner {
            issuer,
            key: rsa_key(),
            other_key: rsa_key(),
            person: Mutex::new(Person::new("nobody")),
            codes: Mutex::new(HashMap::new()),
            refusals: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Provider(inner)
    }

    pub fn issuer(&self) -> String {
        self.0.issuer.clone()
    }

    /// The person signed in at the next authorization.
    pub fn sign_in_as(&self, person: Person) {
        *self.0.person.lock().unwrap() = person;
    }

    /// The token endpoint's refusals so far (`invalid_grant`, ...).
    pub fn refusals(&self) -> Vec<String> {
        self.0.refusals.lock().unwrap().clone()
    }
}

async fn discovery(State(inner): State<Arc<Inner>>) -> axum::Json<Value> {
    let issuer = &inner.issuer;
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    }))
}

async fn jwks(State(inner): State<Arc<Inner>>) -> axum::Json<Value> {
    let public: RsaPublicKeyComponents<Vec<u8>> = inner.key.public().into();
    axum::Json(json!({"keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "test-1",
        "n": URL_SAFE_NO_PAD.encode(&public.n),
        "e": URL_SAFE_NO_PAD.encode(&public.e),
    }]}))
}

fn params(query: &str) -> HashMap<String, String> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// Signs the configured person in at once and sends the browser back with a code.
async fn authorize(State(inner): State<Arc<Inner>>, RawQuery(query): RawQuery) -> Response {
    let query = params(&query.unwrap_or_default());
    let get = |name: &str| query.get(name).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID
        || get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || !get("scope").split(' ').any(|scope| scope == "openid")
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let person = inner.person.lock().unwrap().clone();
    let code = format!("code-{}", URL_SAFE_NO_PAD.encode(rand_bytes()));
    let expires_at_ms = if person.expired_codes {
        now_ms() - 1
    } else {
        now_ms() + 10_000
    };
    inner.codes.lock().unwrap().insert(
        code.clone(),
        Code {
            nonce: get("nonce"),
            challenge: get("code_challenge"),
            redirect_uri: get("redirect_uri"),
            person,
            expires_at_ms,
            used: false,
        },
    );
    let location = format!(
        "{}?{}",
        get("redirect_uri"),
        form_urlencoded::Serializer::new(String::new())
            .append_pair("code", &code)
            .append_pair("state", &get("state"))
            .finish()
    );
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

fn rand_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
    bytes
}

fn refuse(inner: &Inner, code: &str) -> Response {
    inner.refusals.lock().unwrap().push(code.to_owned());
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": code}))).into_response()
}

fn sign(key: &RsaKeyPair, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT","kid":"test-1"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{payload}");
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signed.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The token endpoint: client_secret_basic, then the code's checks, then the ID token.
async fn token(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: String) -> Response {
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return refuse(&inner, "invalid_client");
    }
    let form = params(&body);
    let get = |name: &str| form.get(name).cloned().unwrap_or_default();
    if get("grant_type") != "authorization_code" {
        return refuse(&inner, "unsupported_grant_type");
    }
    let (nonce, person) = {
        let mut codes = inner.codes.lock().unwrap();
        let Some(code) = codes.get_mut(&get("code")) else {
            return refuse(&inner, "invalid_grant");
        };
        if code.used || code.expires_at_ms <= now_ms() {
            code.used = true;
            drop(codes);
            return refuse(&inner, "invalid_grant");
        }
        code.used = true;
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(get("code_verifier").as_bytes()));
        if challenge != code.challenge || get("redirect_uri") != code.redirect_uri {
            drop(codes);
            return refuse(&inner, "invalid_grant");
        }
        (code.nonce.clone(), code.person.clone())
    };
    let now = now_ms() / 1000;
    let mut claims = json!({
        "iss": inner.issuer,
        "sub": person.sub,
        "aud": person.audience.clone().unwrap_or_else(|| CLIENT_ID.to_owned()),
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
    });
    if let Some(email) = &person.email {
        claims["email"] = json!(email);
        claims["email_verified"] = json!(person.email_verified);
    }
    if let Some(name) = &person.preferred_username {
        claims["preferred_username"] = json!(name);
    }
    let key = if person.forge_signature {
        &inner.other_key
    } else {
        &inner.key
    };
    axum::Json(json!({
        "access_token": "unused",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": sign(key, &claims),
    }))
    .into_response()
}
