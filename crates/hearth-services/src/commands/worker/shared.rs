//! The store as several Hearth nodes share it (issue 21, docs/scale.md "Commands across
//! nodes"): every node runs this task over one database, and a device's answer reaches
//! one node only. What keeps the tasks from undoing each other:
//! - every write is a compare and set on the status the task last saw
//!   ([`Worker::write`]); the loser takes the winner's version and tells only its own
//!   listeners, since the winner announced it on the bus;
//! - the adoption tick ([`Worker::adopt_stored`]) takes in what other processes
//!   recorded, changed or finished, and in cluster mode delivers what is pending for
//!   devices the store says are online (presence events reach only the coordinator),
//!   reading at most [`ONLINE_READS_PER_TICK`] devices a tick;
//! - in cluster mode a command is claimed (pending → sent) before it is published
//!   ([`Worker::claim_and_publish`]).

use super::{RETRY_MS, Worker};
use hearth_bus::Envelope;
use hearth_model::{Command, CommandStatus, DeviceId, now_millis};
use hearth_store::StoreError;
use std::collections::{BTreeSet, HashSet};
use std::ops::Bound;
use std::sync::atomic::Ordering;

/// Most device reads one adoption tick spends on cluster-mode delivery: with more
/// devices waiting for their commands, the next tick goes on after the last one read.
const ONLINE_READS_PER_TICK: usize = 256;

/// What became of a write.
pub(super) enum Write {
    /// The store took it.
    Stored,
    /// The store held another status than the one expected: another node changed the
    /// command first. Carries the store's version, now in the working set and sent to
    /// this node's listeners (`None` when it could not be read, or is gone).
    Superseded(Option<Box<Command>>),
    /// The store failed (logged, counted).
    Failed,
}

impl Worker {
    /// Writes `command` if the store still holds it as `expected`. Nothing is applied or
    /// announced here: [`Worker::stored`] does that for a write that was taken.
    pub(super) async fn write(&mut self, command: &Command, expected: CommandStatus) -> Write {
        match self.store.update_command_if(command, expected).await {
            Ok(true) => Write::Stored,
            Ok(false) => {
                self.counters.superseded.fetch_add(1, Ordering::Relaxed);
                let stored = self.take_stored(&command.id).await;
                if let Some(stored) = &stored
                    && stored.status == expected
                {
                    // Changed and changed back since the write: looked at again soon,
                    // not in this very loop.
                    self.arm(&command.id, now_millis() + RETRY_MS);
                }
                Write::Superseded(stored.map(Box::new))
            }
            Err(error) => {
                self.counters.store_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(command = %command.id, status = command.status.as_str(),
                    "command status not stored (not announced, retried): {error}");
                Write::Failed
            }
        }
    }

    /// A command as the store has it: `Ok(None)` when there is none, `Err` (logged,
    /// counted) when it could not be read.
    pub(super) async fn read_command(&self, id: &str) -> Result<Option<Command>, ()> {
        match self.store.command(id).await {
            Ok(command) => Ok(Some(command)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(error) => {
                self.counters.store_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(command = id, "command not read: {error}");
                Err(())
            }
        }
    }

    /// Takes the store's version of a command that another node changed into the
    /// working set, and hands it to this node's listeners (`outcomes`: the automations
    /// and alerts of the coordinator hear of answers that reached another node here).
    /// Not on the bus: the node that stored it announced it there.
    async fn take_stored(&mut self, id: &str) -> Option<Command> {
        match self.read_command(id).await {
            Ok(Some(stored)) => {
                let _ = self.outcomes.send(stored.clone());
                self.put(stored.clone());
                Some(stored)
            }
            Ok(None) => {
                if let Some(open) = self.open.remove(id) {
                    self.deadlines.remove(&(open.deadline_ms, id.to_owned()));
                }
                None
            }
            Err(()) => {
                // Held as it was, and looked at again soon (not at once: a deadline
                // already past would come round again in the same loop).
                self.arm(id, now_millis() + RETRY_MS);
                None
            }
        }
    }

    /// The adoption tick: takes in commands that another process (`hearth device
    /// command`, another node) recorded, and the versions of those it changed (claimed,
    /// gave back, finished: the last ones are also handed to this node's listeners, so
    /// they hear of an outcome within one tick). Delivers what was recorded pending for
    /// a device that is online; in cluster mode, every pending command whose device the
    /// store says is online ([`Worker::deliver_to_online`]), since presence events may
    /// reach another node only.
    pub(super) async fn adopt_stored(&mut self) {
        let stored = match self.store.open_commands().await {
            Ok(stored) => stored,
            Err(error) => {
                self.counters.store_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("open commands not read (tried again in a second): {error}");
                return;
            }
        };
        let still_open: HashSet<&str> = stored.iter().map(|command| command.id.as_str()).collect();
        let finished: Vec<String> = self
            .open
            .keys()
            .filter(|id| !still_open.contains(id.as_str()))
            .cloned()
            .collect();
        for id in finished {
            self.take_stored(&id).await;
        }
        let mut recorded: Vec<(String, DeviceId)> = Vec::new();
        for command in stored {
            match self.open.get(&command.id).map(|open| &open.command) {
                Some(held)
                    if held.status == command.status && held.sent_at_ms == command.sent_at_ms => {}
                Some(_) => self.put(command),
                None => {
                    if command.status == CommandStatus::Pending {
                        recorded.push((command.id.clone(), command.device.clone()));
                    }
                    self.put(command);
                }
            }
        }
        if self.cluster {
            self.deliver_to_online().await;
            return;
        }
        for (id, device) in recorded {
            if self.is_online(&device).await == Some(true) {
                self.deliver(&id).await;
            }
        }
    }

    /// Cluster mode: delivers the pending commands of devices the store says are online,
    /// reading at most [`ONLINE_READS_PER_TICK`] devices a tick and going round those
    /// with pending commands.
    async fn deliver_to_online(&mut self) {
        let waiting: BTreeSet<DeviceId> = self
            .open
            .values()
            .filter(|open| open.command.status == CommandStatus::Pending)
            .map(|open| open.command.device.clone())
            .collect();
        let turn: Vec<DeviceId> = match self.online_cursor.take() {
            Some(after) => waiting
                .range((Bound::Excluded(after.clone()), Bound::Unbounded))
                .chain(waiting.range(..=after))
                .take(ONLINE_READS_PER_TICK)
                .cloned()
                .collect(),
            None => waiting
                .iter()
                .take(ONLINE_READS_PER_TICK)
                .cloned()
                .collect(),
        };
        for device in turn {
            if self.is_online(&device).await == Some(true) {
                self.device_online(device.as_str()).await;
            }
            self.online_cursor = Some(device);
        }
    }

    /// Delivery in cluster mode: claims the command in the store (pending → sent) and
    /// publishes it only if the claim won, so that two nodes that both see it pending
    /// (the API's node right after recording it, another node's adoption) deliver it
    /// once. If the publish fails, the claim is given back (sent → pending) and the
    /// delivery tried again. A node that stops between its claim and its publish
    /// leaves the command sent and unpublished, and it times out after its
    /// acknowledgement window: at most once in that window, rather than twice.
    pub(super) async fn claim_and_publish(
        &mut self,
        pending: Command,
        sent: Command,
        envelope: Envelope,
    ) {
        match self.write(&sent, CommandStatus::Pending).await {
            Write::Stored => {}
            Write::Superseded(_) => return,
            Write::Failed => {
                self.retry(&pending);
                return;
            }
        }
        if self.publish_command(&sent, envelope).await {
            self.stored(sent).await;
            return;
        }
        match self.write(&pending, CommandStatus::Sent).await {
            Write::Stored => self.retry(&pending),
            Write::Superseded(_) => {}
            // The store still says sent: held as sent, it times out.
            Write::Failed => self.put(sent),
        }
    }
}
