//! Groups, users, memberships, applications and grants; the first-start owner account.

use super::{Registry, RegistryError, optional_text, text};
use crate::secret;
use hearth_model::{
    AppId, Application, Grant, Group, GroupId, Membership, NewAuditEntry, Permission, Role, User,
    UserName, now_millis,
};
use serde_json::json;

/// A person to add.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub name: UserName,
    /// `None` generates one, returned once.
    pub password: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    pub is_admin: bool,
}

impl NewUser {
    /// A person with only a name: a generated password, not an administrator.
    pub fn new(name: UserName) -> NewUser {
        NewUser {
            name,
            password: None,
            display_name: None,
            email: None,
            language: None,
            is_admin: false,
        }
    }
}

/// What the first start of an empty hub created.
#[derive(Debug, Clone)]
pub struct FirstStart {
    pub owner: User,
    /// The generated one-time password; `None` when one was supplied.
    pub generated_password: Option<String>,
    pub group: Group,
    pub app: Application,
}

/// Shortest password accepted for a person.
pub const MIN_PASSWORD_LEN: usize = 8;

const LANGUAGES: [&str; 2] = ["en", "zh-CN"];

fn check_password(password: &str) -> Result<(), RegistryError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(RegistryError::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    Ok(())
}

fn check_language(language: Option<&str>) -> Result<String, RegistryError> {
    match language {
        None => Ok("en".to_owned()),
        Some(language) if LANGUAGES.contains(&language) => Ok(language.to_owned()),
        Some(other) => Err(RegistryError::invalid(
            "language",
            format!("{other:?} is not supported; use en or zh-CN"),
        )),
    }
}

fn check_email(email: Option<&str>) -> Result<Option<String>, RegistryError> {
    let email = optional_text("email", email, 254)?;
    if let Some(address) = &email
        && (!address.contains('@') || address.contains(char::is_whitespace))
    {
        return Err(RegistryError::invalid(
            "email",
            format!("{address:?} is not an e-mail address"),
        ));
    }
    Ok(email)
}

impl Registry {
    /// Creates a group, with `owner` (if given) as its owner.
    pub async fn add_group(
        &self,
        actor: &str,
        id: &GroupId,
        name: Option<&str>,
        owner: Option<&UserName>,
    ) -> Result<Group, RegistryError> {
        if let Some(owner) = owner {
            self.store.user(owner).await?;
        }
        let group = Group {
            name: text("name", name.unwrap_or(id.as_str()), 100)?,
            id: id.clone(),
            created_at_ms: now_millis(),
        };
        self.store
            .create_group(
                &group,
                &NewAuditEntry::new(actor, "group.add", &group.id)
                    .with_detail(json!({ "name": group.name })),
            )
            .await?;
        if let Some(owner) = owner {
            self.set_member(actor, &group.id, owner, Role::Owner)
                .await?;
        }
        self.changed();
        Ok(group)
    }

    pub async fn remove_group(&self, actor: &str, id: &GroupId) -> Result<(), RegistryError> {
        self.store
            .delete_group(id, &NewAuditEntry::new(actor, "group.remove", id))
            .await?;
        self.changed();
        Ok(())
    }

    /// Adds `user` to `group` with `role`, or changes their role.
    pub async fn set_member(
        &self,
        actor: &str,
        group: &GroupId,
        user: &UserName,
        role: Role,
    ) -> Result<Membership, RegistryError> {
        let membership = Membership {
            group: group.clone(),
            user: user.clone(),
            role,
        };
        self.store
            .set_member(
                &membership,
                &NewAuditEntry::new(actor, "group.member.set", &membership.group)
                    .with_detail(json!({ "user": membership.user, "role": role })),
            )
            .await?;
        self.changed();
        Ok(membership)
    }

    pub async fn remove_member(
        &self,
        actor: &str,
        group: &GroupId,
        user: &UserName,
    ) -> Result<(), RegistryError> {
        self.store
            .remove_member(
                group,
                user,
                &NewAuditEntry::new(actor, "group.member.remove", group)
                    .with_detail(json!({ "user": user })),
            )
            .await?;
        self.changed();
        Ok(())
    }

    /// Creates a user; returns the generated password when none was given.
    pub async fn add_user(
        &self,
        actor: &str,
        new_user: NewUser,
    ) -> Result<(User, Option<String>), RegistryError> {
        let name = new_user.name;
        let (password, generated) = match new_user.password {
            Some(password) => {
                check_password(&password)?;
                (password, None)
            }
            None => {
                let password = secret::random_string(16);
                (password.clone(), Some(password))
            }
        };
        let user = User {
            display_name: text(
                "display_name",
                new_user.display_name.as_deref().unwrap_or(name.as_str()),
                100,
            )?,
            email: check_email(new_user.email.as_deref())?,
            language: check_language(new_user.language.as_deref())?,
            is_admin: new_user.is_admin,
            created_at_ms: now_millis(),
            name,
        };
        let hash = tokio::task::spawn_blocking(move || secret::hash_password(&password))
            .await
            .expect("hashing a password does not panic");
        self.store
            .create_user(
                &user,
                &hash,
                &NewAuditEntry::new(actor, "user.add", &user.name)
                    .with_detail(json!({ "admin": user.is_admin })),
            )
            .await?;
        self.changed();
        Ok((user, generated))
    }

    pub async fn remove_user(&self, actor: &str, name: &UserName) -> Result<(), RegistryError> {
        self.store
            .delete_user(name, &NewAuditEntry::new(actor, "user.remove", name))
            .await?;
        self.changed();
        Ok(())
    }

    pub async fn set_password(
        &self,
        actor: &str,
        name: &UserName,
        password: &str,
    ) -> Result<(), RegistryError> {
        check_password(password)?;
        let password = password.to_owned();
        let hash = tokio::task::spawn_blocking(move || secret::hash_password(&password))
            .await
            .expect("hashing a password does not panic");
        self.store
            .set_password_hash(
                name,
                &hash,
                &NewAuditEntry::new(actor, "user.password", name),
            )
            .await?;
        self.changed();
        Ok(())
    }

    /// Checks a person's login; `None` for an unknown name or a wrong password (the
    /// caller must not say which).
    ///
    /// The one method that takes a name as typed: a malformed name is not an error to
    /// report here but one more unknown name, answered after the same dummy verify, so
    /// parsing it is part of the check rather than the caller's job.
    pub async fn check_login(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<User>, RegistryError> {
        // An unknown or malformed name costs a dummy verify, so that timing does not
        // tell which names exist.
        let candidate = password.as_bytes().to_vec();
        let unknown = |candidate: Vec<u8>| async move {
            let _ = tokio::task::spawn_blocking(move || secret::dummy_verify(&candidate)).await;
            Ok(None)
        };
        let Ok(name) = name.parse::<UserName>() else {
            return unknown(candidate).await;
        };
        let hash = match self.store.password_hash(&name).await {
            Ok(hash) => hash,
            Err(hearth_store::StoreError::NotFound { .. }) => return unknown(candidate).await,
            Err(error) => return Err(error.into()),
        };
        let ok = tokio::task::spawn_blocking(move || {
            // A person without a usable password hash costs the same as anyone else.
            if argon2::PasswordHash::new(&hash).is_err() {
                secret::dummy_verify(&candidate);
                return false;
            }
            secret::verify(&candidate, &hash)
        })
        .await
        .unwrap_or(false);
        if !ok {
            return Ok(None);
        }
        Ok(Some(self.store.user(&name).await?))
    }

    /// Creates an application in `group`; returns it with its MQTT secret (shown once).
    pub async fn add_app(
        &self,
        actor: &str,
        id: &AppId,
        group: &GroupId,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<(Application, String), RegistryError> {
        self.add_app_with_retention(actor, id, group, name, description, None)
            .await
    }

    /// [`Registry::add_app`] with how many days its raw messages are kept (`None`: the
    /// hub's default), checked before anything is stored.
    pub async fn add_app_with_retention(
        &self,
        actor: &str,
        id: &AppId,
        group: &GroupId,
        name: Option<&str>,
        description: Option<&str>,
        message_retention_days: Option<u32>,
    ) -> Result<(Application, String), RegistryError> {
        let message_retention_days = super::check_message_retention(message_retention_days)?;
        let app = Application {
            name: text("name", name.unwrap_or(id.as_str()), 100)?,
            description: optional_text("description", description, 1000)?.unwrap_or_default(),
            mqtt_key: format!("app-{}", secret::random_string(16).to_lowercase()),
            created_at_ms: now_millis(),
            group: group.clone(),
            id: id.clone(),
            discovery: false,
            message_retention_days,
        };
        let app_secret = secret::generate_secret();
        let hash = secret::hash_secret(&app_secret);
        self.store
            .create_app(
                &app,
                &hash,
                &NewAuditEntry::new(actor, "app.add", &app.id).with_detail(json!({
                    "group": app.group,
                    "name": app.name,
                    "message_retention_days": app.message_retention_days,
                })),
            )
            .await?;
        self.changed();
        Ok((app, app_secret))
    }

    pub async fn remove_app(&self, actor: &str, id: &AppId) -> Result<(), RegistryError> {
        self.store
            .delete_app(id, &NewAuditEntry::new(actor, "app.remove", id))
            .await?;
        self.changed();
        Ok(())
    }

    /// Gives an application a new MQTT secret; connections with the old one are cut.
    pub async fn rotate_app_secret(
        &self,
        actor: &str,
        id: &AppId,
    ) -> Result<String, RegistryError> {
        let app_secret = secret::generate_secret();
        self.store
            .set_app_secret(
                id,
                &secret::hash_secret(&app_secret),
                &NewAuditEntry::new(actor, "app.rotate_secret", id),
            )
            .await?;
        self.changed();
        Ok(app_secret)
    }

    pub async fn set_grant(
        &self,
        actor: &str,
        app: &AppId,
        user: &UserName,
        permission: Permission,
    ) -> Result<Grant, RegistryError> {
        let grant = Grant {
            application: app.clone(),
            user: user.clone(),
            permission,
        };
        self.store
            .set_grant(
                &grant,
                &NewAuditEntry::new(actor, "app.grant.set", &grant.application)
                    .with_detail(json!({ "user": grant.user, "permission": permission })),
            )
            .await?;
        self.changed();
        Ok(grant)
    }

    pub async fn remove_grant(
        &self,
        actor: &str,
        app: &AppId,
        user: &UserName,
    ) -> Result<(), RegistryError> {
        self.store
            .remove_grant(
                app,
                user,
                &NewAuditEntry::new(actor, "app.grant.remove", app)
                    .with_detail(json!({ "user": user })),
            )
            .await?;
        self.changed();
        Ok(())
    }

    /// On an empty registry, creates the owner account `admin` (a hub administrator,
    /// with `password` or a generated one-time password), the group `home` it owns and
    /// an application `default` in it, so that `hearth device add` works right away.
    /// Returns `None` when users already exist.
    pub async fn ensure_owner(
        &self,
        password: Option<String>,
    ) -> Result<Option<FirstStart>, RegistryError> {
        if self.store.user_count().await? > 0 {
            return Ok(None);
        }
        let (owner, generated_password) = self
            .add_user(
                "hub",
                NewUser {
                    password,
                    display_name: Some("Administrator".into()),
                    is_admin: true,
                    ..NewUser::new(first_start_id("admin"))
                },
            )
            .await?;
        let group_id: GroupId = first_start_id("home");
        let group = self
            .add_group("hub", &group_id, Some("Home"), Some(&owner.name))
            .await?;
        let (app, _) = self
            .add_app(
                "hub",
                &first_start_id("default"),
                &group_id,
                Some("Default"),
                None,
            )
            .await?;
        Ok(Some(FirstStart {
            owner,
            generated_password,
            group,
            app,
        }))
    }
}

/// One of the first start's fixed ids (`admin`, `home`, `default`), valid by sight.
fn first_start_id<T>(value: &str) -> T
where
    T: std::str::FromStr<Err = hearth_model::IdError>,
{
    value.parse().expect("the first start's ids are valid")
}
