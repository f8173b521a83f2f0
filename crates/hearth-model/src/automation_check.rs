//! What is wrong with an automation or a scene, naming the field (`triggers[0].metric`),
//! so that the API answers 400 with it and the CLI prints it. Checks what the document
//! alone can tell; whether the devices exist and belong to the group is the service's
//! (it needs the registry).

use crate::automation::{Action, AutomationSpec, Condition, RunMode, SceneSpec, Trigger};
use serde_json::Value;

/// A field of an automation or scene document and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// A path into the document: `name`, `triggers[0].for`, `actions[2].on_failure[0].name`.
    pub field: String,
    pub message: String,
}

fn fail<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, FieldError> {
    Err(FieldError {
        field: field.into(),
        message: message.into(),
    })
}

/// Longest wait any timer of an automation may ask for: 30 days.
pub const MAX_WAIT_SECS: u32 = 30 * 86_400;
const MAX_TRIGGERS: usize = 32;
const MAX_ACTIONS: usize = 64;
const MAX_CONDITION_DEPTH: usize = 8;
const MAX_NAME: usize = 100;

impl AutomationSpec {
    /// Checks the document; the first problem found, by field.
    pub fn check(&self) -> Result<(), FieldError> {
        check_name("name", &self.name)?;
        if self.triggers.is_empty() {
            return fail("triggers", "needs at least one trigger");
        }
        if self.triggers.len() > MAX_TRIGGERS {
            return fail("triggers", format!("at most {MAX_TRIGGERS} triggers"));
        }
        for (index, trigger) in self.triggers.iter().enumerate() {
            check_trigger(&format!("triggers[{index}]"), trigger)?;
        }
        for (index, condition) in self.conditions.iter().enumerate() {
            check_condition(&format!("conditions[{index}]"), condition, 1)?;
        }
        if self.actions.is_empty() {
            return fail("actions", "needs at least one action");
        }
        check_actions("actions", &self.actions)?;
        match (self.mode, self.max_runs) {
            (RunMode::Single | RunMode::Restart, Some(_)) => {
                fail("max_runs", "only for the queued and parallel modes")
            }
            (_, Some(max)) if !(1..=100).contains(&max) => fail("max_runs", "between 1 and 100"),
            _ => Ok(()),
        }
    }
}

impl SceneSpec {
    /// Checks the document; the first problem found, by field.
    pub fn check(&self) -> Result<(), FieldError> {
        check_name("name", &self.name)?;
        if self.targets.is_empty() {
            return fail("targets", "needs at least one device");
        }
        for (index, target) in self.targets.iter().enumerate() {
            check_command_name(&format!("targets[{index}].command"), &target.command)?;
            if !target.params.is_object() {
                return fail(format!("targets[{index}].params"), "must be a JSON object");
            }
        }
        Ok(())
    }
}

fn check_name(field: &str, name: &str) -> Result<(), FieldError> {
    if name.trim().is_empty() {
        return fail(field, "must not be empty");
    }
    if name.chars().count() > MAX_NAME {
        return fail(field, format!("at most {MAX_NAME} characters"));
    }
    Ok(())
}

fn check_wait(field: &str, secs: u32, min: u32) -> Result<(), FieldError> {
    if secs < min || secs > MAX_WAIT_SECS {
        return fail(field, format!("between {min} and {MAX_WAIT_SECS} seconds"));
    }
    Ok(())
}

/// Exactly one test, with bounds in order; `hysteresis` only beside a numeric one.
fn check_comparison(
    field: &str,
    eq: &Option<Value>,
    ne: &Option<Value>,
    gt: &Option<f64>,
    lt: &Option<f64>,
    between: &Option<[f64; 2]>,
    hysteresis: Option<f64>,
) -> Result<(), FieldError> {
    let given = [
        eq.is_some(),
        ne.is_some(),
        gt.is_some(),
        lt.is_some(),
        between.is_some(),
    ]
    .iter()
    .filter(|set| **set)
    .count();
    if given != 1 {
        return fail(field, "give exactly one of eq, ne, gt, lt, between");
    }
    for (name, value) in [("gt", gt), ("lt", lt)] {
        if value.is_some_and(|value| !value.is_finite()) {
            return fail(format!("{field}.{name}"), "must be a finite number");
        }
    }
    if let Some([low, high]) = between
        && !(low.is_finite() && high.is_finite() && low <= high)
    {
        return fail(format!("{field}.between"), "two finite numbers, low first");
    }
    if let Some(hysteresis) = hysteresis {
        if eq.is_some() || ne.is_some() {
            return fail(format!("{field}.hysteresis"), "only with gt, lt or between");
        }
        if !(hysteresis.is_finite() && hysteresis >= 0.0) {
            return fail(format!("{field}.hysteresis"), "must be zero or more");
        }
    }
    Ok(())
}

fn check_metric(field: &str, metric: &str) -> Result<(), FieldError> {
    if metric.is_empty() || metric.len() > 64 {
        return fail(field, "1 to 64 characters");
    }
    Ok(())
}

fn check_trigger(field: &str, trigger: &Trigger) -> Result<(), FieldError> {
    match trigger {
        Trigger::Reading {
            metric,
            eq,
            ne,
            gt,
            lt,
            between,
            hysteresis,
            for_secs,
            ..
        } => {
            check_metric(&format!("{field}.metric"), metric)?;
            check_comparison(field, eq, ne, gt, lt, between, *hysteresis)?;
            if let Some(secs) = for_secs {
                check_wait(&format!("{field}.for"), *secs, 0)?;
            }
        }
        Trigger::Presence { for_secs, .. } => {
            if let Some(secs) = for_secs {
                check_wait(&format!("{field}.for"), *secs, 0)?;
            }
        }
        Trigger::Time { cron } => {
            check_cron(cron).or_else(|message| fail(format!("{field}.cron"), message))?;
        }
        Trigger::Sun { offset_secs, .. } => {
            if offset_secs.unsigned_abs() > 6 * 3_600 {
                return fail(format!("{field}.offset_secs"), "within six hours");
            }
        }
        Trigger::Command {
            name: Some(name), ..
        } => {
            check_command_name(&format!("{field}.name"), name)?;
        }
        Trigger::Event { .. }
        | Trigger::Command { name: None, .. }
        | Trigger::Manual
        | Trigger::Webhook => {}
    }
    Ok(())
}

fn check_condition(field: &str, condition: &Condition, depth: usize) -> Result<(), FieldError> {
    if depth > MAX_CONDITION_DEPTH {
        return fail(
            field,
            format!("nested more than {MAX_CONDITION_DEPTH} deep"),
        );
    }
    match condition {
        Condition::Reading {
            metric,
            eq,
            ne,
            gt,
            lt,
            between,
            ..
        } => {
            check_metric(&format!("{field}.metric"), metric)?;
            check_comparison(field, eq, ne, gt, lt, between, None)?;
        }
        Condition::Presence { .. } => {}
        Condition::Time {
            after,
            before,
            weekdays,
        } => {
            if after.is_none() && before.is_none() && weekdays.is_empty() {
                return fail(field, "give after, before or weekdays");
            }
            for (name, value) in [("after", after), ("before", before)] {
                if let Some(value) = value
                    && parse_hh_mm(value).is_none()
                {
                    return fail(
                        format!("{field}.{name}"),
                        "a time of day as HH:MM (00:00-23:59)",
                    );
                }
            }
        }
        Condition::All { conditions } | Condition::Any { conditions } => {
            if conditions.is_empty() {
                return fail(
                    format!("{field}.conditions"),
                    "needs at least one condition",
                );
            }
            for (index, inner) in conditions.iter().enumerate() {
                check_condition(&format!("{field}.conditions[{index}]"), inner, depth + 1)?;
            }
        }
        Condition::Not { condition } => {
            check_condition(&format!("{field}.condition"), condition, depth + 1)?;
        }
    }
    Ok(())
}

fn check_actions(field: &str, actions: &[Action]) -> Result<(), FieldError> {
    if actions.len() > MAX_ACTIONS {
        return fail(field, format!("at most {MAX_ACTIONS} actions"));
    }
    for (index, action) in actions.iter().enumerate() {
        check_action(&format!("{field}[{index}]"), action)?;
    }
    Ok(())
}

fn check_action(field: &str, action: &Action) -> Result<(), FieldError> {
    match action {
        Action::Command {
            name,
            params,
            on_failure,
            wait,
            ..
        } => {
            check_command_name(&format!("{field}.name"), name)?;
            if !params.is_object() {
                return fail(format!("{field}.params"), "must be a JSON object");
            }
            if !wait && !on_failure.is_empty() {
                return fail(format!("{field}.on_failure"), "needs wait: true");
            }
            check_actions(&format!("{field}.on_failure"), on_failure)?;
        }
        Action::Scene { scene } => check_name(&format!("{field}.scene"), scene)?,
        Action::Notify { message, .. } => {
            if message.trim().is_empty() || message.len() > 1_000 {
                return fail(format!("{field}.message"), "1 to 1,000 characters");
            }
        }
        Action::Publish { topic, .. } => {
            let valid = crate::topic::parse(topic).is_some() && !topic.contains(['+', '#', '\0']);
            if !valid {
                return fail(
                    format!("{field}.topic"),
                    "a device topic without wildcards (devices/{id}/...)",
                );
            }
        }
        Action::Webhook {
            url,
            timeout_secs,
            retries,
            ..
        } => {
            if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2_000 {
                return fail(format!("{field}.url"), "an http:// or https:// URL");
            }
            if !(1..=60).contains(timeout_secs) {
                return fail(format!("{field}.timeout_secs"), "between 1 and 60");
            }
            if *retries > 5 {
                return fail(format!("{field}.retries"), "at most 5");
            }
        }
        Action::Delay { seconds } => check_wait(&format!("{field}.seconds"), *seconds, 1)?,
        Action::WaitFor {
            trigger,
            timeout_secs,
            ..
        } => {
            check_trigger(&format!("{field}.trigger"), trigger)?;
            if !matches!(
                trigger,
                Trigger::Reading { .. }
                    | Trigger::Event { .. }
                    | Trigger::Presence { .. }
                    | Trigger::Command { .. }
            ) {
                return fail(
                    format!("{field}.trigger.type"),
                    "a run can wait for a reading, an event, presence or a command's outcome \
                     (use a delay for a time)",
                );
            }
            check_wait(&format!("{field}.timeout_secs"), *timeout_secs, 1)?;
        }
        Action::Confirm {
            people,
            within_secs,
            prompt,
            ..
        } => {
            if !(1..=10).contains(people) {
                return fail(format!("{field}.people"), "between 1 and 10");
            }
            if !(5..=3_600).contains(within_secs) {
                return fail(format!("{field}.within_secs"), "between 5 and 3600");
            }
            if prompt.as_ref().is_some_and(|prompt| prompt.len() > 200) {
                return fail(format!("{field}.prompt"), "at most 200 characters");
            }
        }
    }
    Ok(())
}

/// Command names as the commands service takes them: a topic level of letters, digits,
/// `-` and `_`.
fn check_command_name(field: &str, name: &str) -> Result<(), FieldError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if !valid {
        return fail(field, "1 to 64 letters, digits, '-' or '_'");
    }
    Ok(())
}

/// Minutes since midnight of `"HH:MM"`.
pub fn parse_hh_mm(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    (hours < 24 && minutes < 60).then_some(hours * 60 + minutes)
}

/// Checks a cron expression (see [`crate::Cron::parse`]).
fn check_cron(cron: &str) -> Result<(), String> {
    crate::Cron::parse(cron).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> AutomationSpec {
        serde_json::from_str(text).unwrap()
    }

    fn field_of(text: &str) -> String {
        spec(text).check().unwrap_err().field
    }

    #[test]
    fn the_issues_example_is_valid() {
        let text = r#"{"group": "home", "name": "Hall light on motion after dark",
         "triggers": [{"type": "reading", "device": "hall-motion", "metric": "motion", "eq": true}],
         "conditions": [{"type": "time", "after": "20:00", "before": "06:00"}],
         "actions": [{"type": "command", "device": "hall-lamp", "name": "switch", "params": {"on": true}}]}"#;
        assert_eq!(spec(text).check(), Ok(()));
    }

    #[test]
    fn problems_name_their_field() {
        let cases = [
            (
                r#"{"group":"g","name":" ","triggers":[{"type":"manual"}],"actions":[{"type":"delay","seconds":1}]}"#,
                "name",
            ),
            (
                r#"{"group":"g","name":"n","triggers":[],"actions":[{"type":"delay","seconds":1}]}"#,
                "triggers",
            ),
            (
                r#"{"group":"g","name":"n","triggers":[{"type":"manual"}],"actions":[]}"#,
                "actions",
            ),
            (
                r#"{"group":"g","name":"n","triggers":[{"type":"reading","device":"t","metric":"m","gt":1,"lt":2}],"actions":[{"type":"delay","seconds":1}]}"#,
                "triggers[0]",
            ),
            (
                r#"{"group":"g","name":"n","triggers":[{"type":"reading","device":"t","metric":"m","eq":1,"hysteresis":1}],"actions":[{"type":"delay","seconds":1}]}"#,
                "triggers[0].hysteresis",
            ),
            (
                r#"{"group":"g","name":"n","triggers":[{"type":"reading","device":"t","metric":"m","between":[5,1]}],"actions":[{"type":"delay","seconds":1}]}"#,
                "triggers[0].between",
            ),
            (
                r#"{"group":"g","name":"n","triggers":[{"type":"time","cron":"61 * * * *"}],"actions":[{"type":"delay","seconds":1}]}"#,
                "triggers[0].cron",
            ),
            (
                r#"{"group":"g","name":"n","triggers":[{"type":"manual"}],"conditions":[{"type":"time","after":"25:00"}],"actions":[{"type":"delay","seconds":1}]}"#,
                "conditions[0].after",
            ),
            (
                r#"{"group":"g","name":"n","triggers":[{"type":"manual"}],"conditions":[{"type":"any","conditions":[{"type":"not","condition":{"type":"all","conditions":[]}}]}],"actions":[{"type":"delay","seconds":1}]}"#,
                "conditions[0].conditions[0].condition.conditions",
            ),
            (
                r#"{"group":"g","name":"n","triggers":[{"type":"manual"}],"actions":[{"type":"command","device":"d","name":"a/b"}]}"#,
                "actions[0].name",
            ),
            (
                r#"{"group":"g","name":"n","triggers":[{"type":"manual"}],"actions":[{"type":"command","device":"d","name":"x","on_failure":[{"type":"delay","seconds":0}]}]}"#,
                "actions[0].on_failure[0].seconds",
            ),
            (
                r#"{"group":"g","name":"n","triggers":[{"type":"manual"}],"actions":[{"type":"publish","topic":"devices/+/x","payload":1}]}"#,
                "actions[0].topic",
            ),
            (
                r#"{"group":"g","name":"n","triggers":[{"type":"manual"}],"actions":[{"type":"webhook","url":"ftp://x"}]}"#,
                "actions[0].url",
            ),
            (
                r#"{"group":"g","name":"n","triggers":[{"type":"manual"}],"actions":[{"type":"confirm","people":0}]}"#,
                "actions[0].people",
            ),
            (
                r#"{"group":"g","name":"n","mode":"single","max_runs":3,"triggers":[{"type":"manual"}],"actions":[{"type":"delay","seconds":1}]}"#,
                "max_runs",
            ),
        ];
        for (text, field) in cases {
            assert_eq!(field_of(text), field, "{text}");
        }
    }

    #[test]
    fn times_of_day() {
        assert_eq!(parse_hh_mm("00:00"), Some(0));
        assert_eq!(parse_hh_mm("20:30"), Some(1_230));
        assert_eq!(parse_hh_mm("24:00"), None);
        assert_eq!(parse_hh_mm("7:00"), None);
    }
}
