//! Syntax checks for topic names, topic filters and `$share/` filters.
//!
//! A packet whose topic fails these checks must never reach the router (SPEC §5), so
//! the session runs them once on the way in and everything behind it (the trie, the
//! retained store, [`matches()`](super::matches)) may assume well-formed input.

use std::fmt;

/// The longest topic MQTT can carry: its length prefix is a `u16`.
const MAX_TOPIC_BYTES: usize = u16::MAX as usize;

/// The first level that makes a filter a shared subscription (MQTT 5 §4.8.2).
const SHARE_PREFIX: &str = "$share";

/// Why a topic name or filter was refused.
///
/// The variants are plain and `Copy` so the session can map them to a reason code or a
/// disconnect without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicError {
    /// The topic or filter has no characters at all.
    Empty,
    /// The topic or filter is longer than 65,535 bytes.
    TooLong,
    /// A topic name contains `+` or `#`, which only filters may use.
    Wildcard,
    /// A filter's `+` or `#` is not a whole level, or `#` is not the last level.
    InvalidWildcard,
    /// The topic or filter contains U+0000, which MQTT forbids in strings.
    Nul,
    /// A `$share/` filter lacks its group or its filter, or the group contains `/`,
    /// `+` or `#`.
    InvalidShare,
}

impl fmt::Display for TopicError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = match self {
            TopicError::Empty => "topic is empty",
            TopicError::TooLong => "topic is longer than 65535 bytes",
            TopicError::Wildcard => "topic name contains a wildcard ('+' or '#')",
            TopicError::InvalidWildcard => {
                "wildcard is not a whole level, or '#' is not the last level"
            }
            TopicError::Nul => "topic contains a NUL character",
            TopicError::InvalidShare => "shared subscription is not $share/{group}/{filter}",
        };
        formatter.write_str(message)
    }
}

impl std::error::Error for TopicError {}

/// Checks a topic name, as carried by PUBLISH and wills.
///
/// Names are concrete: a wildcard in one is a protocol error, because forwarding it
/// would let a publisher reach subscribers it never named.
pub fn validate_topic_name(topic: &str) -> Result<(), TopicError> {
    check_length(topic)?;
    for byte in topic.bytes() {
        match byte {
            b'\0' => return Err(TopicError::Nul),
            b'+' | b'#' => return Err(TopicError::Wildcard),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a topic filter, as carried by SUBSCRIBE and UNSUBSCRIBE.
///
/// `+` must be a whole level and `#` a whole, last level; empty levels are allowed.
/// A `$share/` filter passes as an ordinary filter here: call [`parse_shared`] first
/// to take it apart.
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    check_length(filter)?;
    if filter.contains('\0') {
        return Err(TopicError::Nul);
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let is_last = levels.peek().is_none();
        let wildcard_ok = match level {
            "+" => true,
            "#" => is_last,
            _ => !level.contains(['+', '#']),
        };
        if !wildcard_ok {
            return Err(TopicError::InvalidWildcard);
        }
    }
    Ok(())
}

/// Takes a shared-subscription filter apart.
///
/// Returns `Ok(Some((group, filter)))` for `$share/{group}/{filter}`, `Ok(None)` for a
/// filter whose first level is not `$share`, and an error otherwise. The router needs
/// the group to pick one member per message and the inner filter to index the
/// subscription, so both are checked here: the group must be non-empty and free of
/// `/`, `+` and `#`, and the inner filter must be a valid, non-empty filter. Errors of
/// the inner filter (e.g. [`TopicError::InvalidWildcard`]) are passed through.
pub fn parse_shared(filter: &str) -> Result<Option<(&str, &str)>, TopicError> {
    let first_level = filter.split('/').next().unwrap_or_default();
    if first_level != SHARE_PREFIX {
        return Ok(None);
    }
    check_length(filter)?;
    let rest = filter
        .strip_prefix(SHARE_PREFIX)
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or(TopicError::InvalidShare)?;
    let (group, inner) = rest.split_once('/').ok_or(TopicError::InvalidShare)?;
    if group.is_empty() || group.contains(['+', '#']) || inner.is_empty() {
        return Err(TopicError::InvalidShare);
    }
    if group.contains('\0') {
        return Err(TopicError::Nul);
    }
    validate_topic_filter(inner)?;
    Ok(Some((group, inner)))
}

/// Checks a SUBSCRIBE filter, shared or not, and takes it apart: `(group, filter)`,
/// where `group` is `Some` for `$share/{group}/{filter}` and `filter` is what to match
/// topics against (and to show the authorizer). One call validates everything, so
/// callers do not check the inner filter a second time.
pub fn parse_subscription(filter: &str) -> Result<(Option<&str>, &str), TopicError> {
    match parse_shared(filter)? {
        Some((group, inner)) => Ok((Some(group), inner)),
        None => {
            validate_topic_filter(filter)?;
            Ok((None, filter))
        }
    }
}

fn check_length(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        Err(TopicError::Empty)
    } else if topic.len() > MAX_TOPIC_BYTES {
        Err(TopicError::TooLong)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        for name in [
            "a",
            "/",
            "a/b",
            "a//b",
            "/a",
            "a/",
            "$SYS/broker",
            "ü/€",
            " ",
        ] {
            assert_eq!(validate_topic_name(name), Ok(()), "{name:?}");
        }
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
        assert_eq!(validate_topic_name("a/+"), Err(TopicError::Wildcard));
        assert_eq!(validate_topic_name("a/#"), Err(TopicError::Wildcard));
        assert_eq!(validate_topic_name("a+b"), Err(TopicError::Wildcard));
        assert_eq!(validate_topic_name("#"), Err(TopicError::Wildcard));
        assert_eq!(validate_topic_name("a\0b"), Err(TopicError::Nul));
    }

    #[test]
    fn topic_filters() {
        let valid = [
            "#",
            "+",
            "+/+",
            "/+",
            "+/",
            "a/#",
            "a/+/b",
            "a//b",
            "/",
            "sport/tennis/#",
            "$SYS/#",
            "a/+/#",
            "+/#",
        ];
        for filter in valid {
            assert_eq!(validate_topic_filter(filter), Ok(()), "{filter:?}");
        }
        assert_eq!(validate_topic_filter(""), Err(TopicError::Empty));
        for filter in [
            "a#", "a/#/b", "#/", "#/a", "a/b#", "a+", "a/+b", "++", "##", "+#",
        ] {
            assert_eq!(
                validate_topic_filter(filter),
                Err(TopicError::InvalidWildcard),
                "{filter:?}"
            );
        }
        assert_eq!(validate_topic_filter("a/\0/#"), Err(TopicError::Nul));
    }

    #[test]
    fn length_limit_is_65535_bytes() {
        let longest = "a".repeat(65_535);
        assert_eq!(validate_topic_name(&longest), Ok(()));
        assert_eq!(validate_topic_filter(&longest), Ok(()));
        let too_long = "a".repeat(65_536);
        assert_eq!(validate_topic_name(&too_long), Err(TopicError::TooLong));
        assert_eq!(validate_topic_filter(&too_long), Err(TopicError::TooLong));
        let shared = format!("$share/g/{too_long}");
        assert_eq!(parse_shared(&shared), Err(TopicError::TooLong));
    }

    #[test]
    fn shared_filters() {
        assert_eq!(parse_shared("$share/g/a/b"), Ok(Some(("g", "a/b"))));
        assert_eq!(
            parse_shared("$share/ingest/devices/+/data"),
            Ok(Some(("ingest", "devices/+/data")))
        );
        assert_eq!(parse_shared("$share/g/#"), Ok(Some(("g", "#"))));
        assert_eq!(parse_shared("$share/g//"), Ok(Some(("g", "/"))));
        assert_eq!(parse_shared("a/b"), Ok(None));
        assert_eq!(parse_shared("$SYS/#"), Ok(None));
        assert_eq!(parse_shared("$shared/g/a"), Ok(None));
        assert_eq!(parse_shared("share/g/a"), Ok(None));
        for filter in [
            "$share",
            "$share/",
            "$share/g",
            "$share//x",
            "$share/g/",
            "$share/+/a",
            "$share/#/a",
            "$share/g+/a",
        ] {
            assert_eq!(
                parse_shared(filter),
                Err(TopicError::InvalidShare),
                "{filter:?}"
            );
        }
        assert_eq!(
            parse_shared("$share/g/a/#/b"),
            Err(TopicError::InvalidWildcard)
        );
        assert_eq!(parse_shared("$share/g\0/a"), Err(TopicError::Nul));
    }

    #[test]
    fn errors_display_as_sentences() {
        let all = [
            TopicError::Empty,
            TopicError::TooLong,
            TopicError::Wildcard,
            TopicError::InvalidWildcard,
            TopicError::Nul,
            TopicError::InvalidShare,
        ];
        let messages: std::collections::HashSet<String> =
            all.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages.len(),
            all.len(),
            "every variant has its own message"
        );
        assert!(messages.iter().all(|message| !message.is_empty()));
    }

    #[test]
    fn subscription_filters_are_validated_shared_or_not() {
        assert_eq!(parse_subscription("a/+/c"), Ok((None, "a/+/c")));
        assert_eq!(parse_subscription("$share/g/a/#"), Ok((Some("g"), "a/#")));
        assert_eq!(
            parse_subscription("a/#/c"),
            Err(TopicError::InvalidWildcard)
        );
        assert_eq!(
            parse_subscription("$share/g/a/#/c"),
            Err(TopicError::InvalidWildcard)
        );
        assert_eq!(
            parse_subscription("$share//a"),
            Err(TopicError::InvalidShare)
        );
        assert_eq!(parse_subscription(""), Err(TopicError::Empty));
    }
}
