//! Claiming devices (issue 23, docs/onboarding.md "Claiming a device").
//!
//! A maker or an installer registers a device *unclaimed*: it goes into the holding
//! application [`HOLDING`] (of the holding group of the same id, made here on first use,
//! with no members and a secret nobody keeps, so only hub administrators see what it
//! holds) with a one-time claim code. A person who shows the code claims it into a group
//! they may add devices to: the device moves into that person's claimed-devices
//! application of the group ([`claim_app_id`]), they become its owner and get `manage`
//! on that application, and the code is spent. Unclaiming puts it back in the holding
//! application with a new code and a new secret, which cuts its connection.
//!
//! Who may claim or unclaim, and the rate limits, are the HTTP API's to check; this is
//! the part every door shares.

use super::{Registry, RegistryError, optional_text};
use crate::login_limit::LoginLimiter;
use crate::secret;
use hearth_model::{
    AppId, Device, DeviceId, GroupId, NewAuditEntry, Permission, UserName, now_millis,
};
use hearth_store::{ClaimState, StoreError};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

/// The holding group's and application's id. Starts with `_`, which people rarely use,
/// so that it does not collide with a household's own ids.
pub const HOLDING: &str = "_unclaimed";

/// Claim codes are this many letters and digits: 16 of 62 is 95 bits, which no rate of
/// guessing reaches, yet short enough to type from a label (in groups of four).
pub const CLAIM_CODE_LEN: usize = 16;

/// Failed claims allowed per minute per person, and per device id (whoever tries):
/// past either, claiming answers [`ClaimError::TooMany`] for up to a minute. Per person,
/// so that one account cannot sweep ids; per device, so that many accounts cannot
/// share the guessing of one code. The cost: someone guessing at a device's id holds its
/// rightful owner off for up to a minute. Counted for any id, known or not, so the limit
/// says nothing about which devices exist.
pub const CLAIM_FAILURES_PER_MINUTE: u32 = 5;

/// The two sliding-window counters of failed claims (the login limiter's, keyed by
/// `user:<name>` and `device:<id>` without an address).
pub(super) struct ClaimLimits {
    by_user: LoginLimiter,
    by_device: LoginLimiter,
}

impl ClaimLimits {
    pub(super) fn new() -> ClaimLimits {
        ClaimLimits {
            by_user: LoginLimiter::new(CLAIM_FAILURES_PER_MINUTE),
            by_device: LoginLimiter::new(CLAIM_FAILURES_PER_MINUTE),
        }
    }

    fn check(&self, user: &UserName, device: &DeviceId, now: Instant) -> Result<(), Duration> {
        self.by_user.check(user.as_str(), None, now)?;
        self.by_device.check(device.as_str(), None, now)
    }

    fn fail(&self, user: &UserName, device: &DeviceId, now: Instant) {
        self.by_user.fail(user.as_str(), None, now);
        self.by_device.fail(device.as_str(), None, now);
    }
}

/// A device registered unclaimed: its secret (for the device) and its claim code (for
/// the label), each shown only now.
#[derive(Debug, Clone)]
pub struct Unclaimed {
    pub device: Device,
    pub secret: String,
    pub code: String,
}

/// Why a claim was refused. `NoSuchClaim` is one answer for an unknown device, a wrong
/// code, a spent code and a device that is not waiting to be claimed, so that a claim
/// says nothing about which devices exist.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("no device is waiting to be claimed with that id and code")]
    NoSuchClaim,
    /// Too many failed claims by this person or for this device id in the last minute.
    #[error("too many failed claims; retry in {} s", .0.as_secs().max(1))]
    TooMany(Duration),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

impl From<StoreError> for ClaimError {
    fn from(error: StoreError) -> ClaimError {
        ClaimError::Registry(error.into())
    }
}

/// The application a person's claimed devices of a group live in: one per (group,
/// person), so that their `manage` grant on it covers exactly the devices they own.
/// The id is derived (a hash of both) so that it fits the 64-character limit whatever
/// the ids' lengths, and is found again without a lookup table.
pub fn claim_app_id(group: &GroupId, owner: &UserName) -> AppId {
    let digest = Sha256::digest(format!("{group}\n{owner}").as_bytes());
    AppId::new(&format!("claimed-{}", &hex::encode(digest)[..16]))
        .expect("claimed- and hex digits make a valid id")
}

fn holding_app() -> AppId {
    AppId::new(HOLDING).expect("the holding id is valid")
}

fn ignore_conflict<T>(result: Result<T, RegistryError>) -> Result<(), RegistryError> {
    match result {
        Ok(_) | Err(RegistryError::Store(StoreError::Conflict { .. })) => Ok(()),
        Err(error) => Err(error),
    }
}

impl Registry {
    /// The holding application, made (with its group) the first time it is needed.
    async fn ensure_holding(&self, actor: &str) -> Result<AppId, RegistryError> {
        let app = holding_app();
        match self.store.app(&app).await {
            Ok(_) => return Ok(app),
            Err(StoreError::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        let group = GroupId::new(HOLDING).expect("the holding id is valid");
        ignore_conflict(
            self.add_group(actor, &group, Some("Unclaimed devices"), None)
                .await,
        )?;
        ignore_conflict(
            self.add_app(
                actor,
                &app,
                &group,
                Some("Unclaimed devices"),
                Some("Devices waiting to be claimed (docs/onboarding.md)"),
            )
            .await,
        )?;
        Ok(app)
    }

    /// Registers a device unclaimed (in the holding application, whatever `spec.app`
    /// says): returns it with its secret and its claim code.
    pub async fn add_unclaimed_device(
        &self,
        actor: &str,
        mut spec: super::DeviceSpec,
    ) -> Result<Unclaimed, RegistryError> {
        spec.app = Some(self.ensure_holding(actor).await?);
        spec.room = None;
        let (_, device_secret) = self.add_device(actor, spec.clone()).await?;
        let code = self.set_claim_code(actor, &spec.id, None).await?;
        Ok(Unclaimed {
            device: self.store.device(&spec.id).await?,
            secret: device_secret,
            code,
        })
    }

    /// Registers many devices unclaimed, all or nothing as [`Registry::add_devices`]
    /// (their `app` and `room` are ignored: they wait in the holding application), then
    /// gives each its claim code: `(id, secret, code)` per device, each shown only now.
    /// Should a code fail to be stored, the devices already hold their place in the
    /// holding application and `new_claim_code` gives them one.
    pub async fn add_unclaimed_devices(
        &self,
        actor: &str,
        specs: Vec<super::DeviceSpec>,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Vec<(DeviceId, String, String)>, RegistryError> {
        let holding = self.ensure_holding(actor).await?;
        let specs = specs
            .into_iter()
            .map(|spec| super::DeviceSpec {
                app: Some(holding.clone()),
                room: None,
                ..spec
            })
            .collect();
        let secrets = self.add_devices(actor, specs, progress).await?;
        let mut made = Vec::with_capacity(secrets.len());
        for (id, device_secret) in secrets {
            let code = self.set_claim_code(actor, &id, None).await?;
            made.push((id, device_secret, code));
        }
        Ok(made)
    }

    /// Stores a fresh claim code (and, with `secret_hash`, a new secret) and returns
    /// the code.
    async fn set_claim_code(
        &self,
        actor: &str,
        id: &DeviceId,
        secret_hash: Option<&str>,
    ) -> Result<String, RegistryError> {
        let code = secret::random_string(CLAIM_CODE_LEN);
        let action = if secret_hash.is_some() {
            "device.unclaim"
        } else {
            "device.claim_code"
        };
        self.store
            .make_unclaimed(
                id,
                &holding_app(),
                &secret::hash_secret(&code),
                secret_hash,
                &NewAuditEntry::new(actor, action, id),
            )
            .await?;
        self.changed();
        Ok(code)
    }

    /// A new claim code for a device waiting to be claimed, or one in the holding
    /// application without a code (for a new label: only the code's hash is kept, so
    /// printing a label makes a new code and the previous one stops working). `Invalid`
    /// for a device that has been claimed.
    pub async fn new_claim_code(
        &self,
        actor: &str,
        id: &DeviceId,
    ) -> Result<String, RegistryError> {
        let waiting = self.store.claim_state(id).await?.unclaimed()
            || self.store.device(id).await?.application.as_str() == HOLDING;
        if !waiting {
            return Err(RegistryError::invalid(
                "id",
                format!(
                    "device {id} is not waiting to be claimed (its owner can unclaim it, \
                     which makes a new code)"
                ),
            ));
        }
        self.set_claim_code(actor, id, None).await
    }

    /// The device's claim state (owner, whether it waits to be claimed).
    pub async fn claim_state(&self, id: &DeviceId) -> Result<ClaimState, RegistryError> {
        Ok(self.store.claim_state(id).await?)
    }

    /// `owner` claims device `id` with `code` into `group` (the caller checked that they
    /// may add devices there): the device moves into their claimed-devices application
    /// of the group (made on first use, with `owner` granted `manage`), `room` is set
    /// if given, and the code is spent. Every refusal about the device or the code is
    /// [`ClaimError::NoSuchClaim`], checked in the same time whether the device exists.
    pub async fn claim_device(
        &self,
        actor: &str,
        owner: &UserName,
        id: &DeviceId,
        code: &str,
        group: &GroupId,
        room: Option<&str>,
    ) -> Result<Device, ClaimError> {
        let room = optional_text("room", room, 64)?;
        let now = Instant::now();
        self.claim_limits
            .check(owner, id, now)
            .map_err(ClaimError::TooMany)?;
        let refused = || {
            self.claim_limits.fail(owner, id, now);
            tracing::warn!(user = %owner, device = %id, "claim refused");
            ClaimError::NoSuchClaim
        };
        let hash = match self.store.claim_state(id).await {
            Ok(ClaimState {
                code_hash: Some(hash),
                ..
            }) => hash,
            Ok(_) | Err(StoreError::NotFound { .. }) => {
                // Cost what a check costs, so that timing does not tell either.
                let _ = secret::verify(code.as_bytes(), &secret::hash_secret("-"));
                return Err(refused());
            }
            Err(error) => return Err(error.into()),
        };
        if !secret::verify(code.as_bytes(), &hash) {
            return Err(refused());
        }
        let app = self.ensure_claim_app(actor, group, owner).await?;
        let audit = NewAuditEntry::new(actor, "device.claim", id).with_detail(json!({
            "owner": owner,
            "group": group,
            "application": app,
            "room": room,
        }));
        match self
            .store
            .claim_device(
                id,
                &hash,
                &app,
                owner,
                room.as_deref(),
                now_millis(),
                &audit,
            )
            .await
        {
            Ok(()) => {}
            // Spent by a claim that won a race with this one.
            Err(StoreError::NotFound { what: "device", .. }) => {
                return Err(refused());
            }
            Err(error) => return Err(error.into()),
        }
        self.changed();
        Ok(self.store.device(id).await?)
    }

    /// The owner's claimed-devices application in `group`, made the first time, with
    /// the owner's `manage` grant on it.
    async fn ensure_claim_app(
        &self,
        actor: &str,
        group: &GroupId,
        owner: &UserName,
    ) -> Result<AppId, RegistryError> {
        let app = claim_app_id(group, owner);
        match self.store.app(&app).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => ignore_conflict(
                self.add_app(
                    actor,
                    &app,
                    group,
                    Some(&format!("Claimed devices ({owner})")),
                    Some(&format!("Devices {owner} claimed (docs/onboarding.md)")),
                )
                .await,
            )?,
            Err(error) => return Err(error.into()),
        }
        let granted = self
            .store
            .grants(&app)
            .await?
            .into_iter()
            .any(|grant| &grant.user == owner && grant.permission == Permission::Manage);
        if !granted {
            self.set_grant(actor, &app, owner, Permission::Manage)
                .await?;
        }
        Ok(app)
    }

    /// Returns a device to the holding application, unowned, with a new claim code and
    /// a new secret (its connection is cut and the old secret refused from now on):
    /// `(secret, code)`, each shown only now. The caller checked that `actor` may.
    pub async fn unclaim_device(
        &self,
        actor: &str,
        id: &DeviceId,
    ) -> Result<(String, String), RegistryError> {
        self.ensure_holding(actor).await?;
        let device_secret = secret::generate_secret();
        let code = self
            .set_claim_code(actor, id, Some(&secret::hash_secret(&device_secret)))
            .await?;
        Ok((device_secret, code))
    }
}
