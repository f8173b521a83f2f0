//! Hearth's storage: the implementations behind the storage traits, so that the services
//! and the broker stay free of database code.
//!
//! - The registry (groups, users, applications, devices, audit log) behind [`Store`],
//!   on SQLite (the embedded default, one WAL file in the data directory) or PostgreSQL
//!   (`--database postgres://...`), both through sqlx with runtime queries. [`open`]
//!   picks the backend from the URL and runs the migrations.
//! - The history (device messages, numeric points, presence changes, hourly rollups)
//!   behind [`HistoryStore`], part of [`Store`]: written by ingest in one transaction
//!   per batch, read by charts and the API.
//! - The broker's durable state ([`RedbBrokerStore`], an implementation of
//!   [`hearth_bus::broker_state::BrokerStore`]). The trait lives in `hearth-bus`, which
//!   the broker and this crate both see; neither depends on the other, and the binary
//!   picks a backend and hands it to the broker.
//!
//! # Layout
//! - `error`: [`StoreError`], which hides sqlx from callers.
//! - `registry`: the traits ([`GroupStore`], [`UserStore`], [`AppStore`],
//!   [`DeviceStore`], [`CredentialStore`], [`AuditStore`]) and [`Store`] over them.
//! - `history`: [`HistoryStore`] and what it takes ([`IngestBatch`], queries).
//! - `auth`: [`AuthStore`], the HTTP API's login sessions and personal API tokens
//!   (stored as SHA-256 digests).
//! - `automations`: [`AutomationStore`], automations and scenes (documents), and the
//!   engine's durable runs and timers.
//! - `alerts`: [`AlertStore`], alert rules, alerts and the notification outbox.
//! - `notification_prefs`: [`PreferenceStore`], people's notification preferences and
//!   Web Push subscriptions.
//! - `automation_gates`: [`GateStore`], groups' places (time zone, latitude/longitude)
//!   and two-person confirmation requests.
//! - `discovery`: [`DiscoveryStore`], devices announced through Home Assistant MQTT
//!   discovery and the discovery flag of applications.
//! - `firmware`: [`FirmwareStore`], firmware images, rollouts and their targets (OTA).
//! - `identities`: [`IdentityStore`], people's links to OpenID Connect providers
//!   (issue 23).
//! - `layouts`: [`LayoutStore`], topic layouts of applications and devices.
//! - `sites`: [`SiteStore`], home hubs linked to this one (issue 20) and their devices.
//! - `leases`: [`LeaseStore`], named leases that let one of several nodes sharing a
//!   database do something alone (issue 21, the coordinator).
//! - `open`: [`open`] and [`sqlite_url`].
//! - `sqlite`, `postgres`: the two backends (each with its own bulk-insert `ingest.rs`);
//!   `sql/`: query code shared by both.
//! - `broker_state`: [`RedbBrokerStore`], retained messages, persistent sessions and
//!   queued QoS 1/2 messages in one redb file (`<data_dir>/broker.redb`), and its
//!   [`BrokerSnapshotter`] for backups.
//! - `snapshot`: consistent copies of the SQL store for backups
//!   ([`sqlite_vacuum_into`]) and [`postgres_is_empty`] for restores.

mod alerts;
mod auth;
mod automation_gates;
mod automations;
mod broker_state;
mod claims;
pub mod codec;
mod commands;
mod discovery;
mod error;
mod firmware;
mod history;
mod identities;
mod layouts;
mod leases;
mod mirror;
mod mysql;
mod notification_prefs;
mod open;
mod postgres;
mod registry;
mod schema_check;
mod sites;
mod snapshot;
mod sql;
mod sqlite;

pub use alerts::{AlertFilter, AlertStore};
pub use auth::{ApiToken, AuthStore, Session};
pub use automation_gates::GateStore;
pub use automations::{AutomationRun, AutomationStore, AutomationTimer};
pub use broker_state::{
    BrokerSnapshotter, OfflineSnapshot, RedbBrokerStore, SnapshotCounts, snapshot_file,
};
pub use claims::{ClaimState, ClaimStore};
pub use commands::CommandStore;
pub use discovery::DiscoveryStore;
pub use error::{StoreError, StoreResult};
pub use firmware::FirmwareStore;
pub use history::{
    CompactRequest, CompactStats, HistorySize, HistoryStore, IngestBatch, LiveUpdate, MessageQuery,
    NewMessage, PointQuery, SeriesKey, TimeRange,
};
pub use identities::{IdentityStore, UserIdentity};
pub use layouts::{AllLayouts, LayoutStore};
pub use leases::LeaseStore;
pub use mirror::{
    MirrorApp, MirrorApplied, MirrorConflict, MirrorDevice, MirrorGrant, MirrorGroup,
    MirrorSnapshot, MirrorState, MirrorStore, MirrorUser, PushedDevice,
};
pub use mysql::MySqlStore;
pub use notification_prefs::PreferenceStore;
pub use open::{open, sqlite_url};
pub use postgres::PostgresStore;
pub use registry::{
    AdminCredential, AppCredential, AppStore, AuditFilter, AuditStore, CredentialStore,
    Credentials, DeviceCredential, DeviceFilter, DeviceSort, DeviceStore, GroupStore, SecretOwner,
    SecretRehash, Store, UserStore,
};
pub use schema_check::{SchemaState, check_schema};
pub use sites::{SiteCredential, SiteStore};
pub use snapshot::{postgres_is_empty, sqlite_vacuum_into};
pub use sql::EmbeddedMigration;
pub use sqlite::SqliteStore;

/// The embedded migration lists, oldest first (for tests of upgrades).
pub mod migrations {
    pub use crate::mysql::MIGRATIONS as MYSQL;
    pub use crate::postgres::MIGRATIONS as POSTGRES;
    pub use crate::sqlite::MIGRATIONS as SQLITE;
}
