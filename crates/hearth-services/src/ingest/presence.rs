//! Presence: who is online, decided from connections, messages and timeouts.
//!
//! A plain state machine with the clock passed in, owned by the ingest writer task (no
//! locks) and tested without sleeping. Rules (SPEC §4):
//! - Online on connect, on `status` saying online, and on any data, heartbeat or event.
//! - Offline on `status` saying offline (the will), when the device's connection ends
//!   (unless a newer connection of the same device is live: a takeover), and when
//!   nothing arrived within its timeout while it had no live connection of its own
//!   (a connected device's keep-alive is its heartbeat, checked by the broker).
//! - Each device has at most one entry in the deadline heap: activity moves the
//!   deadline in the device's state, and a popped entry that is no longer due is pushed
//!   back at the new deadline. 50,000 messages a second cost no heap traffic.

use hearth_model::{Millis, PresenceReason};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

/// A presence change to store and announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub device: Arc<str>,
    pub online: bool,
    pub reason: PresenceReason,
    pub at_ms: Millis,
}

#[derive(Debug)]
struct DeviceState {
    online: bool,
    /// The live connection of the device itself, if any.
    connection: Option<u64>,
    deadline_ms: Millis,
    timeout_ms: Millis,
    in_heap: bool,
}

/// Presence of every device the hub has heard from.
#[derive(Debug, Default)]
pub struct Presence {
    devices: HashMap<Arc<str>, DeviceState>,
    deadlines: BinaryHeap<Reverse<(Millis, Arc<str>)>>,
}

impl Presence {
    fn state(&mut self, device: &Arc<str>, timeout_ms: Millis) -> &mut DeviceState {
        self.devices
            .entry(device.clone())
            .or_insert_with(|| DeviceState {
                online: false,
                connection: None,
                deadline_ms: 0,
                timeout_ms,
                in_heap: false,
            })
    }

    fn arm(&mut self, device: &Arc<str>, now_ms: Millis, timeout_ms: Millis) {
        let state = self.state(device, timeout_ms);
        state.timeout_ms = timeout_ms;
        state.deadline_ms = now_ms + timeout_ms;
        if !state.in_heap {
            state.in_heap = true;
            let deadline = state.deadline_ms;
            self.deadlines.push(Reverse((deadline, device.clone())));
        }
    }

    fn set(
        &mut self,
        device: &Arc<str>,
        online: bool,
        reason: PresenceReason,
        now_ms: Millis,
    ) -> Option<Change> {
        let state = self.devices.get_mut(device)?;
        if state.online == online {
            return None;
        }
        state.online = online;
        Some(Change {
            device: device.clone(),
            online,
            reason,
            at_ms: now_ms,
        })
    }

    /// Data, heartbeat, an event, or `status` online arrived.
    pub fn activity(
        &mut self,
        device: &Arc<str>,
        now_ms: Millis,
        timeout_ms: Millis,
    ) -> Option<Change> {
        self.arm(device, now_ms, timeout_ms);
        self.set(device, true, PresenceReason::Activity, now_ms)
    }

    /// The device said it is offline (`status` offline, usually its will).
    pub fn offline(&mut self, device: &Arc<str>, now_ms: Millis) -> Option<Change> {
        self.set(device, false, PresenceReason::Status, now_ms)
    }

    /// The device's own connection was established.
    pub fn connected(
        &mut self,
        device: &Arc<str>,
        connection: u64,
        now_ms: Millis,
        timeout_ms: Millis,
    ) -> Option<Change> {
        self.state(device, timeout_ms).connection = Some(connection);
        self.activity(device, now_ms, timeout_ms)
    }

    /// A connection of the device ended; ignored when it is not the current one.
    pub fn disconnected(
        &mut self,
        device: &Arc<str>,
        connection: u64,
        now_ms: Millis,
    ) -> Option<Change> {
        let state = self.devices.get_mut(device)?;
        if state.connection != Some(connection) {
            return None;
        }
        state.connection = None;
        self.set(device, false, PresenceReason::Disconnect, now_ms)
    }

    /// After a restart: the store says the device was online, last seen at
    /// `last_seen_ms`. It stays online until its timeout runs out from then (at once if
    /// that is already past, reported with reason `Restart`).
    pub fn restore(&mut self, device: &Arc<str>, last_seen_ms: Millis, timeout_ms: Millis) {
        self.arm(device, last_seen_ms, timeout_ms);
        self.state(device, timeout_ms).online = true;
    }

    /// When the next timeout is due, if any device is waiting for one.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.deadlines
            .peek()
            .map(|Reverse((deadline, _))| *deadline)
    }

    /// Devices whose timeout ran out by `now_ms`.
    pub fn expire(&mut self, now_ms: Millis, restarted_before_ms: Millis) -> Vec<Change> {
        let mut changes = Vec::new();
        while let Some(Reverse((deadline, _))) = self.deadlines.peek() {
            if *deadline > now_ms {
                break;
            }
            let Some(Reverse((_, device))) = self.deadlines.pop() else {
                break;
            };
            let Some(state) = self.devices.get_mut(&device) else {
                continue;
            };
            if state.deadline_ms > now_ms {
                // Activity moved the deadline since this entry was pushed.
                let deadline = state.deadline_ms;
                self.deadlines.push(Reverse((deadline, device)));
                continue;
            }
            if state.connection.is_some() {
                // Connected: the broker's keep-alive watches it; check again later.
                state.deadline_ms = now_ms + state.timeout_ms;
                let deadline = state.deadline_ms;
                self.deadlines.push(Reverse((deadline, device)));
                continue;
            }
            state.in_heap = false;
            if state.online {
                let reason = if state.deadline_ms - state.timeout_ms < restarted_before_ms {
                    PresenceReason::Restart
                } else {
                    PresenceReason::Timeout
                };
                if let Some(change) = self.set(&device, false, reason, now_ms) {
                    changes.push(change);
                }
            }
        }
        changes
    }

    /// Whether the device is online now.
    #[cfg(test)]
    pub fn is_online(&self, device: &str) -> bool {
        self.devices.get(device).is_some_and(|state| state.online)
    }

    /// Forgets a device (deleted from the registry).
    pub fn forget(&mut self, device: &str) {
        self.devices.remove(device);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Millis = 60_000;

    fn device(name: &str) -> Arc<str> {
        name.into()
    }

    #[test]
    fn first_activity_brings_a_device_online_once() {
        let mut presence = Presence::default();
        let d1 = device("d1");
        let change = presence.activity(&d1, 1_000, TIMEOUT).unwrap();
        assert!(change.online);
        assert_eq!(change.reason, PresenceReason::Activity);
        assert_eq!(presence.activity(&d1, 2_000, TIMEOUT), None);
        assert!(presence.is_online("d1"));
    }

    #[test]
    fn a_silent_unconnected_device_times_out_exactly_at_its_deadline() {
        let mut presence = Presence::default();
        let d1 = device("d1");
        presence.activity(&d1, 1_000, TIMEOUT);
        presence.activity(&d1, 30_000, TIMEOUT);
        assert_eq!(presence.next_deadline(), Some(61_000));
        // The first entry is no longer due: it moves to the new deadline.
        assert!(presence.expire(61_000, 0).is_empty());
        assert_eq!(presence.next_deadline(), Some(90_000));
        assert!(presence.expire(89_999, 0).is_empty());
        let changes = presence.expire(90_000, 0);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].reason, PresenceReason::Timeout);
        assert!(!changes[0].online);
        assert_eq!(presence.next_deadline(), None);
    }

    #[test]
    fn a_connected_device_does_not_time_out_but_goes_offline_on_disconnect() {
        let mut presence = Presence::default();
        let d1 = device("d1");
        assert!(presence.connected(&d1, 7, 0, TIMEOUT).unwrap().online);
        assert!(presence.expire(10 * TIMEOUT, 0).is_empty());
        assert!(presence.is_online("d1"));
        let change = presence.disconnected(&d1, 7, 10 * TIMEOUT).unwrap();
        assert_eq!(change.reason, PresenceReason::Disconnect);
        assert!(!presence.is_online("d1"));
    }

    #[test]
    fn a_takeovers_late_disconnect_is_ignored() {
        let mut presence = Presence::default();
        let d1 = device("d1");
        presence.connected(&d1, 1, 0, TIMEOUT);
        presence.connected(&d1, 2, 10, TIMEOUT);
        assert_eq!(presence.disconnected(&d1, 1, 20), None);
        assert!(presence.is_online("d1"));
        assert!(presence.disconnected(&d1, 2, 30).is_some());
    }

    #[test]
    fn status_offline_and_back() {
        let mut presence = Presence::default();
        let d1 = device("d1");
        presence.activity(&d1, 0, TIMEOUT);
        assert_eq!(
            presence.offline(&d1, 5).unwrap().reason,
            PresenceReason::Status
        );
        assert_eq!(presence.offline(&d1, 6), None);
        assert!(presence.activity(&d1, 7, TIMEOUT).unwrap().online);
    }

    #[test]
    fn restored_devices_expire_from_their_last_sighting() {
        let mut presence = Presence::default();
        let stale = device("stale");
        let fresh = device("fresh");
        let restart_ms = 1_000_000;
        presence.restore(&stale, restart_ms - 2 * TIMEOUT, TIMEOUT);
        presence.restore(&fresh, restart_ms - 1_000, TIMEOUT);
        let changes = presence.expire(restart_ms, restart_ms);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].device, stale);
        assert_eq!(changes[0].reason, PresenceReason::Restart);
        assert!(presence.is_online("fresh"));
        let later = presence.expire(restart_ms - 1_000 + TIMEOUT, restart_ms);
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].device, fresh);
    }
}
