//! Signing in with an OpenID Connect provider (issue 23) against a real provider on
//! loopback (`oidc_provider.rs`: discovery, JWKS, RS256 ID tokens from an RSA key made
//! for the test), the browser's steps made one by one: the hub's `start`, the
//! provider's authorization page, the hub's `callback` with the flow cookie.

use super::oidc_provider::{self, Person, Provider};
use super::*;
use hearth_model::{GroupId, Role};
use hearth_services::oidc::{Oidc, OidcConfig, ProviderConfig};

both_backends!(
    a_verified_email_links_and_then_the_subject_signs_in,
    the_state_binds_the_callback_to_the_browser_that_started,
    expired_and_replayed_codes_are_refused_by_the_provider_and_shown,
    forged_signatures_and_other_audiences_are_refused,
    an_unverified_email_is_not_linked,
    without_registration_an_unknown_person_is_refused,
    with_registration_a_new_person_joins_the_configured_group,
    the_browser_returns_only_to_a_path_of_the_hub,
);

const START: &str = "/api/v1/auth/oidc/test/start";

async fn hub(store: Arc<dyn Store>, provider: &Provider, extra: Value) -> Hub {
    let mut config = json!({
        "id": "test",
        "name": "Test ID",
        "issuer": provider.issuer(),
        "client_id": oidc_provider::CLIENT_ID,
        "client_secret": oidc_provider::CLIENT_SECRET,
    });
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    let provider: ProviderConfig = serde_json::from_value(config).unwrap();
    start_with(store, move |state| {
        let oidc = Oidc::new(
            &OidcConfig {
                public_url: None,
                providers: vec![provider],
            },
            state.store.clone(),
            state.registry.clone(),
            Default::default(),
        )
        .unwrap();
        state.with_oidc(Arc::new(oidc))
    })
    .await
}

/// A GET of an absolute `http://` URL (the provider's pages).
async fn get_url(url: &str) -> Reply {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header("host", authority)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

/// The value of cookie `name` among a reply's `Set-Cookie` headers.
fn set_cookie(reply: &Reply, name: &str) -> Option<(String, String)> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .find_map(|line| {
            let value = line.strip_prefix(&format!("{name}="))?;
            Some((value.split(';').next().unwrap().to_owned(), line.clone()))
        })
}

/// A browser's trip: the hub's start, the provider's page; the callback's path and
/// the flow cookie (not yet sent back).
async fn to_provider_and_back(hub: &Hub) -> (String, String) {
    to_provider_and_back_from(hub, START).await
}

/// [`to_provider_and_back`] from a given start URL (with its query).
async fn to_provider_and_back_from(hub: &Hub, start: &str) -> (String, String) {
    let start = hub.get(start, &Auth::None).await;
    assert_eq!(start.status, 303, "{:?}", start.body);
    let (flow, line) = set_cookie(&start, "hearth_oidc").expect("the flow cookie");
    assert!(
        line.contains("HttpOnly") && line.contains("SameSite=Lax"),
        "{line}"
    );
    assert!(line.contains("Path=/api/v1/auth/oidc/"), "{line}");
    let authorize = start.header("location").unwrap();
    assert!(authorize.contains("code_challenge_method=S256") && authorize.contains("nonce="));
    let back = get_url(&authorize).await;
    assert_eq!(back.status, 302, "{:?}", back.body);
    let callback = back.header("location").unwrap();
    let path = callback
        .strip_prefix(&format!("http://{}", hub.address))
        .unwrap_or_else(|| panic!("the redirect URI is the hub's: {callback}"))
        .to_owned();
    (path, flow)
}

async fn callback(hub: &Hub, path: &str, flow: &str) -> Reply {
    let cookie = format!("hearth_oidc={flow}");
    hub.send("GET", path, &Auth::None, &[("cookie", &cookie)], None)
        .await
}

/// Signs in through the provider; the session cookie, or the login page's query.
async fn sign_in(hub: &Hub) -> Result<Auth, String> {
    let (path, flow) = to_provider_and_back(hub).await;
    let reply = callback(hub, &path, &flow).await;
    assert_eq!(reply.status, 303);
    let location = reply.header("location").unwrap();
    // The flow cookie is cleared either way.
    let (cleared, _) = set_cookie(&reply, "hearth_oidc").unwrap();
    assert_eq!(cleared, "");
    match set_cookie(&reply, "hearth_session") {
        Some((session, line)) => {
            assert_eq!(location, "/");
            assert!(
                line.contains("HttpOnly") && line.contains("SameSite=Lax"),
                "{line}"
            );
            Ok(Auth::Cookie(session))
        }
        None => Err(location
            .strip_prefix("/login?")
            .unwrap_or(&location)
            .to_owned()),
    }
}

async fn who(hub: &Hub, auth: &Auth) -> String {
    let me = hub.get("/api/v1/auth/me", auth).await;
    assert_eq!(me.status, 200);
    me.json()["user"]["name"].as_str().unwrap().to_owned()
}

async fn add_person(hub: &Hub, name: &str, email: &str) {
    hub.registry
        .add_user(
            "cli:test",
            NewUser {
                password: Some(format!("{name}-password")),
                email: Some(email.into()),
                ..NewUser::new(ids::user(name))
            },
        )
        .await
        .unwrap();
}

fn verified(sub: &str, email: &str) -> Person {
    Person {
        email: Some(email.into()),
        email_verified: true,
        ..Person::new(sub)
    }
}

async fn a_verified_email_links_and_then_the_subject_signs_in(store: Arc<dyn Store>) {
    let provider = Provider::start().await;
    let hub = hub(store.clone(), &provider, json!({})).await;
    // The login page lists the provider, without a login, with nothing secret.
    let list = hub.get("/api/v1/auth/oidc/providers", &Auth::None).await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json(), json!([{"id": "test", "name": "Test ID"}]));
    add_person(&hub, "jane", "jane@example.org").await;
    provider.sign_in_as(verified("sub-jane", "Jane@EXAMPLE.org"));
    let session = sign_in(&hub).await.unwrap();
    assert_eq!(who(&hub, &session).await, "jane");
    let links = store.identities_of(&ids::user("jane")).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(
        (links[0].provider.as_str(), links[0].subject.as_str()),
        ("test", "sub-jane")
    );
    // Later the subject alone names her, whatever the address says now.
    provider.sign_in_as(Person::new("sub-jane"));
    let again = sign_in(&hub).await.unwrap();
    assert_eq!(who(&hub, &again).await, "jane");
    // Her password still works, and the session works like a password login's: a
    // change with it needs the hub's own Origin.
    hub.login("jane", "jane-password").await;
    let Auth::Cookie(value) = &again else {
        unreachable!()
    };
    let cookie = format!("hearth_session={value}");
    let forged = hub
        .send(
            "PATCH",
            "/api/v1/auth/me",
            &Auth::None,
            &[
                ("cookie", &cookie),
                ("origin", "http://evil.example"),
                ("content-type", "application/json"),
            ],
            Some(br#"{"display_name":"x"}"#.to_vec()),
        )
        .await;
    assert_eq!(forged.status, 403);
    // Audited: the link once, each sign-in.
    let audit = store
        .audit(&hearth_store::AuditFilter {
            target: Some("jane".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "user.identity_link")
            .count(),
        1
    );
    assert_eq!(actions.iter().filter(|a| **a == "user.sign_in").count(), 2);
    assert!(
        audit
            .iter()
            .all(|entry| entry.action != "user.sign_in" || entry.actor == "oidc:test")
    );
}

async fn the_state_binds_the_callback_to_the_browser_that_started(store: Arc<dyn Store>) {
    let provider = Provider::start().await;
    let hub = hub(store.clone(), &provider, json!({})).await;
    add_person(&hub, "jane", "jane@example.org").await;
    provider.sign_in_as(verified("sub-jane", "jane@example.org"));
    // A wrong state: the callback with another value than the flow cookie's.
    let (path, flow) = to_provider_and_back(&hub).await;
    let altered = path.replace("state=", "state=x");
    let reply = callback(&hub, &altered, &flow).await;
    assert_eq!(
        reply.header("location").unwrap(),
        "/login?oidc_error=state_mismatch"
    );
    assert!(set_cookie(&reply, "hearth_session").is_none());
    // The victim is sent to the callback with the intruder's code: the victim's own
    // flow cookie (from a sign-in of theirs) does not match the intruder's state.
    let (intruders_path, _intruders_flow) = to_provider_and_back(&hub).await;
    let (_, victims_flow) = to_provider_and_back(&hub).await;
    let reply = callback(&hub, &intruders_path, &victims_flow).await;
    assert_eq!(
        reply.header("location").unwrap(),
        "/login?oidc_error=state_mismatch"
    );
    // No flow cookie at all, or an altered one.
    let reply = hub.get(&intruders_path, &Auth::None).await;
    assert_eq!(
        reply.header("location").unwrap(),
        "/login?oidc_error=flow_expired"
    );
    let (path, flow) = to_provider_and_back(&hub).await;
    let (payload, tag) = flow.split_once('.').unwrap();
    let reply = callback(&hub, &path, &format!("{payload}x.{tag}")).await;
    assert_eq!(
        reply.header("location").unwrap(),
        "/login?oidc_error=flow_expired"
    );
    // None of them reached the token endpoint or linked anyone.
    assert!(provider.refusals().is_empty());
    assert!(
        store
            .identities_of(&ids::user("jane"))
            .await
            .unwrap()
            .is_empty()
    );
    // An unknown provider goes back to the login page.
    let reply = hub.get("/api/v1/auth/oidc/other/start", &Auth::None).await;
    assert_eq!(
        reply.header("location").unwrap(),
        "/login?oidc_error=unknown_provider"
    );
}

async fn expired_and_replayed_codes_are_refused_by_the_provider_and_shown(store: Arc<dyn Store>) {
    let provider = Provider::start().await;
    let hub = hub(store, &provider, json!({})).await;
    add_person(&hub, "jane", "jane@example.org").await;
    provider.sign_in_as(Person {
        expired_codes: true,
        ..verified("sub-jane", "jane@example.org")
    });
    assert_eq!(
        sign_in(&hub).await.unwrap_err(),
        "oidc_error=provider_refused&oidc_detail=invalid_grant"
    );
    provider.sign_in_as(verified("sub-jane", "jane@example.org"));
    let (path, flow) = to_provider_and_back(&hub).await;
    let first = callback(&hub, &path, &flow).await;
    assert!(set_cookie(&first, "hearth_session").is_some());
    // The same code again (a copied URL and cookie): the provider refuses it.
    let replay = callback(&hub, &path, &flow).await;
    assert_eq!(
        replay.header("location").unwrap(),
        "/login?oidc_error=provider_refused&oidc_detail=invalid_grant"
    );
    assert!(set_cookie(&replay, "hearth_session").is_none());
    assert_eq!(provider.refusals(), ["invalid_grant", "invalid_grant"]);
}

async fn forged_signatures_and_other_audiences_are_refused(store: Arc<dyn Store>) {
    let provider = Provider::start().await;
    let hub = hub(store.clone(), &provider, json!({})).await;
    add_person(&hub, "jane", "jane@example.org").await;
    for person in [
        Person {
            forge_signature: true,
            ..verified("sub-jane", "jane@example.org")
        },
        Person {
            audience: Some("another-client".into()),
            ..verified("sub-jane", "jane@example.org")
        },
    ] {
        provider.sign_in_as(person.clone());
        assert_eq!(
            sign_in(&hub).await.unwrap_err(),
            "oidc_error=token_invalid",
            "{person:?}"
        );
    }
    assert!(
        store
            .identities_of(&ids::user("jane"))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn an_unverified_email_is_not_linked(store: Arc<dyn Store>) {
    let provider = Provider::start().await;
    let hub = hub(store.clone(), &provider, json!({})).await;
    add_person(&hub, "jane", "jane@example.org").await;
    provider.sign_in_as(Person {
        email_verified: false,
        ..verified("sub-intruder", "jane@example.org")
    });
    assert_eq!(
        sign_in(&hub).await.unwrap_err(),
        "oidc_error=email_unverified"
    );
    assert!(
        store
            .identities_of(&ids::user("jane"))
            .await
            .unwrap()
            .is_empty()
    );
    // Verified now, but jane is already linked to another subject of this provider:
    // a second account there with her address does not become her too.
    provider.sign_in_as(verified("sub-jane", "jane@example.org"));
    sign_in(&hub).await.unwrap();
    provider.sign_in_as(verified("sub-second", "jane@example.org"));
    assert_eq!(
        sign_in(&hub).await.unwrap_err(),
        "oidc_error=already_linked"
    );
}

async fn without_registration_an_unknown_person_is_refused(store: Arc<dyn Store>) {
    let provider = Provider::start().await;
    let hub = hub(store.clone(), &provider, json!({})).await;
    let before = store.user_count().await.unwrap();
    provider.sign_in_as(Person {
        preferred_username: Some("stranger".into()),
        ..verified("sub-stranger", "stranger@example.org")
    });
    assert_eq!(sign_in(&hub).await.unwrap_err(), "oidc_error=no_account");
    assert_eq!(store.user_count().await.unwrap(), before);
}

async fn with_registration_a_new_person_joins_the_configured_group(store: Arc<dyn Store>) {
    let provider = Provider::start().await;
    let hub = hub(
        store.clone(),
        &provider,
        json!({"allow_registration": true, "register_group": "home", "register_role": "member"}),
    )
    .await;
    provider.sign_in_as(Person {
        preferred_username: Some("Newbie".into()),
        ..verified("sub-newbie", "newbie@example.org")
    });
    let session = sign_in(&hub).await.unwrap();
    assert_eq!(who(&hub, &session).await, "newbie");
    let members = store.members(&GroupId::new("home").unwrap()).await.unwrap();
    let newbie = members
        .iter()
        .find(|m| m.user.as_str() == "newbie")
        .unwrap();
    assert_eq!(newbie.role, Role::Member);
    let user = store.user(&ids::user("newbie")).await.unwrap();
    assert_eq!(user.email.as_deref(), Some("newbie@example.org"));
    assert!(!user.is_admin);
    // A name already taken is refused, never linked to whoever holds it.
    provider.sign_in_as(Person {
        preferred_username: Some("admin".into()),
        ..Person::new("sub-someone")
    });
    assert_eq!(sign_in(&hub).await.unwrap_err(), "oidc_error=name_taken");
    assert!(
        store
            .identities_of(&ids::user("admin"))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn the_browser_returns_only_to_a_path_of_the_hub(store: Arc<dyn Store>) {
    let provider = Provider::start().await;
    let hub = hub(store, &provider, json!({})).await;
    add_person(&hub, "jane", "jane@example.org").await;
    provider.sign_in_as(verified("sub-jane", "jane@example.org"));
    for (return_to, expected) in [
        (
            "%2Fclaim%3Fdevice%3Dd1%26code%3Dabc",
            "/claim?device=d1&code=abc",
        ),
        ("%2F%2Fevil.example%2F", "/"),
        ("https%3A%2F%2Fevil.example%2F", "/"),
        ("%2F%5Cevil.example", "/"),
    ] {
        let (path, flow) =
            to_provider_and_back_from(&hub, &format!("{START}?return_to={return_to}")).await;
        let reply = callback(&hub, &path, &flow).await;
        assert!(
            set_cookie(&reply, "hearth_session").is_some(),
            "{return_to}"
        );
        assert_eq!(reply.header("location").unwrap(), expected, "{return_to}");
    }
}
