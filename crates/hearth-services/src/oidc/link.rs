//! Which person a verified ID token is: the rules of linking and registering.
//!
//! 1. A stored link (`user_identities`: provider and `sub`) names the person.
//! 2. Otherwise an `email` the provider marks verified (`email_verified` true) that is
//!    the stored address of exactly one person links to that person, unless they are
//!    already linked to another subject of the same provider (one account there is
//!    theirs; a second one with the same address does not become them too).
//! 3. Otherwise, when the provider's `allow_registration` is set, a new person is made,
//!    named by the configured claim; a name already taken is refused, never linked (a
//!    provider's user name says nothing about who holds the Hearth account).
//! 4. Otherwise the sign-in is refused.
//!
//! Every link is written with a `user.identity_link` audit entry, every sign-in with
//! `user.sign_in` (`hearth_store::IdentityStore`).

use super::OidcError;
use super::config::{ProviderConfig, UsernameClaim};
use crate::registry::{NewUser, Registry};
use hearth_model::{GroupId, NewAuditEntry, User, UserName, now_millis};
use hearth_store::{Store, StoreError, UserIdentity};
use serde_json::{Map, Value};

/// What the ID token says about the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    pub name: Option<String>,
}

impl Person {
    pub fn from_claims(claims: &Map<String, Value>) -> Person {
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        Person {
            subject: text("sub").unwrap_or_default(),
            email: text("email"),
            // Some providers send the boolean as a string.
            email_verified: matches!(claims.get("email_verified"), Some(Value::Bool(true)))
                || claims.get("email_verified").and_then(Value::as_str) == Some("true"),
            preferred_username: text("preferred_username"),
            name: text("name"),
        }
    }
}

/// The name a registering person gets from `claim`: letters, digits, `-`, `_` and `.`
/// kept, anything else turned into `-`, at most 64 characters.
pub fn registration_name(person: &Person, claim: UsernameClaim) -> Option<String> {
    let raw = match claim {
        UsernameClaim::PreferredUsername => person.preferred_username.clone()?,
        UsernameClaim::Email => person.email.as_deref()?.split('@').next()?.to_owned(),
        UsernameClaim::Sub => person.subject.clone(),
    };
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_start_matches(['-', '.']);
    let name: String = name.chars().take(64).collect();
    UserName::new(&name).ok().map(|_| name)
}

fn store_error(error: StoreError) -> OidcError {
    OidcError::Internal(error.to_string())
}

/// The person `person` signs in as through `provider`, linking or registering by the
/// rules above, with the sign-in recorded.
pub async fn resolve(
    store: &dyn Store,
    registry: &Registry,
    provider: &ProviderConfig,
    person: &Person,
) -> Result<User, OidcError> {
    let actor = format!("oidc:{}", provider.id);
    let now = now_millis();
    let signed_in = |user: Option<UserName>| async move {
        match user {
            Some(name) => store.user(&name).await.map(Some).map_err(store_error),
            None => Ok(None),
        }
    };
    let known = store
        .sign_in_identity(&provider.id, &person.subject, now, &actor)
        .await
        .map_err(store_error)?;
    if let Some(user) = signed_in(known).await? {
        return Ok(user);
    }
    let link = |user: UserName| UserIdentity {
        provider: provider.id.clone(),
        subject: person.subject.clone(),
        user,
        email: person.email.clone().filter(|_| person.email_verified),
        created_at_ms: now,
        last_used_ms: now,
    };
    if let (Some(email), true) = (&person.email, person.email_verified) {
        let owners = store.users_with_email(email).await.map_err(store_error)?;
        if let [owner] = owners.as_slice() {
            let linked_here = store
                .identities_of(owner)
                .await
                .map_err(store_error)?
                .iter()
                .any(|identity| identity.provider == provider.id);
            if linked_here {
                return Err(OidcError::AlreadyLinked);
            }
            save_link(store, &actor, &link(owner.clone()), "verified e-mail").await?;
            return finish(store, provider, person, &actor).await;
        }
    }
    if !provider.allow_registration {
        return Err(if person.email.is_some() && !person.email_verified {
            OidcError::EmailUnverified
        } else {
            OidcError::NoAccount
        });
    }
    let Some(name) = registration_name(person, provider.username_claim) else {
        return Err(OidcError::BadName);
    };
    let name = UserName::new(&name).map_err(|_| OidcError::BadName)?;
    let added = registry
        .add_user(
            &actor,
            NewUser {
                name: name.clone(),
                password: None,
                display_name: person.name.clone().map(|n| n.chars().take(100).collect()),
                email: person.email.clone().filter(|_| person.email_verified),
                language: None,
                is_admin: false,
            },
        )
        .await;
    match added {
        Ok(_) => {}
        Err(crate::registry::RegistryError::Store(StoreError::Conflict { .. })) => {
            return Err(OidcError::NameTaken(name.to_string()));
        }
        Err(error) => return Err(OidcError::Internal(error.to_string())),
    }
    if let Some(group) = &provider.register_group {
        let group = GroupId::new(group).map_err(|error| OidcError::Internal(error.why.into()))?;
        registry
            .set_member(&actor, &group, &name, provider.register_role)
            .await
            .map_err(|error| OidcError::Internal(format!("joining {group}: {error}")))?;
    }
    save_link(store, &actor, &link(name), "registration").await?;
    finish(store, provider, person, &actor).await
}

async fn save_link(
    store: &dyn Store,
    actor: &str,
    identity: &UserIdentity,
    how: &str,
) -> Result<(), OidcError> {
    let audit = NewAuditEntry::new(actor, "user.identity_link", &identity.user).with_detail(
        serde_json::json!({ "provider": identity.provider, "subject": identity.subject, "by": how }),
    );
    match store.link_identity(identity, &audit).await {
        Ok(()) => Ok(()),
        // Another sign-in of the same person linked it a moment ago: theirs stands.
        Err(StoreError::Conflict { .. }) => Ok(()),
        Err(error) => Err(store_error(error)),
    }
}

/// After a link: the sign-in through it (recorded like every other).
async fn finish(
    store: &dyn Store,
    provider: &ProviderConfig,
    person: &Person,
    actor: &str,
) -> Result<User, OidcError> {
    let user = store
        .sign_in_identity(&provider.id, &person.subject, now_millis(), actor)
        .await
        .map_err(store_error)?
        .ok_or_else(|| OidcError::Internal("the link just made is gone".into()))?;
    store.user(&user).await.map_err(store_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_names_follow_the_claim_and_the_id_rules() {
        let person = Person::from_claims(
            serde_json::json!({"sub": "248289761001", "email": "Jane.Doe+x@Example.org",
                "email_verified": "true", "preferred_username": "Jane Doe"})
            .as_object()
            .unwrap(),
        );
        assert!(person.email_verified);
        assert_eq!(
            registration_name(&person, UsernameClaim::PreferredUsername).as_deref(),
            Some("jane-doe")
        );
        assert_eq!(
            registration_name(&person, UsernameClaim::Email).as_deref(),
            Some("jane.doe-x")
        );
        assert_eq!(
            registration_name(&person, UsernameClaim::Sub).as_deref(),
            Some("248289761001")
        );
        let unverified = Person::from_claims(
            serde_json::json!({"sub": "s", "email": "a@b", "email_verified": false})
                .as_object()
                .unwrap(),
        );
        assert!(!unverified.email_verified);
        assert_eq!(
            registration_name(&unverified, UsernameClaim::PreferredUsername),
            None
        );
    }
}
