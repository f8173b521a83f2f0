//! `/api/v1/bridge`: the home hub's link to its cloud hub (issue 20, docs/bridge.md),
//! read by hub administrators only: it names the cloud's address and the site, and its
//! counts say how much the household's devices report.

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use hearth_services::bridge::BridgeStatus;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_bridge))
}

/// The link to the cloud and its queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct BridgeView {
    /// This hub's site id in the cloud.
    pub site: String,
    /// The cloud's address, `mqtt[s]://host:port`.
    pub url: String,
    /// Whether the link is connected now.
    pub up: bool,
    /// Since when the link is down (epoch ms); absent while up.
    pub down_since_ms: Option<i64>,
    /// Messages and bytes on disk waiting for the cloud's acknowledgement.
    pub queued_messages: u64,
    pub queued_bytes: u64,
    pub queue_max_messages: u64,
    pub queue_max_bytes: u64,
    /// `drop-oldest` or `refuse`.
    pub overflow: String,
    /// Since the hub started: queued, sent (each attempt), acknowledged by the cloud,
    /// dropped (overflow), refused (queue full), rejected by the cloud.
    pub queued_total: u64,
    pub sent_total: u64,
    pub acked_total: u64,
    pub dropped_total: u64,
    pub refused_total: u64,
    pub rejected_total: u64,
    /// Commands from the cloud published to home devices.
    pub commands_total: u64,
    pub connects_total: u64,
    /// When the cloud last acknowledged a message (epoch ms).
    pub last_sent_at_ms: Option<i64>,
    /// The cloud's registry mirrored here (docs/bridge.md "Registry mirror").
    pub mirror: Option<MirrorView>,
}

/// The registry mirror at home.
#[derive(Debug, Serialize, ToSchema)]
pub struct MirrorView {
    /// The cloud's revision (its audit sequence) of the snapshot applied last; absent
    /// before the first.
    pub revision: Option<i64>,
    /// When that snapshot was applied (epoch ms).
    pub last_sync_ms: Option<i64>,
    /// What the cloud refused of this hub's devices, and what the snapshot overrode or
    /// kept here.
    pub conflicts: Vec<MirrorConflictView>,
    /// Devices created here sent up since the hub started (each attempt).
    pub pushed_total: u64,
    /// Snapshots refused since the hub started (unreadable, invalid).
    pub rejected_total: u64,
}

/// One conflict of the registry mirror.
#[derive(Debug, Serialize, ToSchema)]
pub struct MirrorConflictView {
    /// The device id (or `user:NAME`, `app:ID` at home).
    pub device: String,
    pub reason: String,
    pub at_ms: i64,
}

impl From<hearth_store::MirrorConflict> for MirrorConflictView {
    fn from(conflict: hearth_store::MirrorConflict) -> MirrorConflictView {
        MirrorConflictView {
            device: conflict.device,
            reason: conflict.reason,
            at_ms: conflict.at_ms,
        }
    }
}

impl From<BridgeStatus> for BridgeView {
    fn from(status: BridgeStatus) -> BridgeView {
        BridgeView {
            site: status.site,
            url: status.url,
            up: status.up,
            down_since_ms: status.down_since_ms,
            queued_messages: status.queued_messages,
            queued_bytes: status.queued_bytes,
            queue_max_messages: status.queue_max_messages,
            queue_max_bytes: status.queue_max_bytes,
            overflow: status.overflow,
            queued_total: status.queued_total,
            sent_total: status.sent_total,
            acked_total: status.acked_total,
            dropped_total: status.dropped_total,
            refused_total: status.refused_total,
            rejected_total: status.rejected_total,
            commands_total: status.commands_total,
            connects_total: status.connects_total,
            last_sent_at_ms: status.last_sent_at_ms,
            mirror: status.mirror.map(|mirror| MirrorView {
                revision: mirror.revision,
                last_sync_ms: mirror.last_sync_ms,
                conflicts: mirror.conflicts.into_iter().map(Into::into).collect(),
                pushed_total: mirror.pushed_total,
                rejected_total: mirror.rejected_total,
            }),
        }
    }
}

/// The link to the cloud hub (hub administrators only; 404 on a hub without `[bridge]`).
#[utoipa::path(get, path = "/bridge", tag = "admin",
    responses(
        (status = 200, body = BridgeView),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
    ))]
async fn get_bridge(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<BridgeView>> {
    caller.require_admin("the cloud link's status")?;
    let bridge = state
        .bridge
        .as_ref()
        .ok_or_else(|| ApiError::not_found("this hub has no [bridge] to a cloud hub"))?;
    Ok(axum::Json(bridge.status().into()))
}
