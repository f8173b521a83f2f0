//! Time and sun triggers: a cron fires at its local minute; a schedule that fell while
//! the hub was down runs once at the next start if it is within the grace period, and
//! is recorded as missed (with how many) when it is older; sunset follows the group's
//! place and time zone.

use super::*;
use hearth_model::GroupPlace;

/// The runs of `id`, newest first, once there are `n` finished.
async fn runs(
    hub: &hearth_testkit::TestHub,
    id: &str,
    n: usize,
) -> Vec<hearth_store::AutomationRun> {
    runs_until(&Automations::new(hub.store()), id, n).await
}

/// The due time of `id`'s stored schedule once it is later than `after`.
async fn schedule_due(hub: &hearth_testkit::TestHub, id: &str, after: Millis) -> Millis {
    let due = |timers: &[hearth_store::AutomationTimer]| {
        timers
            .iter()
            .find(|timer| timer.kind == "schedule" && timer.automation_id == id)
            .map(|timer| timer.due_at_ms)
            .filter(|due| *due > after)
    };
    timers_until(hub, |timers| due(timers).is_some()).await;
    due(&hub.store().timers().await.unwrap()).expect("the schedule stored")
}

async fn a_cron_fires_and_catches_up_after_downtime(backend: Backend) {
    let day = 86_400_000;
    let clock = Arc::new(ManualClock::new(at(6, 59)));
    let mut hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    let id = automation(
        &hub,
        r#"{"group": "home", "name": "Morning",
         "triggers": [{"type": "time", "cron": "0 7 * * *"}],
         "actions": [{"type": "notify", "message": "Good morning"}]}"#,
    )
    .await;
    assert_eq!(schedule_due(&hub, &id, 0).await, at(7, 0));
    clock.set(at(7, 0));
    let first = runs(&hub, &id, 1).await;
    assert_eq!(first[0].status, "done", "{first:?}");
    assert_eq!(first[0].trigger["type"], "time");
    assert_eq!(first[0].trigger["scheduled_at_ms"], at(7, 0));
    assert_eq!(schedule_due(&hub, &id, at(7, 0)).await, at(7, 0) + day);

    // Down over the next 07:00, back 5 minutes later: it runs once, late by 5 minutes.
    hub.shutdown_keeping_data().await;
    clock.set(at(7, 5) + day);
    hub.restart().await;
    let second = runs(&hub, &id, 2).await;
    assert_eq!(second[0].status, "done", "{second:?}");
    assert_eq!(second[0].trigger["late_by_ms"], 300_000);
    assert_eq!(second[0].trigger["missed_while_down"], 1);

    // Down for two mornings and back at 09:00: too late to run, recorded as missed.
    hub.shutdown_keeping_data().await;
    clock.set(at(9, 0) + 3 * day);
    hub.restart().await;
    let third = runs(&hub, &id, 3).await;
    assert_eq!(third[0].status, "missed", "{third:?}");
    assert_eq!(third[0].trigger["missed_while_down"], 2);
    assert_eq!(third[0].trigger["scheduled_at_ms"], at(7, 0) + 3 * day);
    assert_eq!(
        schedule_due(&hub, &id, at(9, 0) + 3 * day).await,
        at(7, 0) + 4 * day
    );
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_cron_fires_and_catches_up_after_downtime);

/// Half an hour before sunset in Shanghai (about 17:00 local on 1 January, 09:00 UTC).
async fn sunset_follows_the_groups_place(backend: Backend) {
    let clock = Arc::new(ManualClock::new(at(0, 0)));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    let place = GroupPlace {
        time_zone: Some("Asia/Shanghai".into()),
        latitude: Some(31.23),
        longitude: Some(121.47),
    };
    let audit = hearth_model::NewAuditEntry::new("cli:test", "group.place", "home");
    hub.store()
        .set_group_place(&ids::group("home"), &place, &audit)
        .await
        .unwrap();
    let id = automation(
        &hub,
        r#"{"group": "home", "name": "Lights before dusk",
         "triggers": [{"type": "sun", "event": "sunset", "offset_secs": -1800}],
         "actions": [{"type": "notify", "message": "Dusk soon"}]}"#,
    )
    .await;
    let due = schedule_due(&hub, &id, 0).await;
    assert!(
        (at(8, 15)..at(8, 45)).contains(&due),
        "sunset - 30 min at {due}, expected near 08:30 UTC"
    );
    clock.set(due);
    let fired = runs(&hub, &id, 1).await;
    assert_eq!(fired[0].trigger["type"], "sun");
    assert_eq!(fired[0].trigger["event"], "sunset");
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(sunset_follows_the_groups_place);
