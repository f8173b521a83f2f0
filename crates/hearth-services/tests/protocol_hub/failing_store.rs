//! A store that fails on demand, for the commands service's failure paths.
//!
//! A real database cannot be made to fail one write on demand, so this wraps a real
//! store (SQLite or PostgreSQL, migrated, with its real constraints) and forwards every
//! call to it, except that command writes and reads can be switched to fail with
//! `StoreError::Backend`. It also records every command status that was committed, so a
//! test can compare what was announced with what was stored.
//!
//! The forwarding impls mirror the `hearth_store` traits one to one.

use async_trait::async_trait;
use hearth_model::*;
use hearth_store::*;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub struct FailingStore {
    inner: Arc<dyn Store>,
    /// `update_command` and `update_command_if` fail while set.
    pub fail_command_writes: AtomicBool,
    /// `open_commands` fails while set.
    pub fail_command_reads: AtomicBool,
    /// Command reads and writes refused so far.
    pub refused: AtomicU64,
    /// Every command status committed, in order: `(id, status)`.
    pub committed: Mutex<Vec<(String, CommandStatus)>>,
}

impl FailingStore {
    pub fn new(inner: Arc<dyn Store>) -> Arc<FailingStore> {
        Arc::new(FailingStore {
            inner,
            fail_command_writes: AtomicBool::new(false),
            fail_command_reads: AtomicBool::new(false),
            refused: AtomicU64::new(0),
            committed: Mutex::new(Vec::new()),
        })
    }

    /// The wrapped store (for the forwarding impls in sibling files).
    pub(super) fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    fn refuse(&self, flag: &AtomicBool) -> StoreResult<()> {
        if flag.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Backend("injected failure".into()));
        }
        Ok(())
    }

    fn committed(&self, command: &Command) {
        self.committed
            .lock()
            .push((command.id.clone(), command.status));
    }
}

#[async_trait]
impl Store for FailingStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

#[async_trait]
impl GroupStore for FailingStore {
    async fn create_group(&self, group: &Group, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner.create_group(group, audit).await
    }
    async fn group(&self, id: &GroupId) -> StoreResult<Group> {
        self.inner.group(id).await
    }
    async fn groups(&self) -> StoreResult<Vec<Group>> {
        self.inner.groups().await
    }
    async fn delete_group(&self, id: &GroupId, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner.delete_group(id, audit).await
    }
    async fn set_member(&self, membership: &Membership, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner.set_member(membership, audit).await
    }
    async fn remove_member(
        &self,
        group: &GroupId,
        user: &UserName,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner.remove_member(group, user, audit).await
    }
    async fn members(&self, group: &GroupId) -> StoreResult<Vec<Membership>> {
        self.inner.members(group).await
    }
    async fn memberships_of(&self, user: &UserName) -> StoreResult<Vec<Membership>> {
        self.inner.memberships_of(user).await
    }
}

#[async_trait]
impl UserStore for FailingStore {
    async fn create_user(
        &self,
        user: &User,
        password_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner.create_user(user, password_hash, audit).await
    }
    async fn user(&self, name: &UserName) -> StoreResult<User> {
        self.inner.user(name).await
    }
    async fn users(&self) -> StoreResult<Vec<User>> {
        self.inner.users().await
    }
    async fn user_count(&self) -> StoreResult<u64> {
        self.inner.user_count().await
    }
    async fn update_user(&self, user: &User, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner.update_user(user, audit).await
    }
    async fn password_hash(&self, name: &UserName) -> StoreResult<String> {
        self.inner.password_hash(name).await
    }
    async fn set_password_hash(
        &self,
        name: &UserName,
        password_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner
            .set_password_hash(name, password_hash, audit)
            .await
    }
    async fn delete_user(&self, name: &UserName, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner.delete_user(name, audit).await
    }
}

#[async_trait]
impl AppStore for FailingStore {
    async fn create_app(
        &self,
        app: &Application,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner.create_app(app, secret_hash, audit).await
    }
    async fn app(&self, id: &AppId) -> StoreResult<Application> {
        self.inner.app(id).await
    }
    async fn apps(&self, group: Option<&GroupId>) -> StoreResult<Vec<Application>> {
        self.inner.apps(group).await
    }
    async fn delete_app(&self, id: &AppId, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner.delete_app(id, audit).await
    }
    async fn set_app_secret(
        &self,
        id: &AppId,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner.set_app_secret(id, secret_hash, audit).await
    }
    async fn set_app_message_retention(
        &self,
        id: &AppId,
        days: Option<u32>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner.set_app_message_retention(id, days, audit).await
    }
    async fn set_grant(&self, grant: &Grant, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner.set_grant(grant, audit).await
    }
    async fn remove_grant(
        &self,
        app: &AppId,
        user: &UserName,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner.remove_grant(app, user, audit).await
    }
    async fn grants(&self, app: &AppId) -> StoreResult<Vec<Grant>> {
        self.inner.grants(app).await
    }
    async fn grants_of(&self, user: &UserName) -> StoreResult<Vec<Grant>> {
        self.inner.grants_of(user).await
    }
}

#[async_trait]
impl DeviceStore for FailingStore {
    async fn create_devices(
        &self,
        devices: &[(NewDevice, String)],
        actor: &str,
    ) -> StoreResult<()> {
        self.inner.create_devices(devices, actor).await
    }
    async fn device(&self, id: &DeviceId) -> StoreResult<Device> {
        self.inner.device(id).await
    }
    async fn devices(&self, filter: &DeviceFilter) -> StoreResult<Vec<Device>> {
        self.inner.devices(filter).await
    }
    async fn count_devices(&self, filter: &DeviceFilter) -> StoreResult<u64> {
        self.inner.count_devices(filter).await
    }
    async fn update_device(
        &self,
        id: &DeviceId,
        patch: &DevicePatch,
        audit: &NewAuditEntry,
    ) -> StoreResult<Device> {
        self.inner.update_device(id, patch, audit).await
    }
    async fn set_device_secret(
        &self,
        id: &DeviceId,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner.set_device_secret(id, secret_hash, audit).await
    }
    async fn set_device_enabled(
        &self,
        id: &DeviceId,
        enabled: bool,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner.set_device_enabled(id, enabled, audit).await
    }
    async fn delete_device(&self, id: &DeviceId, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner.delete_device(id, audit).await
    }
    async fn set_device_cert(
        &self,
        id: &DeviceId,
        cert_sha256: Option<&str>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner.set_device_cert(id, cert_sha256, audit).await
    }
}

#[async_trait]
impl CredentialStore for FailingStore {
    async fn credentials(&self) -> StoreResult<Credentials> {
        self.inner.credentials().await
    }
    async fn rehash_secrets(&self, rehashes: &[SecretRehash]) -> StoreResult<Vec<bool>> {
        self.inner.rehash_secrets(rehashes).await
    }
}

#[async_trait]
impl AuditStore for FailingStore {
    async fn audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        self.inner.audit(filter).await
    }
    async fn last_audit_seq(&self) -> StoreResult<i64> {
        self.inner.last_audit_seq().await
    }
}

#[async_trait]
impl HistoryStore for FailingStore {
    async fn write_batch(&self, batch: &IngestBatch) -> StoreResult<()> {
        self.inner.write_batch(batch).await
    }
    async fn messages(&self, query: &MessageQuery) -> StoreResult<Vec<StoredMessage>> {
        self.inner.messages(query).await
    }
    async fn message_count(&self, device: Option<&DeviceId>) -> StoreResult<u64> {
        self.inner.message_count(device).await
    }
    async fn points(&self, query: &PointQuery) -> StoreResult<Vec<Point>> {
        self.inner.points(query).await
    }
    async fn aggregates(
        &self,
        device: &DeviceId,
        metric: &str,
        range: TimeRange,
        bucket_ms: Millis,
    ) -> StoreResult<Vec<Aggregate>> {
        self.inner
            .aggregates(device, metric, range, bucket_ms)
            .await
    }
    async fn latest_points(&self, device: &DeviceId) -> StoreResult<Vec<Point>> {
        self.inner.latest_points(device).await
    }
    async fn status_history(
        &self,
        device: &DeviceId,
        range: TimeRange,
        limit: u32,
    ) -> StoreResult<Vec<StatusChange>> {
        self.inner.status_history(device, range, limit).await
    }
    async fn compact(&self, request: &CompactRequest) -> StoreResult<CompactStats> {
        self.inner.compact(request).await
    }
    async fn history_size(&self) -> StoreResult<HistorySize> {
        self.inner.history_size().await
    }
    async fn series_keys(&self) -> StoreResult<Vec<SeriesKey>> {
        self.inner.series_keys().await
    }
    async fn prune_points(
        &self,
        level: Option<Millis>,
        before_ms: Millis,
        series: Option<&[SeriesKey]>,
    ) -> StoreResult<u64> {
        self.inner.prune_points(level, before_ms, series).await
    }
    async fn prune_messages(
        &self,
        before_ms: Millis,
        app: Option<&AppId>,
        except: &[AppId],
    ) -> StoreResult<u64> {
        self.inner.prune_messages(before_ms, app, except).await
    }
    async fn prune_status(&self, before_ms: Millis) -> StoreResult<u64> {
        self.inner.prune_status(before_ms).await
    }
}

#[async_trait]
impl AuthStore for FailingStore {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.inner.create_session(session).await
    }
    async fn session(&self, id_hash: &str, now_ms: Millis) -> StoreResult<Session> {
        self.inner.session(id_hash, now_ms).await
    }
    async fn touch_session(
        &self,
        id_hash: &str,
        now_ms: Millis,
        expires_at_ms: Millis,
    ) -> StoreResult<()> {
        self.inner
            .touch_session(id_hash, now_ms, expires_at_ms)
            .await
    }
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()> {
        self.inner.delete_session(id_hash).await
    }
    async fn delete_sessions_of(
        &self,
        user: &UserName,
        except: Option<&str>,
    ) -> StoreResult<Vec<String>> {
        self.inner.delete_sessions_of(user, except).await
    }
    async fn prune_auth(&self, now_ms: Millis) -> StoreResult<u64> {
        self.inner.prune_auth(now_ms).await
    }
    async fn create_token(
        &self,
        token: &ApiToken,
        token_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner.create_token(token, token_hash, audit).await
    }
    async fn tokens_of(&self, user: &UserName) -> StoreResult<Vec<ApiToken>> {
        self.inner.tokens_of(user).await
    }
    async fn token_by_hash(&self, token_hash: &str, now_ms: Millis) -> StoreResult<ApiToken> {
        self.inner.token_by_hash(token_hash, now_ms).await
    }
    async fn touch_token(&self, id: &str, now_ms: Millis) -> StoreResult<()> {
        self.inner.touch_token(id, now_ms).await
    }
    async fn delete_token(
        &self,
        user: &UserName,
        id: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner.delete_token(user, id, audit).await
    }
}

#[async_trait]
impl CommandStore for FailingStore {
    async fn insert_command(&self, command: &Command) -> StoreResult<()> {
        self.inner.insert_command(command).await?;
        self.committed(command);
        Ok(())
    }
    async fn update_command(&self, command: &Command) -> StoreResult<()> {
        self.refuse(&self.fail_command_writes)?;
        self.inner.update_command(command).await?;
        self.committed(command);
        Ok(())
    }
    async fn update_command_if(
        &self,
        command: &Command,
        expected: CommandStatus,
    ) -> StoreResult<bool> {
        self.refuse(&self.fail_command_writes)?;
        let stored = self.inner.update_command_if(command, expected).await?;
        if stored {
            self.committed(command);
        }
        Ok(stored)
    }
    async fn command(&self, id: &str) -> StoreResult<Command> {
        self.inner.command(id).await
    }
    async fn commands(&self, device: &DeviceId, limit: u32) -> StoreResult<Vec<Command>> {
        self.inner.commands(device, limit).await
    }
    async fn open_commands(&self) -> StoreResult<Vec<Command>> {
        self.refuse(&self.fail_command_reads)?;
        self.inner.open_commands().await
    }
}
