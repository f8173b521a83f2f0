//! Presence of devices that move between a home hub (relaying through its site) and
//! this hub (their own connection): online once, with the hub they are attached to.

use super::*;

const TIMEOUT: Millis = 60_000;
const GRACE: Option<Millis> = Some(MOVE_GRACE_MS);

fn names() -> (Arc<str>, Arc<str>) {
    ("lamp".into(), "home-1".into())
}

fn site(name: &str) -> Option<Attachment> {
    Some(Attachment::Site(name.into()))
}

/// The lamp online at home, as the site relayed at home time `at`.
fn at_home(presence: &mut Presence, at: Millis) {
    let (lamp, home) = names();
    let change = presence.site_activity(&lamp, &home, at, at + 50, TIMEOUT);
    assert!(change.unwrap().online);
    assert_eq!(presence.attachment("lamp"), site("home-1").as_ref());
}

#[test]
fn moving_to_the_cloud_keeps_it_online_and_late_offline_from_home_changes_nothing() {
    let mut presence = Presence::default();
    let (lamp, home) = names();
    at_home(&mut presence, 1_000);
    // The home hub dies; the lamp connects here before its timeout.
    assert_eq!(presence.connected(&lamp, 7, 5_000, TIMEOUT), None);
    assert_eq!(presence.attachment("lamp"), Some(&Attachment::Direct));
    // The home's queue arrives later: its will (received at home before the lamp came
    // here) and even an offline the home noticed after (keep-alive expiry).
    assert_eq!(presence.site_offline(&lamp, 4_000, 9_000), None);
    assert_eq!(presence.site_offline(&lamp, 6_000, 9_000), None);
    assert_eq!(
        presence.site_activity(&lamp, &home, 3_000, 9_000, TIMEOUT),
        None
    );
    assert!(presence.is_online("lamp"));
    assert_eq!(presence.attachment("lamp"), Some(&Attachment::Direct));
    // Connected: no timeout, however long.
    assert!(presence.expire(10 * TIMEOUT, 0).is_empty());
    assert_eq!(presence.attachment("lamp"), Some(&Attachment::Direct));
}

#[test]
fn moving_back_home_hands_it_to_the_site_without_going_offline() {
    let mut presence = Presence::default();
    let (lamp, home) = names();
    presence.connected(&lamp, 7, 5_000, TIMEOUT);
    // It leaves this hub first (its disconnect is quicker than the relay)...
    assert_eq!(presence.disconnected(&lamp, 7, 20_000, GRACE), None);
    assert!(presence.is_online("lamp"));
    // ...a stale message from home does not count as the site's word...
    assert_eq!(
        presence.site_activity(&lamp, &home, 4_000, 20_100, TIMEOUT),
        None
    );
    // ...its online at home (after it connected here) does, within the grace.
    assert_eq!(
        presence.site_activity(&lamp, &home, 20_050, 20_300, TIMEOUT),
        None
    );
    assert_eq!(presence.attachment("lamp"), site("home-1").as_ref());
    assert!(presence.expire(20_000 + MOVE_GRACE_MS, 0).is_empty());
    assert!(presence.is_online("lamp"));
    // The will of the connection it left (a lost link here) changes nothing either.
    assert_eq!(presence.offline(&lamp, 21_000, GRACE), None);
    assert!(presence.expire(21_000 + MOVE_GRACE_MS, 0).is_empty());
    assert_eq!(presence.attachment("lamp"), site("home-1").as_ref());
}

#[test]
fn the_site_speaking_first_makes_the_end_of_the_connection_a_hand_over() {
    let mut presence = Presence::default();
    let (lamp, home) = names();
    presence.connected(&lamp, 7, 5_000, TIMEOUT);
    // Connected at home before it left here (the relay was quicker this time).
    assert_eq!(
        presence.site_activity(&lamp, &home, 19_000, 19_200, TIMEOUT),
        None
    );
    assert_eq!(presence.attachment("lamp"), Some(&Attachment::Direct));
    assert_eq!(presence.disconnected(&lamp, 7, 20_000, GRACE), None);
    assert_eq!(presence.attachment("lamp"), site("home-1").as_ref());
    // Then it is the site's: its timeout from the hand-over.
    assert!(presence.expire(20_000 + TIMEOUT - 1, 0).is_empty());
    let changes = presence.expire(20_000 + TIMEOUT, 0);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].reason, PresenceReason::Timeout);
}

#[test]
fn a_device_that_leaves_and_goes_nowhere_is_offline_after_the_grace() {
    let mut presence = Presence::default();
    let (lamp, _) = names();
    presence.connected(&lamp, 7, 5_000, TIMEOUT);
    assert_eq!(presence.disconnected(&lamp, 7, 20_000, GRACE), None);
    assert_eq!(presence.next_deadline(), Some(20_000 + MOVE_GRACE_MS));
    assert!(presence.expire(20_000 + MOVE_GRACE_MS - 1, 0).is_empty());
    let changes = presence.expire(20_000 + MOVE_GRACE_MS, 0);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].reason, PresenceReason::Disconnect);
    assert!(!changes[0].online);
    assert_eq!(presence.attachment("lamp"), None);
    // A device without a site goes offline at once, as before.
    let plug: Arc<str> = "plug".into();
    presence.connected(&plug, 8, 0, TIMEOUT);
    let change = presence.disconnected(&plug, 8, 1, None).unwrap();
    assert_eq!(change.reason, PresenceReason::Disconnect);
}

#[test]
fn its_own_offline_here_waits_for_the_site_too_and_the_earlier_deadline_holds() {
    let mut presence = Presence::default();
    let (lamp, _) = names();
    presence.connected(&lamp, 7, 5_000, TIMEOUT);
    assert_eq!(presence.offline(&lamp, 6_000, GRACE), None);
    assert_eq!(presence.disconnected(&lamp, 7, 8_000, GRACE), None);
    let changes = presence.expire(6_000 + MOVE_GRACE_MS, 0);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].reason, PresenceReason::Status);
}

#[test]
fn attached_through_the_site_it_follows_the_site() {
    let mut presence = Presence::default();
    let (lamp, home) = names();
    at_home(&mut presence, 1_000);
    // The site's link lost: nothing more comes; offline after its timeout.
    assert!(presence.expire(1_050 + TIMEOUT - 1, 0).is_empty());
    let changes = presence.expire(1_050 + TIMEOUT, 0);
    assert_eq!(changes[0].reason, PresenceReason::Timeout);
    assert_eq!(presence.attachment("lamp"), None);
    // Back through the site, then its will at home: offline.
    at_home(&mut presence, 70_000);
    let change = presence.site_offline(&lamp, 71_000, 71_100).unwrap();
    assert_eq!(change.reason, PresenceReason::Status);
    // A site message older than its last connection here is not presence.
    presence.connected(&lamp, 9, 80_000, TIMEOUT);
    presence.disconnected(&lamp, 9, 81_000, None);
    assert_eq!(
        presence.site_activity(&lamp, &home, 79_000, 82_000, TIMEOUT),
        None
    );
    assert!(!presence.is_online("lamp"));
}

#[test]
fn moves_are_listed_once_per_change() {
    let mut presence = Presence::default();
    let (lamp, _) = names();
    at_home(&mut presence, 1_000);
    presence.connected(&lamp, 7, 5_000, TIMEOUT);
    presence.activity(&lamp, 6_000, TIMEOUT);
    let moved = presence.take_moved();
    assert_eq!(moved, vec![lamp.clone(), lamp.clone()]);
    assert!(presence.take_moved().is_empty());
}
