//! Logging in against the registry: passwords and secrets (fast hashes inline, argon2 on
//! the blocking pool once per password), browser tokens, devices' certificates and
//! client-id ownership. What a principal may then do is `acl.rs` and the `Authorizer`
//! impl in `mod.rs`.

use super::*;

impl RegistryAuthorizer {
    /// Whether `password` matches `stored_hash`. A fast hash is checked inline; an
    /// argon2 one on the blocking pool, once per password (see the module docs). A
    /// device's or application's secret that matched an argon2 hash is handed to the
    /// [`Rehasher`].
    pub(super) async fn check_password(
        &self,
        kind: PrincipalKind,
        name: &Arc<str>,
        owner: HashOwner<'_>,
        stored_hash: &Arc<str>,
        password: &[u8],
    ) -> bool {
        if secret::is_fast_hash(stored_hash) {
            return secret::verify(password, stored_hash);
        }
        let digest: [u8; 32] = Sha256::digest(password).into();
        let key = (kind, name.clone());
        let remembered = self
            .verified
            .lock()
            .get(&key)
            .is_some_and(|(hash, known)| hash == stored_hash && *known == digest);
        let ok = remembered || {
            let hash = stored_hash.clone();
            let candidate = password.to_vec();
            tokio::task::spawn_blocking(move || secret::verify(&candidate, &hash))
                .await
                .unwrap_or(false)
        };
        if ok {
            if !remembered {
                self.verified
                    .lock()
                    .insert(key, (stored_hash.clone(), digest));
            }
            self.rehasher.offer(owner, stored_hash, password);
        }
        ok
    }

    pub(super) async fn authenticate_registry(
        &self,
        request: &ConnectRequest,
        username: &Arc<str>,
        password: &[u8],
    ) -> Option<Result<Principal, AuthError>> {
        let snapshot = self.current();
        // Browser tokens first: a person whose name is also a device id still gets in.
        if password.starts_with(b"hbt1.") {
            let Some(token) = self.tokens.verify(
                &String::from_utf8_lossy(password),
                hearth_model::now_millis(),
            ) else {
                return Some(Err(AuthError::bad_credentials(
                    "expired, revoked or invalid browser token",
                )));
            };
            if token.user != **username || !snapshot.users.contains_key(username) {
                return Some(Err(AuthError::bad_credentials("token of another user")));
            }
            self.pending_user_sessions
                .lock()
                .insert(request.client_id.clone(), token.session);
            return Some(Ok(Principal::new(PrincipalKind::User, username.clone())));
        }
        // A site's link (issue 20): its client id says so, `site:{id}` (ids hold no
        // `:`, so no device, application or person is ever asked for here).
        // Anyone else with such a client id is refused by `client_id::check`.
        if let Some(site_id) = request
            .client_id
            .strip_prefix(super::client_id::SITE_CLIENT_ID_PREFIX)
            && let Some(site) = snapshot.sites.get(username)
        {
            if site_id != &**username {
                return Some(Err(AuthError::not_authorized(format!(
                    "site {username} must connect with client id site:{username}"
                ))));
            }
            if !secret::verify(password, &site.secret_hash) {
                return Some(Err(AuthError::bad_credentials("wrong site secret")));
            }
            if !site.enabled {
                return Some(Err(AuthError::not_authorized(format!(
                    "site {username} is disabled"
                ))));
            }
            return Some(Ok(Principal::new(PrincipalKind::Site, username.clone())));
        }
        if let Some(device) = snapshot.devices.get(username) {
            if request.client_id != *username {
                return Some(Err(AuthError::not_authorized(format!(
                    "device {username} must connect with client id {username}"
                ))));
            }
            if !self
                .check_password(
                    PrincipalKind::Device,
                    username,
                    HashOwner::Device(username),
                    &device.secret_hash,
                    password,
                )
                .await
            {
                return Some(Err(AuthError::bad_credentials("wrong device secret")));
            }
            if !device.enabled {
                return Some(Err(AuthError::not_authorized(format!(
                    "device {username} is disabled"
                ))));
            }
            return Some(Ok(Principal::new(PrincipalKind::Device, username.clone())));
        }
        if let Some(app) = snapshot.apps.get(username) {
            if !self
                .check_password(
                    PrincipalKind::Application,
                    username,
                    HashOwner::App(&app.id),
                    &app.secret_hash,
                    password,
                )
                .await
            {
                return Some(Err(AuthError::bad_credentials("wrong application secret")));
            }
            return Some(Ok(Principal::new(
                PrincipalKind::Application,
                app.id.clone(),
            )));
        }
        if let Some(hash) = snapshot.admins.get(username) {
            if !self
                .check_password(
                    PrincipalKind::Admin,
                    username,
                    HashOwner::Person,
                    hash,
                    password,
                )
                .await
            {
                return Some(Err(AuthError::bad_credentials("wrong password")));
            }
            return Some(Ok(Principal::new(PrincipalKind::Admin, username.clone())));
        }
        None
    }
}
