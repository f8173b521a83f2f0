//! [`FailingStore`]'s forwarding of the automation, confirmation-gate, alert and
//! preference stores (never made to fail).

use super::failing_store::FailingStore;
use async_trait::async_trait;
use hearth_model::*;
use hearth_store::*;

#[async_trait]
impl AutomationStore for FailingStore {
    async fn insert_automation(
        &self,
        automation: &Automation,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().insert_automation(automation, audit).await
    }
    async fn update_automation(
        &self,
        automation: &Automation,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().update_automation(automation, audit).await
    }
    async fn set_automation_enabled(
        &self,
        id: &str,
        enabled: bool,
        updated_at_ms: Millis,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner()
            .set_automation_enabled(id, enabled, updated_at_ms, audit)
            .await
    }
    async fn delete_automation(&self, id: &str, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner().delete_automation(id, audit).await
    }
    async fn automation(&self, id: &str) -> StoreResult<Automation> {
        self.inner().automation(id).await
    }
    async fn automations(&self, group: Option<&GroupId>) -> StoreResult<Vec<Automation>> {
        self.inner().automations(group).await
    }
    async fn insert_scene(&self, scene: &Scene, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner().insert_scene(scene, audit).await
    }
    async fn update_scene(&self, scene: &Scene, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner().update_scene(scene, audit).await
    }
    async fn delete_scene(&self, id: &str, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner().delete_scene(id, audit).await
    }
    async fn scene(&self, id: &str) -> StoreResult<Scene> {
        self.inner().scene(id).await
    }
    async fn scenes(&self, group: Option<&GroupId>) -> StoreResult<Vec<Scene>> {
        self.inner().scenes(group).await
    }
    async fn insert_run(&self, run: &AutomationRun) -> StoreResult<()> {
        self.inner().insert_run(run).await
    }
    async fn finish_run(
        &self,
        id: &str,
        finished_at_ms: Millis,
        status: &str,
        trace: &serde_json::Value,
    ) -> StoreResult<()> {
        self.inner()
            .finish_run(id, finished_at_ms, status, trace)
            .await
    }
    async fn runs(&self, automation_id: &str, limit: u32) -> StoreResult<Vec<AutomationRun>> {
        self.inner().runs(automation_id, limit).await
    }
    async fn put_timer(&self, timer: &AutomationTimer) -> StoreResult<()> {
        self.inner().put_timer(timer).await
    }
    async fn put_timer_audited(
        &self,
        timer: &AutomationTimer,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().put_timer_audited(timer, audit).await
    }
    async fn delete_timer(&self, id: &str) -> StoreResult<()> {
        self.inner().delete_timer(id).await
    }
    async fn timers(&self) -> StoreResult<Vec<AutomationTimer>> {
        self.inner().timers().await
    }
}

#[async_trait]
impl GateStore for FailingStore {
    async fn group_place(&self, group: &GroupId) -> StoreResult<GroupPlace> {
        self.inner().group_place(group).await
    }
    async fn group_places(&self) -> StoreResult<Vec<(GroupId, GroupPlace)>> {
        self.inner().group_places().await
    }
    async fn set_group_place(
        &self,
        group: &GroupId,
        place: &GroupPlace,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().set_group_place(group, place, audit).await
    }
    async fn put_confirmation(
        &self,
        confirmation: &Confirmation,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner().put_confirmation(confirmation, audit).await
    }
    async fn confirmation(&self, id: &str) -> StoreResult<Confirmation> {
        self.inner().confirmation(id).await
    }
    async fn note(&self, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner().note(audit).await
    }
    async fn set_webhook_hash(
        &self,
        automation_id: &str,
        hash: Option<&str>,
        audit: &NewAuditEntry,
    ) -> StoreResult<()> {
        self.inner()
            .set_webhook_hash(automation_id, hash, audit)
            .await
    }
    async fn webhook_hash(&self, automation_id: &str) -> StoreResult<Option<String>> {
        self.inner().webhook_hash(automation_id).await
    }
    async fn confirmations(
        &self,
        group: Option<&GroupId>,
        since_ms: Millis,
        limit: u32,
    ) -> StoreResult<Vec<Confirmation>> {
        self.inner().confirmations(group, since_ms, limit).await
    }
}

#[async_trait]
impl AlertStore for FailingStore {
    async fn insert_alert_rule(&self, rule: &AlertRule, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner().insert_alert_rule(rule, audit).await
    }
    async fn update_alert_rule(&self, rule: &AlertRule, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner().update_alert_rule(rule, audit).await
    }
    async fn delete_alert_rule(&self, id: &str, audit: &NewAuditEntry) -> StoreResult<()> {
        self.inner().delete_alert_rule(id, audit).await
    }
    async fn alert_rule(&self, id: &str) -> StoreResult<AlertRule> {
        self.inner().alert_rule(id).await
    }
    async fn alert_rules(&self, group: Option<&GroupId>) -> StoreResult<Vec<AlertRule>> {
        self.inner().alert_rules(group).await
    }
    async fn open_alert(&self, alert: &Alert, notifications: &[Notification]) -> StoreResult<()> {
        self.inner().open_alert(alert, notifications).await
    }
    async fn update_alert(
        &self,
        alert: &Alert,
        notifications: &[Notification],
        audit: Option<&NewAuditEntry>,
    ) -> StoreResult<()> {
        self.inner().update_alert(alert, notifications, audit).await
    }
    async fn alert(&self, id: &str) -> StoreResult<Alert> {
        self.inner().alert(id).await
    }
    async fn alerts(&self, filter: &AlertFilter) -> StoreResult<Vec<Alert>> {
        self.inner().alerts(filter).await
    }
    async fn latest_alert(&self, rule: &str, device: &DeviceId) -> StoreResult<Option<Alert>> {
        self.inner().latest_alert(rule, device).await
    }
    async fn alert_counts(&self) -> StoreResult<Vec<(Severity, AlertState, u64)>> {
        self.inner().alert_counts().await
    }
    async fn queue_notifications(&self, notifications: &[Notification]) -> StoreResult<()> {
        self.inner().queue_notifications(notifications).await
    }
    async fn group_notifications(
        &self,
        group: &GroupId,
        limit: u32,
    ) -> StoreResult<Vec<Notification>> {
        self.inner().group_notifications(group, limit).await
    }
    async fn due_notifications(
        &self,
        now_ms: Millis,
        limit: u32,
    ) -> StoreResult<Vec<Notification>> {
        self.inner().due_notifications(now_ms, limit).await
    }
    async fn pending_notifications(&self, channel: &str) -> StoreResult<u64> {
        self.inner().pending_notifications(channel).await
    }
    async fn update_notification(&self, notification: &Notification) -> StoreResult<()> {
        self.inner().update_notification(notification).await
    }
    async fn notifications_of(&self, alert: &str) -> StoreResult<Vec<Notification>> {
        self.inner().notifications_of(alert).await
    }
}

#[async_trait]
impl PreferenceStore for FailingStore {
    async fn notification_prefs(&self, user: &UserName) -> StoreResult<NotificationPrefs> {
        self.inner().notification_prefs(user).await
    }
    async fn set_notification_prefs(
        &self,
        user: &UserName,
        prefs: &NotificationPrefs,
    ) -> StoreResult<()> {
        self.inner().set_notification_prefs(user, prefs).await
    }
    async fn put_push_subscription(&self, subscription: &PushSubscription) -> StoreResult<()> {
        self.inner().put_push_subscription(subscription).await
    }
    async fn push_subscriptions(&self, user: &UserName) -> StoreResult<Vec<PushSubscription>> {
        self.inner().push_subscriptions(user).await
    }
    async fn delete_push_subscription(
        &self,
        endpoint: &str,
        user: Option<&UserName>,
    ) -> StoreResult<()> {
        self.inner().delete_push_subscription(endpoint, user).await
    }
}
