//! The command log: one copy of each query for both backends (included with `#[path]`,
//! see `sql/mod.rs`).

use super::ThisStore;
use super::registry::{DbRow, get, id};
use super::statement;
use crate::commands::CommandStore;
use crate::sql::{backend, json_text, json_value, map_err};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use hearth_model::{Command, CommandStatus, DeviceId};

/// The columns a [`Command`] is read from.
macro_rules! command_columns {
    () => {
        "id, device_id, name, params, issued_by, status, result, reported_state, \
         created_at_ms, sent_at_ms, finished_at_ms, expires_at_ms, ack_timeout_ms"
    };
}

fn optional_json(row: &DbRow, column: &str) -> StoreResult<Option<serde_json::Value>> {
    let text: Option<String> = get(row, column)?;
    text.as_deref().map(json_value).transpose()
}

fn command_from_row(row: &DbRow) -> StoreResult<Command> {
    let status: String = get(row, "status")?;
    let params: String = get(row, "params")?;
    Ok(Command {
        id: get(row, "id")?,
        device: id(row, "device_id", DeviceId::new)?,
        name: get(row, "name")?,
        params: json_value(&params)?,
        issued_by: get(row, "issued_by")?,
        status: CommandStatus::parse(&status)
            .ok_or_else(|| StoreError::Backend(format!("unknown command status {status:?}")))?,
        result: optional_json(row, "result")?,
        reported_state: optional_json(row, "reported_state")?,
        created_at_ms: get(row, "created_at_ms")?,
        sent_at_ms: get(row, "sent_at_ms")?,
        finished_at_ms: get(row, "finished_at_ms")?,
        expires_at_ms: get(row, "expires_at_ms")?,
        ack_timeout_ms: get(row, "ack_timeout_ms")?,
    })
}

#[async_trait]
impl CommandStore for ThisStore {
    async fn insert_command(&self, command: &Command) -> StoreResult<()> {
        statement(concat!(
            "INSERT INTO commands (",
            command_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&command.id)
        .bind(command.device.as_str())
        .bind(&command.name)
        .bind(json_text(&command.params))
        .bind(&command.issued_by)
        .bind(command.status.as_str())
        .bind(command.result.as_ref().map(json_text))
        .bind(command.reported_state.as_ref().map(json_text))
        .bind(command.created_at_ms)
        .bind(command.sent_at_ms)
        .bind(command.finished_at_ms)
        .bind(command.expires_at_ms)
        .bind(command.ack_timeout_ms)
        .execute(&self.pool)
        .await
        .map_err(|error| map_err(error, Some(("command", command.id.as_str())), None))?;
        Ok(())
    }

    async fn update_command(&self, command: &Command) -> StoreResult<()> {
        let done = statement(
            "UPDATE commands SET status = $1, result = $2, reported_state = $3, \
             sent_at_ms = $4, finished_at_ms = $5 WHERE id = $6",
        )
        .bind(command.status.as_str())
        .bind(command.result.as_ref().map(json_text))
        .bind(command.reported_state.as_ref().map(json_text))
        .bind(command.sent_at_ms)
        .bind(command.finished_at_ms)
        .bind(&command.id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("command", &command.id));
        }
        Ok(())
    }

    async fn update_command_if(
        &self,
        command: &Command,
        expected: CommandStatus,
    ) -> StoreResult<bool> {
        let done = statement(
            "UPDATE commands SET status = $1, result = $2, reported_state = $3, \
             sent_at_ms = $4, finished_at_ms = $5 WHERE id = $6 AND status = $7",
        )
        .bind(command.status.as_str())
        .bind(command.result.as_ref().map(json_text))
        .bind(command.reported_state.as_ref().map(json_text))
        .bind(command.sent_at_ms)
        .bind(command.finished_at_ms)
        .bind(&command.id)
        .bind(expected.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn command(&self, id: &str) -> StoreResult<Command> {
        let row = statement(concat!(
            "SELECT ",
            command_columns!(),
            " FROM commands WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::not_found("command", id))?;
        command_from_row(&row)
    }

    async fn commands(&self, device: &DeviceId, limit: u32) -> StoreResult<Vec<Command>> {
        let rows = statement(concat!(
            "SELECT ",
            command_columns!(),
            " FROM commands WHERE device_id = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2"
        ))
        .bind(device.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(command_from_row).collect()
    }

    async fn open_commands(&self) -> StoreResult<Vec<Command>> {
        let rows = statement(concat!(
            "SELECT ",
            command_columns!(),
            " FROM commands WHERE status IN ('pending', 'sent') ORDER BY created_at_ms, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(command_from_row).collect()
    }
}
