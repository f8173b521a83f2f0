//! Login, sessions, logout, tokens, the login rate limit, registration and profile.

use super::*;
use hearth_api::RegistrationMode;

both_backends!(
    login_session_and_logout,
    tokens_are_shown_once_and_revocable,
    failed_logins_are_rate_limited,
    registration_follows_its_mode,
    profile_and_password_change,
);

async fn login_session_and_logout(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let me = hub.get("/api/v1/auth/me", &Auth::None).await;
    assert_eq!((me.status, me.code().as_str()), (401, "unauthenticated"));

    let wrong = hub
        .call(
            "POST",
            "/api/v1/auth/login",
            &Auth::None,
            Some(json!({"username": "admin", "password": "nope"})),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code().as_str()),
        (401, "unauthenticated")
    );
    let unknown = hub
        .call(
            "POST",
            "/api/v1/auth/login",
            &Auth::None,
            Some(json!({"username": "nobody", "password": "nope"})),
        )
        .await;
    assert_eq!(
        unknown.json(),
        wrong.json(),
        "unknown user and wrong password look alike"
    );

    let login = hub
        .call(
            "POST",
            "/api/v1/auth/login",
            &Auth::None,
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(login.status, 200);
    let cookie = login.header("set-cookie").unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "not configured behind TLS");
    assert_eq!(login.json()["user"]["name"], "admin");

    let session = hub.admin().await;
    let me = hub.get("/api/v1/auth/me", &session).await;
    assert_eq!(me.status, 200);
    let me = me.json();
    assert_eq!(me["user"]["is_admin"], true);
    assert_eq!(me["memberships"][0]["group"], "home");
    assert_eq!(me["memberships"][0]["role"], "owner");

    let logout = hub
        .call("POST", "/api/v1/auth/logout", &session, None)
        .await;
    assert_eq!(logout.status, 204);
    assert!(logout.header("set-cookie").unwrap().contains("Max-Age=0"));
    let after = hub.get("/api/v1/auth/me", &session).await;
    assert_eq!(after.status, 401, "the session ended");
    let forged = hub
        .get("/api/v1/auth/me", &Auth::Cookie("00".repeat(32)))
        .await;
    assert_eq!(forged.status, 401);
}

async fn tokens_are_shown_once_and_revocable(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let session = hub.admin().await;
    let created = hub
        .call(
            "POST",
            "/api/v1/tokens",
            &session,
            Some(json!({"name": "backup script", "expires_in_days": 30})),
        )
        .await;
    assert_eq!(created.status, 201);
    let created = created.json();
    let secret = created["token_secret"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("hat_") && secret.len() > 60);

    let bearer = Auth::Bearer(secret.clone());
    let me = hub.get("/api/v1/auth/me", &bearer).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["user"]["name"], "admin");

    let listed = hub.get("/api/v1/tokens", &session).await;
    let listed_text = String::from_utf8_lossy(&listed.body).into_owned();
    assert!(!listed_text.contains(&secret), "the secret is shown once");
    assert_eq!(listed.json()[0]["name"], "backup script");
    assert!(listed.json()[0]["last_used_ms"].is_i64(), "use is recorded");

    let too_long = hub
        .call(
            "POST",
            "/api/v1/tokens",
            &session,
            Some(json!({"name": "x", "expires_in_days": 9999})),
        )
        .await;
    assert_eq!(
        (too_long.status, too_long.field().as_deref()),
        (422, Some("expires_in_days"))
    );

    let revoked = hub
        .call("DELETE", &format!("/api/v1/tokens/{id}"), &session, None)
        .await;
    assert_eq!(revoked.status, 204);
    assert_eq!(hub.get("/api/v1/auth/me", &bearer).await.status, 401);
    let again = hub
        .call("DELETE", &format!("/api/v1/tokens/{id}"), &session, None)
        .await;
    assert_eq!(again.status, 404);
}

async fn failed_logins_are_rate_limited(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let attempt = |password: &'static str| {
        let hub = &hub;
        async move {
            hub.call(
                "POST",
                "/api/v1/auth/login",
                &Auth::None,
                Some(json!({"username": "admin", "password": password})),
            )
            .await
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong").await.status, 401);
    }
    let limited = attempt("wrong").await;
    assert_eq!(
        (limited.status, limited.code().as_str()),
        (429, "rate_limited")
    );
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let right = attempt(ADMIN_PASSWORD).await;
    assert_eq!(right.status, 429, "even the right password waits");
}

async fn registration_follows_its_mode(store: Arc<dyn Store>) {
    let body = json!({"username": "newbie", "password": "long enough pw", "language": "zh-CN"});
    let closed = start(store.clone()).await;
    let refused = closed
        .call(
            "POST",
            "/api/v1/auth/register",
            &Auth::None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (403, "forbidden")
    );
    drop(closed);

    let invite = start_with(store.clone(), |mut state| {
        state.config = Arc::new(ApiConfig {
            registration: RegistrationMode::Invite,
            ..ApiConfig::default()
        });
        state
    })
    .await;
    let refused = invite
        .call(
            "POST",
            "/api/v1/auth/register",
            &Auth::None,
            Some(body.clone()),
        )
        .await;
    assert!(
        refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("administrator")
    );
    drop(invite);

    let open = start_with(store, |mut state| {
        state.config = Arc::new(ApiConfig {
            registration: RegistrationMode::Open,
            secure_cookies: true,
            ..ApiConfig::default()
        });
        state
    })
    .await;
    let short = open
        .call(
            "POST",
            "/api/v1/auth/register",
            &Auth::None,
            Some(json!({"username": "x", "password": "short"})),
        )
        .await;
    assert_eq!(
        (short.status, short.field().as_deref()),
        (422, Some("password"))
    );
    let registered = open
        .call(
            "POST",
            "/api/v1/auth/register",
            &Auth::None,
            Some(body.clone()),
        )
        .await;
    assert_eq!(registered.status, 201);
    assert!(
        registered
            .header("set-cookie")
            .unwrap()
            .contains("; Secure")
    );
    assert_eq!(registered.json()["user"]["language"], "zh-CN");
    assert_eq!(registered.json()["user"]["is_admin"], false);
    let taken = open
        .call("POST", "/api/v1/auth/register", &Auth::None, Some(body))
        .await;
    assert_eq!((taken.status, taken.code().as_str()), (409, "conflict"));
}

async fn profile_and_password_change(store: Arc<dyn Store>) {
    let hub = start(store).await;
    hub.add_user("alice").await;
    let first = hub.login("alice", "alice-password").await;
    let second = hub.login("alice", "alice-password").await;
    let patched = hub
        .call(
            "PATCH",
            "/api/v1/auth/me",
            &first,
            Some(json!({"display_name": "Alice", "email": "a@example.org", "language": "zh-CN"})),
        )
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.json()["user"]["display_name"], "Alice");
    let bad = hub
        .call(
            "PATCH",
            "/api/v1/auth/me",
            &first,
            Some(json!({"email": "nope"})),
        )
        .await;
    assert_eq!((bad.status, bad.field().as_deref()), (422, Some("email")));

    let wrong = hub
        .call(
            "POST",
            "/api/v1/auth/password",
            &first,
            Some(json!({"current": "guess", "new": "a new long password"})),
        )
        .await;
    assert_eq!(wrong.status, 403);
    let short = hub
        .call(
            "POST",
            "/api/v1/auth/password",
            &first,
            Some(json!({"current": "alice-password", "new": "short"})),
        )
        .await;
    assert_eq!((short.status, short.field().as_deref()), (422, Some("new")));
    let changed = hub
        .call(
            "POST",
            "/api/v1/auth/password",
            &first,
            Some(json!({"current": "alice-password", "new": "a new long password"})),
        )
        .await;
    assert_eq!(changed.status, 204);
    assert_eq!(
        hub.get("/api/v1/auth/me", &first).await.status,
        200,
        "this session stays"
    );
    assert_eq!(
        hub.get("/api/v1/auth/me", &second).await.status,
        401,
        "others end"
    );
    hub.login("alice", "a new long password").await;
}
