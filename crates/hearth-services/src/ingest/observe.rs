//! The coordinator's view of every device message (issue 21, [`super::IngestRole::Observe`]).
//!
//! Nodes that share an external broker each get a share of the devices' messages; the
//! coordinator also subscribes to all of them, plainly, to keep presence and to feed the
//! engines. Nothing here is acknowledged (the storing node does that after its commit),
//! and a node's own publishes (a presence announcement, a command status) are not
//! devices' messages: the external bus leaves them without a principal.

use super::queue::IngestQueue;
use hearth_bus::{Interceptor, PrincipalKind, Subscription};
use hearth_store::{IngestBatch, LiveUpdate};
use std::sync::Arc;

/// Hands what `subscription` delivers to the writer's queue until it ends.
pub(super) async fn feed(mut subscription: Subscription, queue: Arc<IngestQueue>) {
    while let Some(message) = subscription.recv().await {
        let from_device = message
            .principal
            .as_ref()
            .is_some_and(|principal| principal.kind == PrincipalKind::Device);
        if !from_device {
            continue;
        }
        // The queue's own filter (history topics only), without an ack token: what a
        // plain subscription delivers carries no promise to keep.
        queue.intercept(&message, None);
    }
    tracing::warn!("the coordinator's subscription to the devices' messages ended");
}

/// What an observer commits of a batch: where presence stands, nothing else (the storing
/// nodes write the messages, points and live values).
pub(super) fn keep_presence_only(batch: &mut IngestBatch) {
    batch.messages.clear();
    batch.points.clear();
    batch.live.retain_mut(|update| {
        *update = LiveUpdate {
            device: update.device.take(),
            is_online: update.is_online,
            ..LiveUpdate::default()
        };
        update.is_online.is_some()
    });
}
