//! The command log's storage trait (remote control, SPEC §4).

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::{Command, CommandStatus, DeviceId};

/// Commands and their statuses. The commands service is the only writer; it keeps
/// the transitions legal (see `CommandStatus`), the store just records them.
#[async_trait]
pub trait CommandStore: Send + Sync {
    /// Records a new command; `Conflict` if the id exists.
    async fn insert_command(&self, command: &Command) -> StoreResult<()>;
    /// Replaces the mutable fields (status, result, reported_state, sent_at_ms,
    /// finished_at_ms) of an existing command; `NotFound` otherwise.
    async fn update_command(&self, command: &Command) -> StoreResult<()>;
    /// [`CommandStore::update_command`] only if the stored status is still `expected`
    /// (compare and set): `Ok(false)`, and nothing written, when it is not (or there is
    /// no such command). Several Hearth nodes on one database each run a commands
    /// service; this is how a node that acts on a status it read earlier (a deadline, a
    /// delivery) cannot overwrite what another node stored since (an answer).
    async fn update_command_if(
        &self,
        command: &Command,
        expected: CommandStatus,
    ) -> StoreResult<bool>;
    async fn command(&self, id: &str) -> StoreResult<Command>;
    /// A device's commands, newest first.
    async fn commands(&self, device: &DeviceId, limit: u32) -> StoreResult<Vec<Command>>;
    /// Every command not yet final (pending or sent), oldest first: what the service
    /// picks up again after a restart.
    async fn open_commands(&self) -> StoreResult<Vec<Command>>;
}
