//! Replacing argon2id hashes of device and application secrets with fast ones
//! (`secret::hash_secret`) after a successful login.
//!
//! The login that proved the secret hands it here ([`Rehasher::offer`]); the new hash is
//! queued and one task writes the queue in batches (one transaction each) with
//! `CredentialStore::rehash_secrets`, a compare-and-set that writes no audit entry. A
//! login never waits for the store, and a fleet reconnecting after an upgrade costs a
//! few transactions, not a commit and a snapshot reload per device.
//!
//! The snapshot keeps the old hash until its next reload, and logins meanwhile are
//! answered from the authorizer's cache of verified passwords. When a reload does see the
//! new hash, the change must not look like a rotated secret (which disconnects the
//! client): [`Rehasher::same_secret`] tells the two apart, from the old and new hashes
//! of every rehash this process queued and the snapshot has not shown yet.

use super::snapshot::Snapshot;
use crate::secret;
use hearth_model::{AppId, DeviceId};
use hearth_store::{SecretOwner, SecretRehash, Store};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Rehashes waiting for the writer. When full, an offer is dropped: the owner's next
/// login offers it again.
const QUEUE_LEN: usize = 4096;

/// Rehashes written in one transaction at most.
const BATCH_LEN: usize = 256;

/// Whose password a login checked.
#[derive(Debug, Clone, Copy)]
pub(super) enum HashOwner<'a> {
    /// A device, by id.
    Device(&'a str),
    /// An application, by id (not its MQTT key).
    App(&'a str),
    /// A person: their password keeps its argon2id hash.
    Person,
}

/// Queues rehashes and remembers those the snapshot has not caught up with. Owned by
/// the authorizer; its writer task ends when the authorizer is dropped.
pub(super) struct Rehasher {
    /// Old hash to its replacement, from the offer until a snapshot no longer holds the
    /// old hash. A mutex held for a map operation, never across an await; shared with
    /// the writer, which forgets the rehashes the store refused.
    pending: Arc<Mutex<HashMap<Arc<str>, Arc<str>>>>,
    /// Bounded, and offered with `try_send`, so that a login never waits on it.
    queue: mpsc::Sender<SecretRehash>,
}

impl Rehasher {
    /// Starts the writer task (call inside a Tokio runtime).
    pub fn start(store: Arc<dyn Store>) -> Rehasher {
        let pending = Arc::new(Mutex::new(HashMap::new()));
        let (queue, receiver) = mpsc::channel(QUEUE_LEN);
        tokio::spawn(write(store, pending.clone(), receiver));
        Rehasher { pending, queue }
    }

    /// `password` just matched `stored_hash`: if that is an argon2 hash of a device's or
    /// an application's secret, queue its replacement by a fast hash of the same secret,
    /// unless one is queued or written already.
    pub fn offer(&self, owner: HashOwner<'_>, stored_hash: &Arc<str>, password: &[u8]) {
        if secret::is_fast_hash(stored_hash) {
            return;
        }
        let owner = match owner {
            HashOwner::Device(id) => DeviceId::new(id).ok().map(SecretOwner::Device),
            HashOwner::App(id) => AppId::new(id).ok().map(SecretOwner::App),
            HashOwner::Person => None,
        };
        // Generated secrets are ASCII; anything else is not one of ours to rehash.
        let (Some(owner), Ok(secret_text)) = (owner, std::str::from_utf8(password)) else {
            return;
        };
        let new_hash: Arc<str> = {
            let mut pending = self.pending.lock();
            if pending.contains_key(stored_hash) {
                return;
            }
            let new_hash: Arc<str> = secret::hash_secret(secret_text).into();
            pending.insert(stored_hash.clone(), new_hash.clone());
            new_hash
        };
        let rehash = SecretRehash {
            owner,
            old_hash: stored_hash.to_string(),
            new_hash: new_hash.to_string(),
        };
        if self.queue.try_send(rehash).is_err() {
            forget(&self.pending, stored_hash, &new_hash);
        }
    }

    /// Whether a stored hash that went from `old` to `new` still stands for the same
    /// secret: equal, or rehashed by this process.
    pub fn same_secret(&self, old: &str, new: &str) -> bool {
        old == new
            || self
                .pending
                .lock()
                .get(old)
                .is_some_and(|known| **known == *new)
    }

    /// Forgets the rehashes whose old hash `newer` no longer holds: written and seen,
    /// or overtaken by a new secret.
    pub fn settle(&self, newer: &Snapshot) {
        let mut pending = self.pending.lock();
        if pending.is_empty() {
            return;
        }
        let stored: HashSet<&str> = newer
            .devices
            .values()
            .map(|device| &*device.secret_hash)
            .chain(newer.apps.values().map(|app| &*app.secret_hash))
            .collect();
        pending.retain(|old, _| stored.contains(&**old));
    }
}

/// Removes `old`'s pending rehash if it is still `new` (so that the next login retries).
fn forget(pending: &Mutex<HashMap<Arc<str>, Arc<str>>>, old: &str, new: &str) {
    let mut pending = pending.lock();
    if pending.get(old).is_some_and(|known| **known == *new) {
        pending.remove(old);
    }
}

/// The writer: takes what the queue holds (up to [`BATCH_LEN`]) and writes it in one
/// transaction, until every sender is gone.
async fn write(
    store: Arc<dyn Store>,
    pending: Arc<Mutex<HashMap<Arc<str>, Arc<str>>>>,
    mut receiver: mpsc::Receiver<SecretRehash>,
) {
    let mut batch = Vec::with_capacity(BATCH_LEN);
    while receiver.recv_many(&mut batch, BATCH_LEN).await > 0 {
        match store.rehash_secrets(&batch).await {
            Ok(replaced) => {
                let mut written = 0;
                for (rehash, done) in batch.iter().zip(replaced) {
                    if done {
                        written += 1;
                    } else {
                        // Removed, or given a new secret since the login: leave it.
                        forget(&pending, &rehash.old_hash, &rehash.new_hash);
                    }
                }
                tracing::debug!(written, offered = batch.len(), "rehashed MQTT secrets");
            }
            Err(error) => {
                tracing::warn!(
                    "rehashing {} MQTT secrets failed (retried at their next login): {error}",
                    batch.len()
                );
                for rehash in &batch {
                    forget(&pending, &rehash.old_hash, &rehash.new_hash);
                }
            }
        }
        batch.clear();
    }
}
