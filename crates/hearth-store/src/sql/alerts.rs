//! Alert rules, alerts and notifications: one copy of each query for both backends
//! (included with `#[path]`, see `sql/mod.rs`). Each record is a JSON document; the
//! columns beside it are what listings and the engine filter on.

use super::audit::write_audit;
use super::automations::{audited, touched};
use super::registry::{DbRow, GROUP_EXISTS, begin_write, finish, get, require};
use super::statement;
use super::{Db, ThisStore};
use crate::alerts::{AlertFilter, AlertStore};
use crate::sql::{backend, map_err};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use hearth_model::{
    Alert, AlertRule, AlertState, DeviceId, GroupId, Millis, NewAuditEntry, Notification, Severity,
};
use serde::de::DeserializeOwned;
use sqlx::QueryBuilder;

fn document<T: DeserializeOwned>(row: &DbRow, what: &str) -> StoreResult<T> {
    serde_json::from_str(&get::<String>(row, "document")?)
        .map_err(|error| backend(format!("stored {what}: {error}")))
}

fn text<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(backend)
}

/// The rule as stored: the document, with the columns winning (enabling changes them).
fn rule_from_row(row: &DbRow) -> StoreResult<AlertRule> {
    let mut rule: AlertRule = document(row, "alert rule")?;
    rule.spec.enabled = get(row, "enabled")?;
    Ok(rule)
}

async fn insert_notifications(
    tx: &mut super::registry::DbTx,
    notifications: &[Notification],
) -> StoreResult<()> {
    for notification in notifications {
        statement(
            "INSERT INTO notifications (id, alert_id, group_id, channel, state, \
             next_attempt_at_ms, created_at_ms, document) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&notification.id)
        // An automation's notify action: no alert.
        .bind((!notification.alert.is_empty()).then_some(notification.alert.as_str()))
        .bind(notification.group.as_str())
        .bind(&notification.channel)
        .bind(notification.state.as_str())
        .bind(notification.next_attempt_at_ms)
        .bind(notification.created_at_ms)
        .bind(text(notification)?)
        .execute(&mut **tx)
        .await
        .map_err(|error| {
            map_err(
                error,
                Some(("notification", notification.id.as_str())),
                None,
            )
        })?;
    }
    Ok(())
}

#[async_trait]
impl AlertStore for ThisStore {
    async fn insert_alert_rule(&self, rule: &AlertRule, audit: &NewAuditEntry) -> StoreResult<()> {
        let document = text(rule)?;
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            require(tx, GROUP_EXISTS, "group", rule.spec.group.as_str()).await?;
            statement(
                "INSERT INTO alert_rules (id, group_id, name, enabled, document, created_by, \
                 created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&rule.id)
            .bind(rule.spec.group.as_str())
            .bind(&rule.spec.name)
            .bind(rule.spec.enabled)
            .bind(document)
            .bind(&rule.created_by)
            .bind(rule.created_at_ms)
            .bind(rule.updated_at_ms)
            .execute(&mut **tx)
            .await
            .map_err(|error| map_err(error, Some(("alert rule", rule.id.as_str())), None))?;
            Ok(())
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn update_alert_rule(&self, rule: &AlertRule, audit: &NewAuditEntry) -> StoreResult<()> {
        let document = text(rule)?;
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            let done = statement(
                "UPDATE alert_rules SET name = $2, enabled = $3, document = $4, \
                 updated_at_ms = $5 WHERE id = $1",
            )
            .bind(&rule.id)
            .bind(&rule.spec.name)
            .bind(rule.spec.enabled)
            .bind(document)
            .bind(rule.updated_at_ms)
            .execute(&mut **tx)
            .await
            .map_err(backend)?;
            touched(done.rows_affected(), "alert rule", &rule.id)
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn delete_alert_rule(&self, id: &str, audit: &NewAuditEntry) -> StoreResult<()> {
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            let done = statement("DELETE FROM alert_rules WHERE id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
            touched(done.rows_affected(), "alert rule", id)
        }
        .await;
        audited(tx, change, audit).await
    }

    async fn alert_rule(&self, id: &str) -> StoreResult<AlertRule> {
        let row = statement("SELECT enabled, document FROM alert_rules WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::not_found("alert rule", id))?;
        rule_from_row(&row)
    }

    async fn alert_rules(&self, group: Option<&GroupId>) -> StoreResult<Vec<AlertRule>> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        if let Some(group) = group {
            require(&mut conn, GROUP_EXISTS, "group", group.as_str()).await?;
        }
        let rows = statement(
            "SELECT enabled, document FROM alert_rules WHERE ($1 IS NULL OR group_id = $1) \
             ORDER BY group_id, name, id",
        )
        .bind(group.map(GroupId::as_str))
        .fetch_all(&mut *conn)
        .await
        .map_err(backend)?;
        rows.iter().map(rule_from_row).collect()
    }

    async fn open_alert(&self, alert: &Alert, notifications: &[Notification]) -> StoreResult<()> {
        let document = text(alert)?;
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            statement(
                "INSERT INTO alerts (id, rule_id, group_id, device_id, state, severity, \
                 opened_at_ms, document) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&alert.id)
            .bind(&alert.rule)
            .bind(alert.group.as_str())
            .bind(alert.device.as_str())
            .bind(alert.state.as_str())
            .bind(alert.severity.as_str())
            .bind(alert.opened_at_ms)
            .bind(document)
            .execute(&mut **tx)
            .await
            .map_err(|error| {
                map_err(
                    error,
                    Some(("active alert", alert.device.as_str())),
                    Some(("alert rule", alert.rule.as_str())),
                )
            })?;
            insert_notifications(tx, notifications).await
        }
        .await;
        finish(tx, change).await
    }

    async fn update_alert(
        &self,
        alert: &Alert,
        notifications: &[Notification],
        audit: Option<&NewAuditEntry>,
    ) -> StoreResult<()> {
        let document = text(alert)?;
        let mut tx = begin_write(self).await?;
        let change = async {
            let tx = &mut tx;
            let done = statement("UPDATE alerts SET state = $2, document = $3 WHERE id = $1")
                .bind(&alert.id)
                .bind(alert.state.as_str())
                .bind(document)
                .execute(&mut **tx)
                .await
                .map_err(backend)?;
            if done.rows_affected() == 0 {
                return Err(StoreError::not_found("alert", &alert.id));
            }
            insert_notifications(tx, notifications).await?;
            match audit {
                Some(audit) => write_audit(tx, audit).await,
                None => Ok(()),
            }
        }
        .await;
        finish(tx, change).await
    }

    async fn alert(&self, id: &str) -> StoreResult<Alert> {
        let row = statement("SELECT document FROM alerts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .ok_or_else(|| StoreError::not_found("alert", id))?;
        document(&row, "alert")
    }

    async fn alerts(&self, filter: &AlertFilter) -> StoreResult<Vec<Alert>> {
        let mut select: QueryBuilder<Db> =
            QueryBuilder::new("SELECT document FROM alerts WHERE opened_at_ms >= ");
        select.push_bind(filter.since_ms.unwrap_or(i64::MIN));
        let mut any_of = |column: &str, values: Vec<String>| {
            if values.is_empty() {
                select.push(" AND 1 = 0");
                return;
            }
            select.push(format!(" AND {column} IN ("));
            let mut separated = select.separated(", ");
            for value in values {
                separated.push_bind(value);
            }
            select.push(")");
        };
        if let Some(groups) = &filter.groups {
            any_of(
                "group_id",
                groups.iter().map(|group| group.to_string()).collect(),
            );
        }
        if !filter.states.is_empty() {
            any_of(
                "state",
                filter
                    .states
                    .iter()
                    .map(|state| state.as_str().to_owned())
                    .collect(),
            );
        }
        if let Some(severity) = filter.severity {
            any_of("severity", vec![severity.as_str().to_owned()]);
        }
        if let Some(device) = &filter.device {
            any_of("device_id", vec![device.to_string()]);
        }
        if let Some(rule) = &filter.rule {
            any_of("rule_id", vec![rule.clone()]);
        }
        select.push(" ORDER BY opened_at_ms DESC, id DESC LIMIT ");
        select.push_bind(i64::from(filter.limit.unwrap_or(100)));
        let rows = select
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(|row| document(row, "alert")).collect()
    }

    async fn latest_alert(&self, rule: &str, device: &DeviceId) -> StoreResult<Option<Alert>> {
        let row = statement(
            "SELECT document FROM alerts WHERE rule_id = $1 AND device_id = $2 \
             ORDER BY opened_at_ms DESC, id DESC LIMIT 1",
        )
        .bind(rule)
        .bind(device.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|row| document(&row, "alert")).transpose()
    }

    async fn alert_counts(&self) -> StoreResult<Vec<(Severity, AlertState, u64)>> {
        let rows =
            statement("SELECT severity, state, COUNT(*) AS n FROM alerts GROUP BY severity, state")
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        let mut counts = Vec::new();
        for row in rows {
            let severity: String = get(&row, "severity")?;
            let state: String = get(&row, "state")?;
            let n: i64 = get(&row, "n")?;
            let severity = Severity::ALL.into_iter().find(|s| s.as_str() == severity);
            if let (Some(severity), Some(state)) = (severity, AlertState::parse(&state)) {
                counts.push((severity, state, n as u64));
            }
        }
        Ok(counts)
    }

    async fn queue_notifications(&self, notifications: &[Notification]) -> StoreResult<()> {
        if notifications.is_empty() {
            return Ok(());
        }
        let mut tx = begin_write(self).await?;
        let result = insert_notifications(&mut tx, notifications).await;
        finish(tx, result).await
    }

    async fn due_notifications(
        &self,
        now_ms: Millis,
        limit: u32,
    ) -> StoreResult<Vec<Notification>> {
        let rows = statement(
            "SELECT document FROM notifications WHERE state = 'pending' \
             AND next_attempt_at_ms <= $1 ORDER BY next_attempt_at_ms, created_at_ms, id LIMIT $2",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| document(row, "notification"))
            .collect()
    }

    async fn pending_notifications(&self, channel: &str) -> StoreResult<u64> {
        let row = statement(
            "SELECT COUNT(*) AS n FROM notifications WHERE state = 'pending' AND channel = $1",
        )
        .bind(channel)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(get::<i64>(&row, "n")? as u64)
    }

    async fn update_notification(&self, notification: &Notification) -> StoreResult<()> {
        let done = statement(
            "UPDATE notifications SET state = $2, next_attempt_at_ms = $3, document = $4 \
             WHERE id = $1",
        )
        .bind(&notification.id)
        .bind(notification.state.as_str())
        .bind(notification.next_attempt_at_ms)
        .bind(text(notification)?)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("notification", &notification.id));
        }
        Ok(())
    }

    async fn group_notifications(
        &self,
        group: &GroupId,
        limit: u32,
    ) -> StoreResult<Vec<Notification>> {
        let rows = statement(
            "SELECT document FROM notifications WHERE group_id = $1 \
             ORDER BY created_at_ms DESC, id DESC LIMIT $2",
        )
        .bind(group.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| document(row, "notification"))
            .collect()
    }

    async fn notifications_of(&self, alert: &str) -> StoreResult<Vec<Notification>> {
        let rows = statement(
            "SELECT document FROM notifications WHERE alert_id = $1 ORDER BY created_at_ms, id",
        )
        .bind(alert)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| document(row, "notification"))
            .collect()
    }
}
