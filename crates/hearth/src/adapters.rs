//! The glue between the HTTP API's seams and the services: the API knows nothing of
//! `hearth_services`, the services nothing of HTTP, and this is where they meet.

use async_trait::async_trait;
use hearth_api::{
    ApiError, CommandRequest, CommandService, IssuedCredential, Metrics, MqttCredentialIssuer,
};
use hearth_bus::Bus;
use hearth_model::{Command, DeviceId, UserName};
use hearth_services::RegistryAuthorizer;
use hearth_services::automations::engine::EngineCounters;
use hearth_services::commands::{CommandError, Commands};
use hearth_services::ingest::IngestCounters;
use hearth_store::StoreError;
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub use crate::engine_adapters::{AlertAdapter, EngineAdapter};

/// `hearth_api::CommandService` over the commands service.
pub struct CommandAdapter(pub Commands);

fn api_error(error: CommandError) -> ApiError {
    match error {
        CommandError::Invalid { field, message } => ApiError::invalid(field, message),
        CommandError::Store(StoreError::NotFound { what, id }) => {
            ApiError::not_found(format!("{what} {id:?} not found"))
        }
        CommandError::Store(other) => ApiError::internal(other),
        CommandError::Stopped => ApiError::unavailable("the hub is shutting down"),
    }
}

#[async_trait]
impl CommandService for CommandAdapter {
    async fn send(&self, request: CommandRequest) -> Result<Command, ApiError> {
        let ttl_secs = request
            .ttl_ms
            .map(|ms| u32::try_from((ms / 1000).max(1)).unwrap_or(u32::MAX));
        self.0
            .send(
                &request.actor,
                &request.device,
                &request.name,
                request.params,
                ttl_secs,
            )
            .await
            .map_err(api_error)
    }

    async fn list(&self, device: &DeviceId, limit: u32) -> Result<Vec<Command>, ApiError> {
        self.0.list(device, limit).await.map_err(api_error)
    }

    async fn get(&self, id: &str) -> Result<Command, ApiError> {
        self.0.get(id).await.map_err(api_error)
    }
}

/// How long a browser's MQTT password lives; the web app asks again before it ends.
const BROWSER_TOKEN_TTL_MS: i64 = 15 * 60 * 1000;

/// `hearth_api::MqttCredentialIssuer` over the authorizer's browser tokens.
pub struct CredentialAdapter {
    pub authorizer: Arc<RegistryAuthorizer>,
    pub bus: Arc<dyn Bus>,
    /// Where browsers reach MQTT over WebSocket, or why they cannot
    /// (`crate::browser_mqtt::browser_ws_url`).
    pub ws_url: Result<String, String>,
}

impl MqttCredentialIssuer for CredentialAdapter {
    fn issue(&self, user: &UserName, session: &str) -> Result<IssuedCredential, ApiError> {
        let ws_url = self
            .ws_url
            .as_ref()
            .map_err(|reason| ApiError::unavailable(reason.clone()))?;
        let (password, expires_at_ms) =
            self.authorizer
                .issue_user_token(user.as_str(), session, BROWSER_TOKEN_TTL_MS);
        Ok(IssuedCredential {
            ws_url: ws_url.clone(),
            client_id: hearth_services::auth::browser_client_id(
                user.as_str(),
                &hearth_services::secret::random_string(8).to_lowercase(),
            ),
            username: user.to_string(),
            password,
            expires_at_ms,
        })
    }

    fn revoke_session(&self, session: &str) {
        let authorizer = self.authorizer.clone();
        let bus = self.bus.clone();
        let session = session.to_owned();
        // The API answers the logout at once; the cut follows within milliseconds.
        tokio::spawn(async move {
            authorizer.revoke_session(&session, bus.as_ref()).await;
        });
    }
}

/// Feeds the hub's counters to `/metrics`. Broker statistics come from a snapshot the
/// caller refreshes (the broker answers asynchronously, a scrape is synchronous).
pub fn register_metrics(
    metrics: &Metrics,
    broker_stats: Arc<parking_lot::Mutex<Option<hearth_broker::StatsSnapshot>>>,
    authorizer: Arc<RegistryAuthorizer>,
    ingest: Arc<IngestCounters>,
    ingest_backlog: Arc<dyn Fn() -> usize + Send + Sync>,
    commands: Commands,
    automations: Arc<EngineCounters>,
) {
    metrics.add_collector(move |out| {
        for (name, help, counter) in [
            (
                "hearth_automation_runs_total",
                "automation runs started (or resumed after a restart)",
                &automations.runs,
            ),
            (
                "hearth_automation_failures_total",
                "automation runs that ended failed",
                &automations.failures,
            ),
            (
                "hearth_automation_skipped_total",
                "automation runs not started: a condition did not hold, or the run mode refused",
                &automations.skipped,
            ),
            (
                "hearth_automation_lost_total",
                "hub events the automation engine missed because it fell behind",
                &automations.lagged,
            ),
            (
                "hearth_automation_loops_stopped_total",
                "runs refused because a chain of automations went past max_chain_depth",
                &automations.loops_stopped,
            ),
            (
                "hearth_automation_rate_limited_total",
                "runs refused because an automation started max_runs_per_minute already",
                &automations.rate_limited,
            ),
        ] {
            out.counter(name, help, &[], counter.load(Ordering::Relaxed) as f64);
        }
        out.counter(
            "hearth_automation_evaluation_seconds_total",
            "time the automation engine spent evaluating triggers and conditions",
            &[],
            automations.evaluation_ns.load(Ordering::Relaxed) as f64 / 1e9,
        );
        let outcomes = commands.counters();
        for (status, counter) in [
            ("sent", &outcomes.sent),
            ("acked", &outcomes.acked),
            ("failed", &outcomes.failed),
            ("timeout", &outcomes.timeout),
        ] {
            out.counter(
                "hearth_commands_total",
                "device commands by status reached",
                &[("status", status)],
                counter.load(Ordering::Relaxed) as f64,
            );
        }
        for (what, counter) in [
            ("store", &outcomes.store_failures),
            ("publish", &outcomes.publish_failures),
        ] {
            out.counter(
                "hearth_commands_failures_total",
                "command store reads and writes, and publishes, that failed (logged, retried)",
                &[("what", what)],
                counter.load(Ordering::Relaxed) as f64,
            );
        }
        out.counter(
            "hearth_commands_superseded_total",
            "command status writes that found another node's change first (external mode: \
             the node re-read the command and kept that change)",
            &[],
            outcomes.superseded.load(Ordering::Relaxed) as f64,
        );
        out.gauge(
            "hearth_commands_open",
            "commands waiting for their device or its answer (one deadline each)",
            &[],
            outcomes.armed_deadlines.load(Ordering::Relaxed) as f64,
        );
        if let Some(stats) = broker_stats.lock().as_ref() {
            out.gauge(
                "hearth_mqtt_connections",
                "MQTT clients connected now",
                &[],
                stats.clients_connected as f64,
            );
            out.counter(
                "hearth_mqtt_messages_received_total",
                "PUBLISH packets received from clients",
                &[],
                stats.messages_received as f64,
            );
            out.counter(
                "hearth_mqtt_messages_sent_total",
                "PUBLISH packets sent to clients",
                &[],
                stats.messages_sent as f64,
            );
            out.gauge(
                "hearth_mqtt_queued_messages",
                "QoS 1/2 messages queued for sessions",
                &[],
                stats.queued as f64,
            );
            out.counter(
                "hearth_mqtt_dropped_total",
                "messages dropped by a limit",
                &[("why", "queue_full")],
                stats.dropped_queue_full as f64,
            );
            out.counter(
                "hearth_mqtt_dropped_total",
                "messages dropped by a limit",
                &[("why", "qos0_backlog")],
                stats.dropped_qos0_backlog as f64,
            );
            for limited in &stats.rate_limited {
                out.counter(
                    "hearth_mqtt_rate_limited_total",
                    "publishes slowed, refused or disconnected, and connections refused, by [mqtt.rate_limits]",
                    &[("kind", limited.kind), ("reason", limited.reason)],
                    limited.count as f64,
                );
            }
        }
        let auth = authorizer.counters();
        out.counter(
            "hearth_denied_total",
            "MQTT actions refused by the ACL",
            &[("action", "publish")],
            auth.publishes_denied.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "hearth_denied_total",
            "MQTT actions refused by the ACL",
            &[("action", "subscribe")],
            auth.subscribes_denied.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "hearth_denied_total",
            "MQTT actions refused by the ACL",
            &[("action", "connect")],
            auth.connects_refused.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "hearth_ingest_stored_total",
            "device messages committed to history",
            &[],
            ingest.stored.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "hearth_ingest_bad_json_total",
            "device messages stored raw because they were not JSON",
            &[],
            ingest.bad_json.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "hearth_ingest_ts_clamped_total",
            "device messages whose ts lay outside [ingest] max_past_secs/max_future_secs",
            &[],
            ingest.ts_clamped.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "hearth_ingest_unknown_device_total",
            "messages from unknown or disabled devices, not ingested",
            &[],
            ingest.unknown_device.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "hearth_ingest_batches_total",
            "ingest transactions committed",
            &[],
            ingest.batches.load(Ordering::Relaxed) as f64,
        );
        out.counter(
            "hearth_ingest_failed_batches_total",
            "ingest transactions that failed (their messages were refused)",
            &[],
            ingest.failed_batches.load(Ordering::Relaxed) as f64,
        );
        out.gauge(
            "hearth_ingest_backlog",
            "device messages waiting for the ingest writer (lag)",
            &[],
            ingest_backlog() as f64,
        );
        out.counter(
            "hearth_ingest_commit_seconds_total",
            "time spent committing ingest batches (divide by batches for the mean)",
            &[],
            ingest.commit_micros.load(Ordering::Relaxed) as f64 / 1e6,
        );
        if let Some(bytes) = resident_memory_bytes() {
            out.gauge(
                "process_resident_memory_bytes",
                "resident memory of the hub process",
                &[],
                bytes as f64,
            );
        }
    });
}

/// `/metrics` for alerts: alerts by severity and state (read from the store every few
/// seconds by the hub, kept in `counts`), raised alerts, dropped and delivered
/// notifications.
pub fn register_alert_metrics(
    metrics: &Metrics,
    counts: Arc<parking_lot::Mutex<Vec<(hearth_model::Severity, hearth_model::AlertState, u64)>>>,
    alerts: Arc<hearth_services::alerts::AlertCounters>,
    delivery: Arc<hearth_services::notify::delivery::DeliveryCounters>,
) {
    metrics.add_collector(move |out| {
        // Every severity and state, zero when there is none: a series that exists only
        // while alerts do would leave dashboards (packaging/grafana) without a line.
        let counts = counts.lock();
        for severity in hearth_model::Severity::ALL {
            for state in hearth_model::AlertState::ALL {
                let count = counts
                    .iter()
                    .find(|(s, t, _)| *s == severity && *t == state)
                    .map_or(0, |(_, _, count)| *count);
                out.gauge(
                    "hearth_alerts",
                    "alerts by severity and state",
                    &[("severity", severity.as_str()), ("state", state.as_str())],
                    count as f64,
                );
            }
        }
        for (name, help, counter) in [
            (
                "hearth_alerts_raised_total",
                "alerts opened",
                &alerts.raised,
            ),
            (
                "hearth_notifications_dropped_total",
                "notifications not queued because their channel's queue was full",
                &alerts.dropped,
            ),
            (
                "hearth_alerts_lost_total",
                "hub events the alert engine missed because it fell behind",
                &alerts.lagged,
            ),
            (
                "hearth_notifications_sent_total",
                "notifications delivered",
                &delivery.sent,
            ),
            (
                "hearth_notifications_retried_total",
                "notification attempts that failed and will be retried",
                &delivery.retried,
            ),
            (
                "hearth_notifications_failed_total",
                "notifications given up after their last attempt",
                &delivery.failed,
            ),
        ] {
            out.counter(name, help, &[], counter.load(Ordering::Relaxed) as f64);
        }
    });
}

/// The process's resident set from `/proc/self/statm` (Linux; `None` elsewhere), named
/// as Prometheus' own process collectors name it so that dashboards need no mapping.
fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a constant of the running system.
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page_size).ok()?)
}

/// Registers the hub's metrics and keeps the broker's counters fresh (one `stats` call to
/// the router every few seconds rather than one per scrape).
pub(crate) fn feed_metrics(
    state: &hearth_api::AppState,
    broker: Option<&hearth_broker::Broker>,
    authorizer: &Arc<RegistryAuthorizer>,
    ingest: &hearth_services::ingest::Ingest,
    commands: &Commands,
    engine: &Arc<EngineCounters>,
) -> tokio::task::JoinHandle<()> {
    let broker_stats = Arc::new(parking_lot::Mutex::new(None));
    register_metrics(
        state.metrics(),
        broker_stats.clone(),
        authorizer.clone(),
        ingest.counters().clone(),
        ingest.backlog_probe(),
        commands.clone(),
        engine.clone(),
    );
    // No counters of an external broker here (it has its own metrics).
    let handle = broker.map(hearth_broker::Broker::handle);
    tokio::spawn(async move {
        let Some(handle) = handle else { return };
        loop {
            if let Ok(stats) = handle.stats().await {
                *broker_stats.lock() = Some(stats);
            }
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    })
}

/// Registers the topic layouts' translator counters (docs/layouts.md): foreign messages
/// translated, unreadable (stored raw), ignored (not the publisher's) and live copies
/// dropped.
pub(crate) fn feed_layout_metrics(
    state: &hearth_api::AppState,
    translator: Arc<hearth_services::layouts::Translator>,
) {
    state.metrics().add_collector(move |out| {
        let counters = &translator.counters;
        for (outcome, count) in [
            ("translated", &counters.translated),
            ("ignored", &counters.ignored),
            ("live_dropped", &counters.live_dropped),
            ("unreadable", &counters.unreadable),
        ] {
            out.counter(
                "hearth_layout_messages_total",
                "messages on topic layouts' foreign topics, by what became of them",
                &[("outcome", outcome)],
                count.load(Ordering::Relaxed) as f64,
            );
        }
    });
}

/// Registers the alert metrics and keeps their counts by severity and state fresh (a
/// store query every few seconds rather than one per scrape).
pub(crate) fn feed_alert_metrics(
    state: &hearth_api::AppState,
    store: &Arc<dyn hearth_store::Store>,
    alerts: &hearth_services::alerts::AlertServices,
    delivery: &hearth_services::notify::delivery::Delivery,
) -> tokio::task::JoinHandle<()> {
    let counts = Arc::new(parking_lot::Mutex::new(Vec::new()));
    register_alert_metrics(
        state.metrics(),
        counts.clone(),
        alerts.counters.clone(),
        delivery.counters().clone(),
    );
    let store = store.clone();
    tokio::spawn(async move {
        loop {
            if let Ok(fresh) = store.alert_counts().await {
                *counts.lock() = fresh;
            }
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    })
}
