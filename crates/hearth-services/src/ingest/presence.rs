//! Presence: who is online, decided from connections, messages and timeouts.
//!
//! A plain state machine with the clock passed in, owned by the ingest writer task (no
//! locks) and tested without sleeping. Rules (SPEC §4):
//! - Online on connect, on `status` saying online, and on any data, heartbeat or event.
//! - Offline on `status` saying offline (the will), when the device's connection ends
//!   (unless a newer connection of the same device is live: a takeover), and when
//!   nothing arrived within its timeout while it had no live connection of its own
//!   (a connected device's keep-alive is its heartbeat, checked by the broker).
//! - Each device has at most one live entry in the deadline heap: activity moves the
//!   deadline in the device's state, and a popped entry that is no longer due is pushed
//!   back at the new deadline. 50,000 messages a second cost no heap traffic.
//!
//! Devices that move (issue 20, docs/bridge.md "Devices that move"): a device of a site
//! is online here either through its own connection ([`Attachment::Direct`]) or
//! through what its site relays ([`Attachment::Site`]), never both at once, so that it
//! is online once, with the hub it is attached to:
//! - Its own connection wins while it lasts; the site's messages older (by the home's
//!   receive time) than the start of the device's latest connection here are history,
//!   not presence: a late `offline` queued at home never marks it offline.
//! - A site message newer than that start means the device went home: when its own
//!   connection here ends, it stays online through the site, and an `offline` of the
//!   connection it left (its will) changes nothing.
//! - When its own connection ends and the site has not (yet) claimed it, it waits
//!   [`MOVE_GRACE_MS`] for the site's word before going offline: the relay is slower
//!   than the broker's disconnect, and a device moving home must not flap offline.
//! - Attached through its site, it goes offline on the site's `offline` or after its
//!   timeout without news (the site's link lost: the cloud cannot tell, so offline).

use hearth_model::{Millis, PresenceReason};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

/// How long a site's device whose own connection here ended stays online waiting for
/// its site to say it is at home (the relay's delay: home ingest, the link's queue and
/// the cloud's commit, well under a second when the link is up).
pub const MOVE_GRACE_MS: Millis = 10_000;

/// A presence change to store and announce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub device: Arc<str>,
    pub online: bool,
    pub reason: PresenceReason,
    pub at_ms: Millis,
}

/// Where an online device is attached, as this hub sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attachment {
    /// Its own connection to this hub (or its messages published here).
    Direct,
    /// Through this site's link (a home hub relaying it).
    Site(Arc<str>),
}

/// Where each online device is attached, as the ingest writer last decided (after each
/// batch): read by the commands' route (a site's device connected here gets its
/// commands here) and the API. In memory: it describes live connections.
#[derive(Debug, Clone, Default)]
pub struct Attachments(Arc<parking_lot::RwLock<HashMap<Arc<str>, Attachment>>>);

impl Attachments {
    /// Where `device` is attached now; `None` when offline (or never heard of).
    pub fn get(&self, device: &str) -> Option<Attachment> {
        self.0.read().get(device).cloned()
    }

    pub(super) fn write(&self) -> parking_lot::RwLockWriteGuard<'_, HashMap<Arc<str>, Attachment>> {
        self.0.write()
    }
}

#[derive(Debug)]
struct DeviceState {
    online: bool,
    /// Where it is attached while online.
    attached: Option<Attachment>,
    /// The live connection of the device itself, if any.
    connection: Option<u64>,
    /// When its latest own connection began (kept after it ends): the site's messages
    /// older than this are history, not presence.
    direct_since_ms: Option<Millis>,
    /// Its site spoke of it after its own connection began (it went home): the end of
    /// that connection hands it to the site.
    site_claim: Option<Arc<str>>,
    /// Its own connection ended (or it said offline there) and no site claimed it yet:
    /// offline at this time, with this reason, unless the site claims it first.
    release: Option<(Millis, PresenceReason)>,
    deadline_ms: Millis,
    timeout_ms: Millis,
    /// The time of this device's live heap entry, if it has one.
    heap_at: Option<Millis>,
}

/// Presence of every device the hub has heard from.
#[derive(Debug, Default)]
pub struct Presence {
    devices: HashMap<Arc<str>, DeviceState>,
    deadlines: BinaryHeap<Reverse<(Millis, Arc<str>)>>,
    /// Devices whose attachment changed since [`Presence::take_moved`].
    moved: Vec<Arc<str>>,
}

impl Presence {
    fn state(&mut self, device: &Arc<str>, timeout_ms: Millis) -> &mut DeviceState {
        self.devices
            .entry(device.clone())
            .or_insert_with(|| DeviceState {
                online: false,
                attached: None,
                connection: None,
                direct_since_ms: None,
                site_claim: None,
                release: None,
                deadline_ms: 0,
                timeout_ms,
                heap_at: None,
            })
    }

    /// Makes sure the device's heap entry is due no later than its next deadline (its
    /// timeout, or its release if that is sooner).
    fn schedule(&mut self, device: &Arc<str>) {
        let Some(state) = self.devices.get_mut(device) else {
            return;
        };
        let due = state
            .release
            .map_or(state.deadline_ms, |(at, _)| at.min(state.deadline_ms));
        if state.heap_at.is_none_or(|at| due < at) {
            state.heap_at = Some(due);
            self.deadlines.push(Reverse((due, device.clone())));
        }
    }

    fn arm(&mut self, device: &Arc<str>, now_ms: Millis, timeout_ms: Millis) {
        let state = self.state(device, timeout_ms);
        state.timeout_ms = timeout_ms;
        state.deadline_ms = now_ms + timeout_ms;
        self.schedule(device);
    }

    fn attach(&mut self, device: &Arc<str>, attached: Option<Attachment>) {
        if let Some(state) = self.devices.get_mut(device)
            && state.attached != attached
        {
            state.attached = attached;
            self.moved.push(device.clone());
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
        if !online {
            state.release = None;
            state.site_claim = None;
            self.attach(device, None);
        }
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

    /// Data, heartbeat, an event, or `status` online arrived from the device itself.
    pub fn activity(
        &mut self,
        device: &Arc<str>,
        now_ms: Millis,
        timeout_ms: Millis,
    ) -> Option<Change> {
        self.arm(device, now_ms, timeout_ms);
        if let Some(state) = self.devices.get_mut(device)
            && state.release.is_none()
        {
            self.attach(device, Some(Attachment::Direct));
        }
        self.set(device, true, PresenceReason::Activity, now_ms)
    }

    /// The same from `site`'s relay, received at home at `home_ms`.
    pub fn site_activity(
        &mut self,
        device: &Arc<str>,
        site: &Arc<str>,
        home_ms: Millis,
        now_ms: Millis,
        timeout_ms: Millis,
    ) -> Option<Change> {
        let state = self.state(device, timeout_ms);
        if state.direct_since_ms.is_some_and(|since| home_ms < since) {
            // Older than its latest connection here: history, not presence.
            return None;
        }
        if state.connection.is_some() {
            // It is connected here too (or its disconnect is on the way): that wins
            // while it lasts; its end hands the device to the site.
            state.site_claim = Some(site.clone());
            return None;
        }
        state.release = None;
        state.site_claim = None;
        self.arm(device, now_ms, timeout_ms);
        self.attach(device, Some(Attachment::Site(site.clone())));
        self.set(device, true, PresenceReason::Activity, now_ms)
    }

    /// The device said it is offline here (`status` offline, usually its will).
    /// `grace` is [`MOVE_GRACE_MS`] for a device of a site (it may have gone home),
    /// `None` otherwise (offline at once).
    pub fn offline(
        &mut self,
        device: &Arc<str>,
        now_ms: Millis,
        grace: Option<Millis>,
    ) -> Option<Change> {
        match grace {
            None => self.set(device, false, PresenceReason::Status, now_ms),
            Some(grace) => self.end_direct(device, now_ms, grace, PresenceReason::Status),
        }
    }

    /// The site relayed the device's `offline` (its will at home), received at home
    /// at `home_ms`.
    pub fn site_offline(
        &mut self,
        device: &Arc<str>,
        home_ms: Millis,
        now_ms: Millis,
    ) -> Option<Change> {
        let state = self.devices.get_mut(device)?;
        let stale = state.direct_since_ms.is_some_and(|since| home_ms < since);
        if stale || state.connection.is_some() || state.release.is_some() {
            // Its own connection here (live, or just ended and deciding) speaks for it.
            return None;
        }
        self.set(device, false, PresenceReason::Status, now_ms)
    }

    /// A site's device is no longer attached here directly: handed to the site if it
    /// claimed it, else offline after `grace` unless it does meanwhile.
    fn end_direct(
        &mut self,
        device: &Arc<str>,
        now_ms: Millis,
        grace: Millis,
        reason: PresenceReason,
    ) -> Option<Change> {
        let state = self.devices.get_mut(device)?;
        if matches!(state.attached, Some(Attachment::Site(_))) || !state.online {
            // Already with its site (this is the will of the connection it left), or
            // offline anyway.
            return None;
        }
        if let Some(site) = state.site_claim.take() {
            let timeout_ms = state.timeout_ms;
            state.release = None;
            self.arm(device, now_ms, timeout_ms);
            self.attach(device, Some(Attachment::Site(site)));
            return None;
        }
        let at = now_ms + grace;
        state.release = Some(match state.release {
            Some((earlier, why)) if earlier <= at => (earlier, why),
            _ => (at, reason),
        });
        self.schedule(device);
        None
    }

    /// The device's own connection was established.
    pub fn connected(
        &mut self,
        device: &Arc<str>,
        connection: u64,
        now_ms: Millis,
        timeout_ms: Millis,
    ) -> Option<Change> {
        let state = self.state(device, timeout_ms);
        state.connection = Some(connection);
        state.direct_since_ms = Some(now_ms);
        state.site_claim = None;
        state.release = None;
        self.activity(device, now_ms, timeout_ms)
    }

    /// A connection of the device ended; ignored when it is not the current one.
    /// `grace` as for [`Presence::offline`].
    pub fn disconnected(
        &mut self,
        device: &Arc<str>,
        connection: u64,
        now_ms: Millis,
        grace: Option<Millis>,
    ) -> Option<Change> {
        let state = self.devices.get_mut(device)?;
        if state.connection != Some(connection) {
            return None;
        }
        state.connection = None;
        match grace {
            None => self.set(device, false, PresenceReason::Disconnect, now_ms),
            Some(grace) => self.end_direct(device, now_ms, grace, PresenceReason::Disconnect),
        }
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

    /// Devices whose timeout (or wait for their site) ran out by `now_ms`.
    pub fn expire(&mut self, now_ms: Millis, restarted_before_ms: Millis) -> Vec<Change> {
        let mut changes = Vec::new();
        while let Some(Reverse((deadline, _))) = self.deadlines.peek() {
            if *deadline > now_ms {
                break;
            }
            let Some(Reverse((popped, device))) = self.deadlines.pop() else {
                break;
            };
            let Some(state) = self.devices.get_mut(&device) else {
                continue;
            };
            if state.heap_at != Some(popped) {
                // Superseded by an earlier entry of the same device.
                continue;
            }
            state.heap_at = None;
            if let Some((at, reason)) = state.release
                && at <= now_ms
            {
                changes.extend(self.set(&device, false, reason, now_ms));
                continue;
            }
            if state.release.is_some() || state.deadline_ms > now_ms {
                // Activity moved the deadline since this entry was pushed.
                self.schedule(&device);
                continue;
            }
            if state.connection.is_some() {
                // Connected: the broker's keep-alive watches it; check again later.
                state.deadline_ms = now_ms + state.timeout_ms;
                self.schedule(&device);
                continue;
            }
            if state.online {
                let reason = if state.deadline_ms - state.timeout_ms < restarted_before_ms {
                    PresenceReason::Restart
                } else {
                    PresenceReason::Timeout
                };
                changes.extend(self.set(&device, false, reason, now_ms));
            }
        }
        changes
    }

    /// Whether the device is online now.
    pub fn is_online(&self, device: &str) -> bool {
        self.devices.get(device).is_some_and(|state| state.online)
    }

    /// Where the device is attached, while online.
    pub fn attachment(&self, device: &str) -> Option<&Attachment> {
        self.devices
            .get(device)
            .filter(|state| state.online)
            .and_then(|state| state.attached.as_ref())
    }

    /// The devices whose attachment changed since the last call.
    pub fn take_moved(&mut self) -> Vec<Arc<str>> {
        std::mem::take(&mut self.moved)
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
        let change = presence.disconnected(&d1, 7, 10 * TIMEOUT, None).unwrap();
        assert_eq!(change.reason, PresenceReason::Disconnect);
        assert!(!presence.is_online("d1"));
    }

    #[test]
    fn a_takeovers_late_disconnect_is_ignored() {
        let mut presence = Presence::default();
        let d1 = device("d1");
        presence.connected(&d1, 1, 0, TIMEOUT);
        presence.connected(&d1, 2, 10, TIMEOUT);
        assert_eq!(presence.disconnected(&d1, 1, 20, None), None);
        assert!(presence.is_online("d1"));
        assert!(presence.disconnected(&d1, 2, 30, None).is_some());
    }

    #[test]
    fn status_offline_and_back() {
        let mut presence = Presence::default();
        let d1 = device("d1");
        presence.activity(&d1, 0, TIMEOUT);
        assert_eq!(
            presence.offline(&d1, 5, None).unwrap().reason,
            PresenceReason::Status
        );
        assert_eq!(presence.offline(&d1, 6, None), None);
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

#[cfg(test)]
#[path = "presence_moves.rs"]
mod moves;
