//! What people read: the subject (or push title) and the plain-text body of a
//! notification, in English or 简体中文, from the notification's payload (the alert as
//! it was, its message, the rule, the event) and the target's `language` and
//! `time_zone`.

use crate::automations::engine::schedule::{local, parse_zone};
use hearth_model::Notification;
use serde_json::Value;

/// The two languages; anything else reads as English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    En,
    ZhCn,
}

impl Language {
    pub fn of(target: &Value) -> Language {
        match target["language"].as_str() {
            Some(tag) if tag.eq_ignore_ascii_case("zh-CN") || tag.starts_with("zh") => {
                Language::ZhCn
            }
            _ => Language::En,
        }
    }
}

/// The words of one notification, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// `[Hearth] major: Freezer too warm` / `【Hearth】重要：Freezer too warm`.
    pub subject: String,
    /// The message and the alert's facts, one per line.
    pub body: String,
    /// The message alone (a push notification's body).
    pub message: String,
    /// Where the web app shows the alert: `/alerts/{id}`, after `link_base` if given.
    pub link: String,
}

fn severity_word(severity: &str, language: Language) -> String {
    match language {
        Language::En => severity.to_owned(),
        Language::ZhCn => match severity {
            "critical" => "紧急".into(),
            "major" => "重要".into(),
            "minor" => "次要".into(),
            "warning" => "警告".into(),
            other => other.to_owned(),
        },
    }
}

fn event_word(event: &str, language: Language) -> Option<&'static str> {
    match (event, language) {
        ("opened", _) => None,
        ("repeated", Language::En) => Some("again"),
        ("repeated", Language::ZhCn) => Some("再次发生"),
        ("cleared", Language::En) => Some("cleared"),
        ("cleared", Language::ZhCn) => Some("已恢复"),
        ("acknowledged", Language::En) => Some("acknowledged"),
        ("acknowledged", Language::ZhCn) => Some("已确认"),
        _ => None,
    }
}

/// The time of `at_ms` in the target's zone (UTC when it names none or a bad one).
fn when(at_ms: i64, target: &Value) -> String {
    let zone = target["time_zone"]
        .as_str()
        .and_then(|name| parse_zone(name).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let datetime = local(at_ms, &zone);
    let offset = zone
        .to_offset(jiff::Timestamp::from_millisecond(at_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH));
    format!("{} (UTC{offset})", datetime.strftime("%Y-%m-%d %H:%M:%S"))
}

/// The subject and body of `notification` for its target's language.
pub fn render(notification: &Notification, link_base: &str) -> Text {
    let payload = &notification.payload;
    let alert = &payload["alert"];
    let language = Language::of(&notification.target);
    let pick = |a: &Value, b: &Value| a.as_str().or(b.as_str()).unwrap_or_default().to_owned();
    let rule_name = pick(&payload["rule"]["name"], &alert["rule_name"]);
    let severity = pick(&payload["severity"], &alert["severity"]);
    let message = pick(&payload["message"], &alert["message"]);
    let device = pick(&payload["device"], &alert["device"]);
    let alert_id = alert["id"].as_str().unwrap_or(notification.alert.as_str());
    let value = match &alert["value"] {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    };
    let at_ms = payload["at_ms"]
        .as_i64()
        .or(alert["last_seen_at_ms"].as_i64())
        .unwrap_or(notification.created_at_ms);
    let link = format!("{}/alerts/{alert_id}", link_base.trim_end_matches('/'));
    let severity_text = severity_word(&severity, language);
    let event = event_word(&notification.event, language);
    let subject = match (language, event) {
        (Language::En, None) => format!("[Hearth] {severity_text}: {rule_name}"),
        (Language::En, Some(event)) => format!("[Hearth] {severity_text} ({event}): {rule_name}"),
        (Language::ZhCn, None) => format!("【Hearth】{severity_text}：{rule_name}"),
        (Language::ZhCn, Some(event)) => {
            format!("【Hearth】{severity_text}（{event}）：{rule_name}")
        }
    };
    let labels = match language {
        Language::En => ["Device", "Value", "Severity", "Time", "Open"],
        Language::ZhCn => ["设备", "数值", "级别", "时间", "查看"],
    };
    let colon = if language == Language::ZhCn {
        "："
    } else {
        ": "
    };
    let mut body = format!("{message}\n\n");
    let mut line = |label: &str, text: &str| {
        body.push_str(label);
        body.push_str(colon);
        body.push_str(text);
        body.push('\n');
    };
    line(labels[0], &device);
    if let Some(value) = &value {
        line(labels[1], value);
    }
    line(labels[2], &severity_text);
    line(labels[3], &when(at_ms, &notification.target));
    line(labels[4], &link);
    Text {
        subject,
        body,
        message,
        link,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::{GroupId, NotificationState};
    use serde_json::json;

    pub fn notification(language: &str, event: &str) -> Notification {
        Notification {
            id: "n-1".into(),
            alert: "al-1".into(),
            group: GroupId::new("home").unwrap(),
            channel: "email".into(),
            target: json!({"to": "a@example.org", "language": language,
                "time_zone": "Asia/Shanghai"}),
            event: event.into(),
            payload: json!({"event": event, "message": "freezer temperature is 80",
                "rule": {"id": "ar-1", "name": "Freezer too warm"}, "severity": "major",
                "device": "freezer", "at_ms": 1_700_000_000_000_i64,
                "alert": {"id": "al-1", "value": 80, "severity": "major"}}),
            state: NotificationState::Pending,
            attempts: Vec::new(),
            next_attempt_at_ms: 0,
            created_at_ms: 0,
        }
    }

    #[test]
    fn english_and_chinese() {
        let text = render(&notification("en", "opened"), "");
        assert_eq!(text.subject, "[Hearth] major: Freezer too warm");
        assert_eq!(
            text.body,
            "freezer temperature is 80\n\nDevice: freezer\nValue: 80\nSeverity: major\n\
             Time: 2023-11-15 06:13:20 (UTC+08)\nOpen: /alerts/al-1\n"
        );
        let text = render(&notification("zh-CN", "opened"), "https://hub.example/");
        assert_eq!(text.subject, "【Hearth】重要：Freezer too warm");
        assert!(text.body.contains("设备：freezer\n"), "{}", text.body);
        assert!(
            text.body
                .contains("查看：https://hub.example/alerts/al-1\n")
        );
        let text = render(&notification("zh-CN", "cleared"), "");
        assert_eq!(text.subject, "【Hearth】重要（已恢复）：Freezer too warm");
        let text = render(&notification("en", "repeated"), "");
        assert_eq!(text.subject, "[Hearth] major (again): Freezer too warm");
    }
}
