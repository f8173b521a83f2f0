//! Login sessions and personal API tokens (the HTTP API's `AuthStore`).

use super::*;
use hearth_store::{ApiToken, AuditFilter, Session};

both_backends!(
    sessions_expire_slide_and_end,
    tokens_are_found_by_hash_listed_and_revoked,
    sessions_and_tokens_go_with_their_user,
);

fn session(hash: &str, user: &str, now: i64) -> Session {
    Session {
        id_hash: hash.into(),
        user: uname(user),
        created_at_ms: now,
        expires_at_ms: now + 1_000,
        last_seen_ms: now,
    }
}

fn token(id: &str, user: &str, created: i64, expires: Option<i64>) -> ApiToken {
    ApiToken {
        id: id.into(),
        user: uname(user),
        name: format!("token {id}"),
        created_at_ms: created,
        expires_at_ms: expires,
        last_used_ms: None,
    }
}

async fn sessions_expire_slide_and_end(store: Arc<dyn Store>) {
    store
        .create_user(&user("alice", false), "h", &audit("user.add", "alice"))
        .await
        .unwrap();
    let unknown = store.create_session(&session("x", "bob", 10)).await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound { what: "user", .. })),
        "{unknown:?}"
    );
    store
        .create_session(&session("s1", "alice", 10))
        .await
        .unwrap();
    store
        .create_session(&session("s2", "alice", 10))
        .await
        .unwrap();
    assert_eq!(store.session("s1", 500).await.unwrap().user, uname("alice"));
    assert!(matches!(
        store.session("s1", 1_010).await,
        Err(StoreError::NotFound { .. })
    ));
    store.touch_session("s1", 900, 5_000).await.unwrap();
    let slid = store.session("s1", 1_010).await.unwrap();
    assert_eq!((slid.last_seen_ms, slid.expires_at_ms), (900, 5_000));
    assert_eq!(
        store
            .delete_sessions_of(&uname("alice"), Some("s1"))
            .await
            .unwrap(),
        vec!["s2".to_owned()]
    );
    assert!(store.session("s2", 500).await.is_err());
    store.delete_session("s1").await.unwrap();
    assert!(matches!(
        store.delete_session("s1").await,
        Err(StoreError::NotFound { .. })
    ));
    store
        .create_session(&session("s3", "alice", 10))
        .await
        .unwrap();
    assert_eq!(store.prune_auth(2_000).await.unwrap(), 1);
}

async fn tokens_are_found_by_hash_listed_and_revoked(store: Arc<dyn Store>) {
    store
        .create_user(&user("alice", false), "h", &audit("user.add", "alice"))
        .await
        .unwrap();
    store
        .create_user(&user("bob", false), "h", &audit("user.add", "bob"))
        .await
        .unwrap();
    let before = store.last_audit_seq().await.unwrap();
    store
        .create_token(
            &token("tok_a", "alice", 1, None),
            "ha",
            &audit("token.add", "alice"),
        )
        .await
        .unwrap();
    store
        .create_token(
            &token("tok_b", "alice", 2, Some(100)),
            "hb",
            &audit("token.add", "alice"),
        )
        .await
        .unwrap();
    let taken = store
        .create_token(
            &token("tok_a", "bob", 3, None),
            "hc",
            &audit("token.add", "bob"),
        )
        .await;
    assert!(
        matches!(taken, Err(StoreError::Conflict { .. })),
        "{taken:?}"
    );
    assert_eq!(
        store.last_audit_seq().await.unwrap(),
        before + 2,
        "failed add not audited"
    );
    let listed: Vec<String> = store
        .tokens_of(&uname("alice"))
        .await
        .unwrap()
        .into_iter()
        .map(|token| token.id)
        .collect();
    assert_eq!(listed, ["tok_b", "tok_a"], "newest first");
    assert_eq!(store.token_by_hash("ha", 50).await.unwrap().id, "tok_a");
    assert!(store.token_by_hash("hb", 100).await.is_err(), "expired");
    assert!(store.token_by_hash("nope", 0).await.is_err());
    store.touch_token("tok_a", 77).await.unwrap();
    assert_eq!(
        store.token_by_hash("ha", 80).await.unwrap().last_used_ms,
        Some(77)
    );
    let not_theirs = store
        .delete_token(&uname("bob"), "tok_a", &audit("token.remove", "bob"))
        .await;
    assert!(matches!(not_theirs, Err(StoreError::NotFound { .. })));
    store
        .delete_token(&uname("alice"), "tok_a", &audit("token.remove", "alice"))
        .await
        .unwrap();
    assert!(store.token_by_hash("ha", 80).await.is_err());
    let log = store
        .audit(&AuditFilter {
            actor: Some("cli:test".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(log[0].action, "token.remove");
}

async fn sessions_and_tokens_go_with_their_user(store: Arc<dyn Store>) {
    store
        .create_user(&user("alice", false), "h", &audit("user.add", "alice"))
        .await
        .unwrap();
    store
        .create_session(&session("s1", "alice", 10))
        .await
        .unwrap();
    store
        .create_token(
            &token("tok_a", "alice", 1, None),
            "ha",
            &audit("token.add", "alice"),
        )
        .await
        .unwrap();
    store
        .delete_user(&uname("alice"), &audit("user.remove", "alice"))
        .await
        .unwrap();
    assert!(store.session("s1", 20).await.is_err());
    assert!(store.token_by_hash("ha", 20).await.is_err());
}
