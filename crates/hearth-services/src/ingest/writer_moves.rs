//! The ingest writer's part in devices that move (issue 20, docs/bridge.md "Devices
//! that move"): which presence rule a message goes to (its site's relay or the device's
//! own), the attachments copied out after each batch for the commands' route and the
//! API, and `online` said again for a site device whose `offline` was overruled (with
//! the retained presence announcements that carry it).

use super::super::presence::{Change, MOVE_GRACE_MS};
use super::super::queue::Item;
use super::{DeviceInfo, Writer};
use hearth_model::Millis;
use std::sync::Arc;

impl DeviceInfo {
    /// How long the end of its own connection waits for its site's word.
    pub(super) fn grace(&self) -> Option<Millis> {
        self.site.is_some().then_some(MOVE_GRACE_MS)
    }
}

impl Writer {
    /// Presence from a device's message: relayed by its site (with the home's receive
    /// time `seen_ms`) or its own.
    pub(super) fn seen(
        &mut self,
        id: &Arc<str>,
        info: &DeviceInfo,
        item: &Item,
        seen_ms: Millis,
        now_ms: Millis,
    ) -> Option<Change> {
        match &item.site {
            Some(site) => self
                .presence
                .site_activity(id, site, seen_ms, now_ms, info.timeout_ms),
            None => self.presence.activity(id, now_ms, info.timeout_ms),
        }
    }

    /// Copies the attachments that changed in this batch where commands read them.
    pub(super) fn publish_moves(&mut self) {
        let moved = self.presence.take_moved();
        if moved.is_empty() {
            return;
        }
        let mut attachments = self.attachments.write();
        for device in moved {
            match self.presence.attachment(&device) {
                Some(attached) => attachments.insert(device, attached.clone()),
                None => attachments.remove(&device),
            };
        }
    }

    /// The site devices of this batch whose `offline` was overruled and that are still
    /// online (and not announced by a change of this batch anyway): their retained
    /// status here just said `offline` (the relay's live copy, or their will), so it is
    /// said again.
    pub(super) fn overruled_online(&mut self, changes: &[Change]) -> Vec<Change> {
        let overruled = std::mem::take(&mut self.overruled);
        overruled
            .into_iter()
            .filter_map(|device| {
                let online = self.presence.is_online(&device);
                let changed = changes.iter().any(|change| change.device == device);
                (online && !changed).then_some(Change {
                    device,
                    online: true,
                    reason: hearth_model::PresenceReason::Activity,
                    at_ms: 0,
                })
            })
            .collect()
    }
}

impl Writer {
    /// Publishes presence changes retained on `devices/{id}/status` (those the device
    /// did not announce itself), and `online` again for site devices whose status
    /// message was overruled (a late `offline` from home, the will of the connection
    /// they left).
    pub(super) async fn announce(&mut self, changes: &[Change]) {
        let again = self.overruled_online(changes);
        for change in changes.iter().chain(&again) {
            if change.reason == hearth_model::PresenceReason::Status {
                continue;
            }
            let presence = if change.online {
                hearth_model::DevicePresence::Online
            } else {
                hearth_model::DevicePresence::Offline
            };
            let topic = hearth_model::topic::DeviceTopic {
                device: &change.device,
                kind: hearth_model::topic::TopicKind::Status,
            };
            let envelope = hearth_bus::Envelope::new(topic.to_string(), presence.as_str())
                .with_qos(hearth_bus::Qos::AtLeastOnce)
                .with_retain(true);
            if let Err(error) = self.bus.publish(envelope).await {
                tracing::debug!("presence not announced: {error}");
            }
        }
    }
}
