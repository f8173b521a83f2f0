//! People's links to identity providers (issue 23, migration 0019): one subject one
//! person, a sign-in audited, links gone with their person (so that someone later made
//! with the same name never inherits them), addresses found without regard to case, and
//! the table added to a database that already had a later migration (0020).

use super::*;
use hearth_store::{AuditFilter, EmbeddedMigration, SqliteStore, UserIdentity, migrations};

both_backends!(identity_links_follow_their_person);

fn link(subject: &str, user: &str) -> UserIdentity {
    UserIdentity {
        provider: "kc".into(),
        subject: subject.into(),
        user: uname(user),
        email: Some(format!("{user}@example.org")),
        created_at_ms: 1_000,
        last_used_ms: 1_000,
    }
}

async fn identity_links_follow_their_person(store: Arc<dyn Store>) {
    seed(&store).await;
    assert_eq!(
        store.users_with_email("ALICE@Example.org").await.unwrap(),
        [uname("alice")]
    );
    assert!(
        store
            .users_with_email("bob@example.org")
            .await
            .unwrap()
            .is_empty()
    );
    // Nobody yet: no person, nothing written.
    let seq = store.last_audit_seq().await.unwrap();
    assert_eq!(
        store
            .sign_in_identity("kc", "s-1", 2_000, "oidc:kc")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.last_audit_seq().await.unwrap(), seq);
    store
        .link_identity(&link("s-1", "alice"), &audit("user.identity_link", "alice"))
        .await
        .unwrap();
    // One subject is one person: linking it again (to anyone) is a conflict.
    assert_conflict(
        store
            .link_identity(&link("s-1", "alice"), &audit("user.identity_link", "alice"))
            .await,
        "identity",
        "s-1",
    );
    assert_not_found(
        store
            .link_identity(
                &link("s-2", "nobody"),
                &audit("user.identity_link", "nobody"),
            )
            .await,
        "user",
        "nobody",
    );
    assert_eq!(
        store
            .sign_in_identity("kc", "s-1", 3_000, "oidc:kc")
            .await
            .unwrap(),
        Some(uname("alice"))
    );
    // Another provider's subject of the same value is someone else's.
    assert_eq!(
        store
            .sign_in_identity("google", "s-1", 3_000, "oidc:google")
            .await
            .unwrap(),
        None
    );
    let links = store.identities_of(&uname("alice")).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].last_used_ms, 3_000);
    let entries = store
        .audit(&AuditFilter {
            target: Some("alice".into()),
            action_prefixes: vec!["user.sign_in".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor, "oidc:kc");
    assert_eq!(entries[0].detail["provider"], "kc");
    // Removing alice removes her link; a new alice does not sign in through it.
    store
        .delete_user(&uname("alice"), &audit("user.remove", "alice"))
        .await
        .unwrap();
    store
        .create_user(
            &user("alice", false),
            "hash-2",
            &audit("user.create", "alice"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .sign_in_identity("kc", "s-1", 4_000, "oidc:kc")
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .identities_of(&uname("alice"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A hub that already ran 0020 (leases) gets 0019 at its next start.
#[tokio::test]
async fn identities_arrive_after_a_later_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hearth.db");
    let without: Vec<EmbeddedMigration> = migrations::SQLITE
        .iter()
        .filter(|(version, _, _)| *version != 19)
        .copied()
        .collect();
    let store = SqliteStore::open_with_migrations(&path, &without)
        .await
        .unwrap();
    store.close().await;
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open_with_migrations(&path, migrations::SQLITE)
            .await
            .unwrap(),
    );
    seed(&store).await;
    store
        .link_identity(&link("s-1", "alice"), &audit("user.identity_link", "alice"))
        .await
        .unwrap();
    assert_eq!(store.identities_of(&uname("alice")).await.unwrap().len(), 1);
}
