//! Keeping Mosquitto's dynamic-security plugin in step with the registry (issue 21,
//! docs/scale.md "Mosquitto dynamic security"): for Debian's Mosquitto 2 without plugins
//! from elsewhere, the broker itself checks logins and topics, and Hearth writes what
//! it should know over `$CONTROL/dynamic-security/v1`.
//!
//! - `config`: `[dynsec]` of hearth.toml.
//! - `desired`: the clients and roles the registry asks for, and the broker passwords.
//! - `plan`: the commands from what the broker holds to what is wanted.
//! - `sites`: sites' links (issue 20) as clients with their own roles.
//! - `control`: the control channel (an MQTT connection as the dynsec administrator).
//!
//! On every (re)connection the sync reads the broker's clients and roles whole and
//! corrects them (a resync: changes made while Hearth was away are caught); then it
//! follows the registry's audit sequence, as the built-in broker's authorizer does
//! (`auth/watch.rs`), and sends only the difference from what it last wrote. A command
//! the plugin refuses (someone changed the broker meanwhile) makes it resync.
//!
//! With several Hearth nodes on one database, only the coordinator (the holder of the
//! lease, `crate::lease`) writes to the broker: the others keep no control connection
//! and take over, with a resync, when they gain the lease.

pub mod config;
pub mod control;
pub mod desired;
pub mod plan;
pub mod sites;

pub use config::DynsecConfig;
pub use desired::BrokerKey;

use crate::lease::Leadership;
use control::Control;
use hearth_store::Store;
use parking_lot::Mutex;
use plan::{BrokerClient, BrokerState};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the sync last did, for logs, metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DynsecStatus {
    /// Whether the control connection is up.
    pub connected: bool,
    /// The registry's audit sequence the broker reflects (`None` before the first sync).
    pub synced_seq: Option<i64>,
    /// Full resyncs done (one per connection, and one per refused command).
    pub resyncs: u64,
    /// Commands sent since start.
    pub commands: u64,
    /// The last failure, if the last attempt failed.
    pub last_error: Option<String>,
    /// Another node holds the coordinator lease and writes to the broker; this one waits.
    pub standby: bool,
}

/// Reads a running sync's status (cheap to clone).
#[derive(Clone)]
pub struct DynsecStatusReader(Arc<Mutex<DynsecStatus>>);

impl DynsecStatusReader {
    /// A copy of the current status.
    pub fn status(&self) -> DynsecStatus {
        self.0.lock().clone()
    }
}

/// The running sync. Stops with [`DynsecSync::shutdown`] (or when dropped, abruptly).
pub struct DynsecSync {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    status: Arc<Mutex<DynsecStatus>>,
}

impl DynsecSync {
    /// Starts the sync. Fails at once on what cannot get better by retrying (the
    /// password file, the CA file).
    /// Writes to the broker only while `leadership` is held ([`Leadership::always`]
    /// for a single node).
    pub fn start(
        config: DynsecConfig,
        key: BrokerKey,
        store: Arc<dyn Store>,
        leadership: Leadership,
    ) -> Result<DynsecSync, String> {
        let password = config.read_password()?;
        config.tls()?;
        let (stop, stopped) = watch::channel(false);
        let status = Arc::new(Mutex::new(DynsecStatus::default()));
        let sync = Sync {
            config,
            password,
            key,
            store,
            status: status.clone(),
            leadership,
        };
        let task = tokio::spawn(sync.run(stopped));
        Ok(DynsecSync { stop, task, status })
    }

    /// A copy of the current status.
    pub fn status(&self) -> DynsecStatus {
        self.status.lock().clone()
    }

    /// A handle that reads the status while the sync runs (`/metrics` at scrape time).
    pub fn status_reader(&self) -> DynsecStatusReader {
        DynsecStatusReader(self.status.clone())
    }

    /// Stops the sync and closes its connection.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// How often the registry's change counter is read (as `auth::watch::POLL_INTERVAL`).
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How long the sync waits before trying again after the plugin refused commands twice.
const REFUSED_RETRY: Duration = Duration::from_secs(30);

/// Back-off between connection attempts: doubling from the first to the last.
const RETRY_MIN: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

struct Sync {
    config: DynsecConfig,
    password: String,
    key: BrokerKey,
    store: Arc<dyn Store>,
    status: Arc<Mutex<DynsecStatus>>,
    leadership: Leadership,
}

/// Why [`Sync::follow`] returned without an error.
enum Exit {
    Stopped,
    SteppedDown,
}

impl Sync {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut held = self.leadership.subscribe();
        let mut retry = RETRY_MIN;
        loop {
            if *stop.borrow() {
                return;
            }
            if !*held.borrow_and_update() {
                // Another node writes to the broker until this one takes the lease.
                self.status.lock().standby = true;
                tokio::select! {
                    _ = stop.changed() => return,
                    gained = async { held.wait_for(|held| *held).await.is_ok() } => if !gained { return },
                }
                continue;
            }
            self.status.lock().standby = false;
            let outcome = match Control::connect(&self.config, &self.password).await {
                Ok(control) => {
                    self.status.lock().connected = true;
                    tracing::info!(url = %String::from(self.config.url.clone()), "dynsec: connected");
                    retry = RETRY_MIN;
                    self.follow(control, &mut stop, &mut held).await
                }
                Err(error) => Err(error),
            };
            let error = match outcome {
                Ok(Exit::Stopped) => {
                    self.status.lock().connected = false;
                    return;
                }
                Ok(Exit::SteppedDown) => {
                    self.status.lock().connected = false;
                    tracing::info!(
                        "dynsec: no longer the coordinator; another node writes to the broker"
                    );
                    continue;
                }
                Err(error) => error,
            };
            tracing::warn!("dynsec: {error}; retrying in {retry:?}");
            {
                let mut status = self.status.lock();
                status.connected = false;
                status.last_error = Some(error);
            }
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(retry) => {}
            }
            retry = (retry * 2).min(RETRY_MAX);
        }
    }

    /// Resyncs, then follows the registry until `stop`, until this node no longer holds
    /// the lease (`held`), or until the channel fails.
    async fn follow(
        &self,
        mut control: Control,
        stop: &mut watch::Receiver<bool>,
        held: &mut watch::Receiver<bool>,
    ) -> Result<Exit, String> {
        let mut have: Option<BrokerState> = None;
        let mut synced: Option<i64> = None;
        // After commands refused twice: not before this (each command the plugin does
        // take rewrites its whole file, so a lasting refusal must not loop every poll).
        let mut not_before: Option<tokio::time::Instant> = None;
        loop {
            if !self.leadership.is_held() {
                control.close().await;
                return Ok(Exit::SteppedDown);
            }
            let seq = self
                .store
                .last_audit_seq()
                .await
                .map_err(|error| format!("reading the registry: {error}"))?;
            let due = not_before.is_none_or(|at| tokio::time::Instant::now() >= at);
            if due && (have.is_none() || synced != Some(seq)) {
                let credentials = self
                    .store
                    .credentials()
                    .await
                    .map_err(|error| format!("reading the registry: {error}"))?;
                let site_credentials = self
                    .store
                    .site_credentials()
                    .await
                    .map_err(|error| format!("reading the registry: {error}"))?;
                let mut wanted = desired::wanted(&credentials, &self.key);
                sites::add(&mut wanted, &site_credentials, &self.key);
                let state = match have.take() {
                    Some(state) => state,
                    None => {
                        let state = self.read_broker(&mut control).await?;
                        warn_taken(&state.foreign, &wanted);
                        state
                    }
                };
                let mut refused = self.apply(&mut control, &state, &wanted).await?;
                let mut foreign = state.foreign;
                if refused {
                    // Someone changed the broker behind our back: read it and try once more.
                    let state = self.read_broker(&mut control).await?;
                    warn_taken(&state.foreign, &wanted);
                    refused = self.apply(&mut control, &state, &wanted).await?;
                    foreign = state.foreign;
                }
                if refused {
                    // Read it whole again, after a while.
                    not_before = Some(tokio::time::Instant::now() + REFUSED_RETRY);
                    self.status.lock().last_error =
                        Some("the plugin refused commands; see the log".into());
                } else {
                    not_before = None;
                    have = Some(BrokerState::after(&wanted, foreign));
                    synced = Some(seq);
                    let mut status = self.status.lock();
                    status.synced_seq = Some(seq);
                    status.last_error = None;
                }
            }
            tokio::select! {
                _ = stop.changed() => {
                    control.close().await;
                    return Ok(Exit::Stopped);
                }
                // Checked at the top of the loop.
                _ = async { held.wait_for(|held| !*held).await.is_ok() } => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }

    /// Sends the plan from `state` to `wanted`; whether any command was refused.
    async fn apply(
        &self,
        control: &mut Control,
        state: &BrokerState,
        wanted: &desired::Wanted,
    ) -> Result<bool, String> {
        let commands = plan::plan(state, wanted);
        if commands.is_empty() {
            return Ok(false);
        }
        let count = commands.len();
        let answers = control.run(commands).await?;
        self.status.lock().commands += count as u64;
        let mut refused = false;
        for answer in &answers {
            if let Some(error) = &answer.error {
                refused = true;
                tracing::warn!(command = %answer.command, "dynsec: the plugin refused a command: {error}");
            }
        }
        tracing::debug!(count, "dynsec: commands sent");
        Ok(refused)
    }

    /// Reads every client and every Hearth role from the broker.
    async fn read_broker(&self, control: &mut Control) -> Result<BrokerState, String> {
        self.status.lock().resyncs += 1;
        let lists = control
            .run(vec![
                json!({"command": "listClients", "verbose": false, "count": -1, "offset": 0}),
                json!({"command": "listRoles", "verbose": false, "count": -1, "offset": 0}),
            ])
            .await?;
        let names = |answer: &control::Answer, field: &str| -> Result<Vec<String>, String> {
            if let Some(error) = &answer.error {
                return Err(format!("{}: {error}", answer.command));
            }
            Ok(answer
                .data
                .get(field)
                .and_then(Value::as_array)
                .map(|names| {
                    names
                        .iter()
                        .filter_map(|name| match name {
                            Value::String(name) => Some(name.clone()),
                            other => other
                                .get("username")
                                .and_then(Value::as_str)
                                .map(str::to_owned),
                        })
                        .collect()
                })
                .unwrap_or_default())
        };
        let clients = names(&lists[0], "clients")?;
        let roles: Vec<String> = names(&lists[1], "roles")?
            .into_iter()
            .filter(|name| plan::is_hearth_role(name))
            .collect();
        let mut state = BrokerState::default();
        let answers = control
            .run(
                clients
                    .iter()
                    .map(|name| json!({"command": "getClient", "username": name}))
                    .collect(),
            )
            .await?;
        for (name, answer) in clients.into_iter().zip(answers) {
            let client = BrokerClient::from_json(&answer.data["client"]);
            if answer.error.is_some() {
                continue;
            }
            if client.is_hearths() {
                state.clients.insert(name, client);
            } else {
                state.foreign.insert(name);
            }
        }
        let answers = control
            .run(
                roles
                    .iter()
                    .map(|name| json!({"command": "getRole", "rolename": name}))
                    .collect(),
            )
            .await?;
        for (name, answer) in roles.into_iter().zip(answers) {
            if answer.error.is_none() {
                let acls = BrokerState::acls_from_json(&answer.data["role"]);
                state.roles.insert(name, acls);
            }
        }
        Ok(state)
    }
}

/// Clients not made by Hearth are left alone. One that holds a name the registry wants
/// (a device id taken by hand) is said once per read of the broker, so that an
/// administrator sees why that device cannot log in.
fn warn_taken(foreign: &BTreeSet<String>, wanted: &desired::Wanted) {
    for name in foreign
        .iter()
        .filter(|name| wanted.clients.contains_key(*name))
    {
        tracing::warn!(%name, "dynsec: a client not made by Hearth holds this name; Hearth leaves it alone");
    }
}
