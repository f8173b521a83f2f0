//! The registry's storage traits: one per aggregate, all under [`Store`].
//!
//! Every method that changes something takes the [`NewAuditEntry`] describing the change
//! and writes it in the same transaction, so the audit log is complete and doubles as a
//! change feed (see [`AuditStore::last_audit_seq`]). Secrets and password hashes go in
//! and, for the authorizer only, come out through [`CredentialStore`]; the records the
//! other methods return never carry them.

use crate::{AuthStore, HistoryStore, StoreResult};
use async_trait::async_trait;
use hearth_model::{
    AppId, Application, AuditEntry, Device, DeviceId, DevicePatch, Grant, Group, GroupId,
    Membership, NewAuditEntry, NewDevice, User, UserName,
};

/// Groups and who belongs to them.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Creates a group; `Conflict` if the id is taken.
    async fn create_group(&self, group: &Group, audit: &NewAuditEntry) -> StoreResult<()>;
    async fn group(&self, id: &GroupId) -> StoreResult<Group>;
    /// All groups, by id.
    async fn groups(&self) -> StoreResult<Vec<Group>>;
    /// Deletes a group and its memberships; `Refused` while it still has applications.
    async fn delete_group(&self, id: &GroupId, audit: &NewAuditEntry) -> StoreResult<()>;
    /// Adds a member or changes their role; `NotFound` for an unknown group or user.
    async fn set_member(&self, membership: &Membership, audit: &NewAuditEntry) -> StoreResult<()>;
    /// `NotFound` if the user is not a member.
    async fn remove_member(
        &self,
        group: &GroupId,
        user: &UserName,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// The members of a group, by user name.
    async fn members(&self, group: &GroupId) -> StoreResult<Vec<Membership>>;
    /// The groups a user belongs to, by group id.
    async fn memberships_of(&self, user: &UserName) -> StoreResult<Vec<Membership>>;
}

/// People who log in.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user with an argon2 PHC password hash; `Conflict` if the name is taken.
    async fn create_user(
        &self,
        user: &User,
        password_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    async fn user(&self, name: &UserName) -> StoreResult<User>;
    /// All users, by name.
    async fn users(&self) -> StoreResult<Vec<User>>;
    /// How many users exist (zero means first start: create the owner account).
    async fn user_count(&self) -> StoreResult<u64>;
    /// Replaces display name, e-mail, language and the admin flag.
    async fn update_user(&self, user: &User, audit: &NewAuditEntry) -> StoreResult<()>;
    async fn password_hash(&self, name: &UserName) -> StoreResult<String>;
    async fn set_password_hash(
        &self,
        name: &UserName,
        password_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Deletes a user with their memberships and grants.
    async fn delete_user(&self, name: &UserName, audit: &NewAuditEntry) -> StoreResult<()>;
}

/// Applications and the grants people hold on them.
#[async_trait]
pub trait AppStore: Send + Sync {
    /// Creates an application; `NotFound` for an unknown group, `Conflict` if the id or
    /// MQTT key is taken. It starts as an ordinary application whatever `app.discovery`
    /// says: `DiscoveryStore::set_app_discovery` makes it a discovery login (audited).
    async fn create_app(
        &self,
        app: &Application,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    async fn app(&self, id: &AppId) -> StoreResult<Application>;
    /// Applications, by id; only those of `group` when given.
    async fn apps(&self, group: Option<&GroupId>) -> StoreResult<Vec<Application>>;
    /// Deletes an application and its grants; `Refused` while it still has devices.
    async fn delete_app(&self, id: &AppId, audit: &NewAuditEntry) -> StoreResult<()>;
    async fn set_app_secret(
        &self,
        id: &AppId,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Sets how many days the raw messages of the application's devices are kept
    /// (`None`: the hub's default); `NotFound` for an unknown application. The range is
    /// the registry's to check; the column refuses only zero and negative values.
    async fn set_app_message_retention(
        &self,
        id: &AppId,
        days: Option<u32>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Adds or changes a grant; `NotFound` for an unknown application or user.
    async fn set_grant(&self, grant: &Grant, audit: &NewAuditEntry) -> StoreResult<()>;
    async fn remove_grant(
        &self,
        app: &AppId,
        user: &UserName,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Grants on an application, by user name.
    async fn grants(&self, app: &AppId) -> StoreResult<Vec<Grant>>;
    /// Grants a user holds, by application id.
    async fn grants_of(&self, user: &UserName) -> StoreResult<Vec<Grant>>;
}

/// Which devices a listing wants. Every field narrows the result; the default is all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    pub application: Option<AppId>,
    pub group: Option<GroupId>,
    pub room: Option<String>,
    pub kind: Option<String>,
    pub online: Option<bool>,
    pub enabled: Option<bool>,
    /// Case-insensitive substring of the id or the name.
    pub search: Option<String>,
    pub sort: DeviceSort,
    /// At most this many (after `offset`); `None` for all.
    pub limit: Option<u32>,
    pub offset: u32,
}

/// The order of a device listing. Ties are broken by id so that pages are stable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeviceSort {
    #[default]
    Id,
    Name,
    /// Most recently seen first; never-seen devices last.
    LastSeen,
}

/// Devices.
#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Registers devices all or nothing (one for `device add`, thousands for a CSV
    /// import), each with its secret's hash, writing one `device.add` audit entry
    /// per device under `actor`. `NotFound` for an unknown application, `Conflict` for
    /// a taken id (naming the first one).
    async fn create_devices(&self, devices: &[(NewDevice, String)], actor: &str)
    -> StoreResult<()>;
    async fn device(&self, id: &DeviceId) -> StoreResult<Device>;
    async fn devices(&self, filter: &DeviceFilter) -> StoreResult<Vec<Device>>;
    /// How many devices match, ignoring `limit`, `offset` and `sort` (for pagination).
    async fn count_devices(&self, filter: &DeviceFilter) -> StoreResult<u64>;
    /// Changes descriptive fields and returns the device as it now is.
    async fn update_device(
        &self,
        id: &DeviceId,
        patch: &DevicePatch,
        audit: &NewAuditEntry,
    ) -> StoreResult<Device>;
    async fn set_device_secret(
        &self,
        id: &DeviceId,
        secret_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    async fn set_device_enabled(
        &self,
        id: &DeviceId,
        enabled: bool,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    async fn delete_device(&self, id: &DeviceId, audit: &NewAuditEntry) -> StoreResult<()>;
    /// Sets the SHA-256 fingerprint (lowercase hex of the DER) of the one client
    /// certificate the device may log in with, or `None` for none. The previous one
    /// stops working: the authorizer disconnects sessions that used it.
    async fn set_device_cert(
        &self,
        id: &DeviceId,
        cert_sha256: Option<&str>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
}

/// A device as the MQTT authorizer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCredential {
    pub id: DeviceId,
    pub application: AppId,
    pub enabled: bool,
    pub secret_hash: String,
    /// The fingerprint of its client certificate (see [`DeviceStore::set_device_cert`]).
    pub cert_sha256: Option<String>,
}

/// An application as the MQTT authorizer needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCredential {
    pub id: AppId,
    pub mqtt_key: String,
    pub secret_hash: String,
}

/// A hub administrator as the MQTT authorizer needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCredential {
    pub name: UserName,
    pub password_hash: String,
}

/// Everything the MQTT authorizer checks connections against, read in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub devices: Vec<DeviceCredential>,
    pub apps: Vec<AppCredential>,
    pub admins: Vec<AdminCredential>,
}

/// The authorizer's view of the registry. Read whole, so that the authorizer can answer
/// every CONNECT, PUBLISH and SUBSCRIBE from memory.
#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn credentials(&self) -> StoreResult<Credentials>;
    /// Replaces stored secret hashes by equivalent ones (the same secret, hashed another
    /// way), each only if the stored hash still equals its `old_hash` (compare and set),
    /// all in one transaction. Returns, in order, whether each was replaced: not when
    /// the owner is gone or its secret changed meanwhile (a rotation wins).
    ///
    /// Writes no audit entry, on purpose: the audit sequence is the registry's change
    /// feed, and every hub reloads its authorizer's snapshot when it moves, so one entry
    /// per rehashed device would turn a fleet reconnecting into a reload per device.
    /// Nothing changes for anyone: the same secret still logs in.
    async fn rehash_secrets(&self, rehashes: &[SecretRehash]) -> StoreResult<Vec<bool>>;
}

/// Whose secret a [`SecretRehash`] replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretOwner {
    Device(DeviceId),
    App(AppId),
}

/// One stored secret hash to replace by another of the same secret
/// ([`CredentialStore::rehash_secrets`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRehash {
    pub owner: SecretOwner,
    /// The hash the change was computed against; the row is left alone if it differs.
    pub old_hash: String,
    pub new_hash: String,
}

/// Which audit entries a listing wants, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub target: Option<String>,
    pub actor: Option<String>,
    /// Only entries with a sequence number below this (the next page of a listing).
    pub before_seq: Option<i64>,
    /// Only entries with a sequence number at or above this (e.g. from the `*.add`
    /// of the object that now has the id, so that a reused id does not show the
    /// history of what had it before).
    pub from_seq: Option<i64>,
    /// Only entries whose action starts with one of these (`"device."`): the target's
    /// kind, since a group, an application, a device and a user may share an id.
    /// Empty for any action.
    pub action_prefixes: Vec<String>,
    /// At most this many; `None` for the store's default of 100.
    pub limit: Option<u32>,
}

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>>;
    /// The highest sequence number written so far (0 when empty). Cheap: a running hub
    /// polls it to notice changes made by other processes.
    async fn last_audit_seq(&self) -> StoreResult<i64>;
}

/// One handle to the whole store, as services see it (`Arc<dyn Store>`).
#[async_trait]
pub trait Store:
    GroupStore
    + UserStore
    + AppStore
    + DeviceStore
    + CredentialStore
    + AuditStore
    + HistoryStore
    + AuthStore
    + crate::CommandStore
    + crate::AutomationStore
    + crate::GateStore
    + crate::AlertStore
    + crate::PreferenceStore
    + crate::FirmwareStore
    + crate::LayoutStore
    + crate::DiscoveryStore
    + crate::SiteStore
    + crate::MirrorStore
    + crate::LeaseStore
    + crate::ClaimStore
    + crate::IdentityStore
    + Send
    + Sync
{
    /// `sqlite` or `postgres`, for logs and `/healthz`.
    fn backend(&self) -> &'static str;
    /// Checks that the database answers (for `/healthz`).
    async fn ping(&self) -> StoreResult<()>;
    /// Waits for in-flight work and closes the connections.
    async fn close(&self);
}
