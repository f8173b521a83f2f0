//! `wait_for`: a run waits until a trigger fires or its deadline passes. The run reads
//! the same feeds as the engine's task, from the moment it starts waiting; a reading
//! counts when it passes the test (a wait has no edge to cross: "wait until the door
//! is closed" is met by the next report that says closed), presence when it is the one
//! asked for (its `for` is not waited out).

use super::conditions::{metric_of, passes};
use super::run::Services;
use super::triggers::event_matches;
use crate::ingest::{DeviceReport, PresenceEvent};
use hearth_model::{Command, GroupId, MessageKind, Millis, Trigger};
use serde_json::{Value, json};

/// The report that met the trigger, or `None` when the deadline came first. A report
/// counts only from a device still in `group` (an id removed and registered again
/// elsewhere does not).
pub async fn wait_for(
    services: &Services,
    group: &GroupId,
    trigger: &Trigger,
    due_at_ms: Millis,
) -> Option<Value> {
    let mut reports = services.ingest.reports();
    let mut presence = services.ingest.presence_events();
    let mut outcomes = services.commands.outcomes();
    let deadline = services.clock.sleep_until(due_at_ms);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return None,
            Ok(report) = reports.recv() => {
                if let Some(seen) = report_meets(trigger, &report)
                    && in_group(services, &report.device, group).await
                {
                    return Some(seen);
                }
            }
            Ok(event) = presence.recv() => {
                if let Some(seen) = presence_meets(trigger, &event)
                    && in_group(services, &event.device, group).await
                {
                    return Some(seen);
                }
            }
            Ok(command) = outcomes.recv() => {
                if let Some(seen) = command_meets(trigger, &command)
                    && in_group(services, command.device.as_str(), group).await
                {
                    return Some(seen);
                }
            }
        }
    }
}

async fn in_group(services: &Services, device: &str, group: &GroupId) -> bool {
    crate::automations::references::device_in_group(&services.store, device, group).await
}

fn report_meets(trigger: &Trigger, report: &DeviceReport) -> Option<Value> {
    if report.late {
        return None;
    }
    match trigger {
        Trigger::Reading { device, metric, .. }
            if report.kind == MessageKind::Data && device.as_str() == &*report.device =>
        {
            let value = metric_of(&report.payload, metric)?;
            passes(&trigger.comparison()?, value).then(
                || json!({"device": device, "metric": metric, "value": value, "at_ms": report.received_at_ms}),
            )
        }
        Trigger::Event { device, matches }
            if report.kind == MessageKind::Event && device.as_str() == &*report.device =>
        {
            event_matches(matches, &report.payload).then(
                || json!({"device": device, "event": &*report.payload, "at_ms": report.received_at_ms}),
            )
        }
        _ => None,
    }
}

fn presence_meets(trigger: &Trigger, event: &PresenceEvent) -> Option<Value> {
    match trigger {
        Trigger::Presence { device, online, .. }
            if device.as_str() == &*event.device && *online == event.online =>
        {
            Some(json!({"device": device, "online": online}))
        }
        _ => None,
    }
}

fn command_meets(trigger: &Trigger, command: &Command) -> Option<Value> {
    match trigger {
        Trigger::Command {
            device,
            name,
            status,
        } if command.status == *status
            && device
                .as_ref()
                .is_none_or(|device| *device == command.device)
            && name.as_ref().is_none_or(|name| *name == command.name) =>
        {
            Some(json!({"device": command.device, "name": command.name,
                "command": command.id, "status": command.status.as_str()}))
        }
        _ => None,
    }
}
