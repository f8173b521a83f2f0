//! Automations, scenes, runs and timers: one copy of each query for both backends
//! (included with `#[path]`, see `sql/mod.rs`).
//!
//! The document column holds the whole spec as JSON; group, name and enabled are columns
//! too, and the columns win when a row is read (enabling changes only the column).

use super::ThisStore;
use super::audit::write_audit;
use super::registry::{
    DbRow, DbTx, GROUP_EXISTS, begin_write, change_one, finish, get, id, require,
};
use super::statement;
use crate::automations::{AutomationRun, AutomationStore, AutomationTimer};
use crate::sql::{backend, json_text, json_value, map_err};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use hearth_model::{Automation, AutomationSpec, GroupId, Millis, NewAuditEntry, Scene, SceneSpec};

macro_rules! automation_columns {
    () => {
        "id, group_id, name, enabled, document, created_by, created_at_ms, updated_at_ms, \
         failures_in_row"
    };
}
macro_rules! scene_columns {
    () => {
        "id, group_id, name, document, created_by, created_at_ms, updated_at_ms"
    };
}
macro_rules! run_columns {
    () => {
        "id, automation_id, started_at_ms, finished_at_ms, status, trigger_info, trace"
    };
}
macro_rules! timer_columns {
    () => {
        "id, automation_id, run_id, kind, due_at_ms, state"
    };
}

fn automation_document(spec: &AutomationSpec) -> StoreResult<String> {
    serde_json::to_string(spec).map_err(backend)
}

fn scene_document(spec: &SceneSpec) -> StoreResult<String> {
    serde_json::to_string(spec).map_err(backend)
}

/// A stored document is corruption if it no longer parses.
fn corrupt(error: serde_json::Error) -> StoreError {
    backend(format!("stored document: {error}"))
}

fn automation_from_row(row: &DbRow) -> StoreResult<Automation> {
    let mut spec: AutomationSpec =
        serde_json::from_str(&get::<String>(row, "document")?).map_err(corrupt)?;
    spec.group = id(row, "group_id", GroupId::new)?;
    spec.name = get(row, "name")?;
    spec.enabled = get(row, "enabled")?;
    Ok(Automation {
        id: get(row, "id")?,
        spec,
        created_by: get(row, "created_by")?,
        created_at_ms: get(row, "created_at_ms")?,
        updated_at_ms: get(row, "updated_at_ms")?,
        failures_in_row: u32::try_from(get::<i32>(row, "failures_in_row")?).unwrap_or(0),
    })
}

fn scene_from_row(row: &DbRow) -> StoreResult<Scene> {
    let mut spec: SceneSpec =
        serde_json::from_str(&get::<String>(row, "document")?).map_err(corrupt)?;
    spec.group = id(row, "group_id", GroupId::new)?;
    spec.name = get(row, "name")?;
    Ok(Scene {
        id: get(row, "id")?,
        spec,
        created_by: get(row, "created_by")?,
        created_at_ms: get(row, "created_at_ms")?,
        updated_at_ms: get(row, "updated_at_ms")?,
    })
}

fn run_from_row(row: &DbRow) -> StoreResult<AutomationRun> {
    Ok(AutomationRun {
        id: get(row, "id")?,
        automation_id: get(row, "automation_id")?,
        started_at_ms: get(row, "started_at_ms")?,
        finished_at_ms: get(row, "finished_at_ms")?,
        status: get(row, "status")?,
        trigger: json_value(&get::<String>(row, "trigger_info")?)?,
        trace: json_value(&get::<String>(row, "trace")?)?,
    })
}

fn timer_from_row(row: &DbRow) -> StoreResult<AutomationTimer> {
    Ok(AutomationTimer {
        id: get(row, "id")?,
        automation_id: get(row, "automation_id")?,
        run_id: get(row, "run_id")?,
        kind: get(row, "kind")?,
        due_at_ms: get(row, "due_at_ms")?,
        state: json_value(&get::<String>(row, "state")?)?,
    })
}

/// Creates or replaces a timer by id.
fn timer_query(timer: &AutomationTimer) -> super::Statement<'_> {
    let sql = concat!(
        "INSERT INTO automation_timers (",
        timer_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET automation_id = excluded.automation_id, \
         run_id = excluded.run_id, kind = excluded.kind, due_at_ms = excluded.due_at_ms, \
         state = excluded.state"
    );
    statement(sql)
        .bind(&timer.id)
        .bind(&timer.automation_id)
        .bind(timer.run_id.as_deref())
        .bind(&timer.kind)
        .bind(timer.due_at_ms)
        .bind(json_text(&timer.state))
}

/// A timer's missing automation (or run) is `NotFound` for the automation.
fn timer_error(error: sqlx::Error, timer: &AutomationTimer) -> StoreError {
    map_err(
        error,
        None,
        Some(("automation", timer.automation_id.as_str())),
    )
}

/// Ends a change's transaction: with its audit entry and a commit if the change
/// succeeded, with a rollback otherwise.
pub(super) async fn audited(
    mut tx: DbTx,
    change: StoreResult<()>,
    audit: &NewAuditEntry,
) -> StoreResult<()> {
    let result = match change {
        Ok(()) => write_audit(&mut tx, audit).await,
        Err(error) => Err(error),
    };
    finish(tx, result).await
}

/// `NotFound` when a statement touched no row.
pub(super) fn touched(done: u64, what: &'static str, key: &str) -> StoreResult<()> {
    if done == 0 {
        Err(StoreError::not_found(what, key))
    } else {
        Ok(())
    }
}

/// A listing: `by_group` (one parameter, the group) or `all`, after checking that the
/// group exists (an unknown group is `NotFound`, not an empty list).
async fn listing(
    store: &ThisStore,
    (by_group, all): (&'static str, &'static str),
    group: Option<&GroupId>,
) -> StoreResult<Vec<DbRow>> {
    let mut conn = store.pool.acquire().await.map_err(backend)?;
    match group {
        Some(group) => {
            require(&mut conn, GROUP_EXISTS, "group", group.as_str()).await?;
            statement(by_group)
                .bind(group.as_str())
                .fetch_all(&mut *conn)
                .await
        }
        None => statement(all).fetch_all(&mut *conn).await,
    }
    .map_err(backend)
}

/// One row by id (`sql` has one parameter).
async fn one(
    store: &ThisStore,
    sql: &'static str,
    what: &'static str,
    key: &str,
) -> StoreResult<DbRow> {
    statement(sql)
        .bind(key)
        .fetch_optional(&store.pool)
        .await
        .map_err(backend)?
        .ok_or_else(|| StoreError::not_found(what, key))
}

#[async_trait]
impl AutomationStore for ThisStore {
    async fn insert_automation(
        &self,
        automation: &Automation,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let text = automation_document(&automation.spec)?;
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            require(tx, GROUP_EXISTS, "group", automation.spec.group.as_str()).await?;
            statement(
                "INSERT INTO automations (id, group_id, name, enabled, document, created_by, \
                     created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&automation.id)
            .bind(automation.spec.group.as_str())
            .bind(&automation.spec.name)
            .bind(automation.spec.enabled)
            .bind(text)
            .bind(&automation.created_by)
            .bind(automation.created_at_ms)
            .bind(automation.updated_at_ms)
            .execute(&mut **tx)
            .await
            .map_err(|error| map_err(error, Some(("automation", automation.id.as_str())), None))?;
            Ok(())
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn update_automation(
        &self,
        automation: &Automation,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let text = automation_document(&automation.spec)?;
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            let done = statement(
                "UPDATE automations SET name = $2, enabled = $3, document = $4, \
                     updated_at_ms = $5 WHERE id = $1",
            )
            .bind(&automation.id)
            .bind(&automation.spec.name)
            .bind(automation.spec.enabled)
            .bind(text)
            .bind(automation.updated_at_ms)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
            touched(done.rows_affected(), "automation", &automation.id)
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn set_automation_enabled(
        &self,
        id: &str,
        enabled: bool,
        updated_at_ms: Millis,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            let done =
                statement("UPDATE automations SET enabled = $2, updated_at_ms = $3 WHERE id = $1")
                    .bind(id)
                    .bind(enabled)
                    .bind(updated_at_ms)
                    .execute(&mut **tx)
                    .await
                    .map_err(backend)?;
            touched(done.rows_affected(), "automation", id)
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn delete_automation(&self, id: &str, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        // Runs and timers go with it (ON DELETE CASCADE).
        let change = change_one(
            &mut tx,
            "DELETE FROM automations WHERE id = $1",
            "automation",
            id,
        )
        .await;
        audited(tx, change, audit).await
    }

    async fn automation(&self, id: &str) -> StoreResult<Automation> {
        automation_from_row(
            &one(
                self,
                concat!(
                    "SELECT ",
                    automation_columns!(),
                    " FROM automations WHERE id = $1"
                ),
                "automation",
                id,
            )
            .await?,
        )
    }

    async fn automations(&self, group: Option<&GroupId>) -> StoreResult<Vec<Automation>> {
        let rows = listing(
            self,
            (
                concat!(
                    "SELECT ",
                    automation_columns!(),
                    " FROM automations WHERE group_id = $1 ORDER BY group_id, name, id"
                ),
                concat!(
                    "SELECT ",
                    automation_columns!(),
                    " FROM automations ORDER BY group_id, name, id"
                ),
            ),
            group,
        )
        .await?;
        rows.iter().map(automation_from_row).collect()
    }

    async fn insert_scene(&self, scene: &Scene, audit: &NewAuditEntry) -> StoreResult<()> {
        let text = scene_document(&scene.spec)?;
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            require(tx, GROUP_EXISTS, "group", scene.spec.group.as_str()).await?;
            statement(
                "INSERT INTO scenes (id, group_id, name, document, created_by, \
                     created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&scene.id)
            .bind(scene.spec.group.as_str())
            .bind(&scene.spec.name)
            .bind(text)
            .bind(&scene.created_by)
            .bind(scene.created_at_ms)
            .bind(scene.updated_at_ms)
            .execute(&mut **tx)
            .await
            .map_err(|error| map_err(error, Some(("scene", scene.id.as_str())), None))?;
            Ok(())
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn update_scene(&self, scene: &Scene, audit: &NewAuditEntry) -> StoreResult<()> {
        let text = scene_document(&scene.spec)?;
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            let done = statement(
                "UPDATE scenes SET name = $2, document = $3, updated_at_ms = $4 WHERE id = $1",
            )
            .bind(&scene.id)
            .bind(&scene.spec.name)
            .bind(text)
            .bind(scene.updated_at_ms)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
            touched(done.rows_affected(), "scene", &scene.id)
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn delete_scene(&self, id: &str, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let change = change_one(&mut tx, "DELETE FROM scenes WHERE id = $1", "scene", id).await;
        audited(tx, change, audit).await
    }

    async fn scene(&self, id: &str) -> StoreResult<Scene> {
        scene_from_row(
            &one(
                self,
                concat!("SELECT ", scene_columns!(), " FROM scenes WHERE id = $1"),
                "scene",
                id,
            )
            .await?,
        )
    }

    async fn scenes(&self, group: Option<&GroupId>) -> StoreResult<Vec<Scene>> {
        let rows = listing(
            self,
            (
                concat!(
                    "SELECT ",
                    scene_columns!(),
                    " FROM scenes WHERE group_id = $1 ORDER BY group_id, name, id"
                ),
                concat!(
                    "SELECT ",
                    scene_columns!(),
                    " FROM scenes ORDER BY group_id, name, id"
                ),
            ),
            group,
        )
        .await?;
        rows.iter().map(scene_from_row).collect()
    }

    async fn insert_run(&self, run: &AutomationRun) -> StoreResult<()> {
        statement(concat!(
            "INSERT INTO automation_runs (",
            run_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&run.id)
        .bind(&run.automation_id)
        .bind(run.started_at_ms)
        .bind(run.finished_at_ms)
        .bind(&run.status)
        .bind(json_text(&run.trigger))
        .bind(json_text(&run.trace))
        .execute(&self.pool)
        .await
        .map_err(|error| {
            map_err(
                error,
                Some(("automation run", run.id.as_str())),
                Some(("automation", run.automation_id.as_str())),
            )
        })?;
        Ok(())
    }

    async fn finish_run(
        &self,
        id: &str,
        finished_at_ms: Millis,
        status: &str,
        trace: &serde_json::Value,
    ) -> StoreResult<()> {
        let done = statement(
            "UPDATE automation_runs SET finished_at_ms = $2, status = $3, trace = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(finished_at_ms)
        .bind(status)
        .bind(json_text(trace))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        touched(done.rows_affected(), "automation run", id)?;
        // Only runs that acted count: a skipped or ignored run says nothing of health.
        if status == "failed" || status == "done" {
            statement(
                "UPDATE automations SET failures_in_row = \
                 CASE WHEN $2 = 'failed' THEN failures_in_row + 1 ELSE 0 END \
                 WHERE id = (SELECT automation_id FROM automation_runs WHERE id = $1)",
            )
            .bind(id)
            .bind(status)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        }
        Ok(())
    }

    async fn runs(&self, automation_id: &str, limit: u32) -> StoreResult<Vec<AutomationRun>> {
        let rows = statement(concat!("SELECT ", run_columns!(), " FROM automation_runs WHERE automation_id = $1 ORDER BY started_at_ms DESC, id DESC LIMIT $2"))
            .bind(automation_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(run_from_row).collect()
    }

    async fn put_timer(&self, timer: &AutomationTimer) -> StoreResult<()> {
        timer_query(timer)
            .execute(&self.pool)
            .await
            .map_err(|error| timer_error(error, timer))?;
        Ok(())
    }

    async fn put_timer_audited(
        &self,
        timer: &AutomationTimer,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let change = timer_query(timer)
            .execute(&mut *tx)
            .await
            .map(|_| ())
            .map_err(|error| timer_error(error, timer));
        audited(tx, change, audit).await
    }

    async fn delete_timer(&self, id: &str) -> StoreResult<()> {
        let done = statement("DELETE FROM automation_timers WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        touched(done.rows_affected(), "automation timer", id)
    }

    async fn timers(&self) -> StoreResult<Vec<AutomationTimer>> {
        let rows = statement(concat!(
            "SELECT ",
            timer_columns!(),
            " FROM automation_timers ORDER BY due_at_ms, id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(timer_from_row).collect()
    }
}
