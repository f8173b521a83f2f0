//! The MQTT matching rule between one topic filter and one topic name.
//!
//! This is the reference the trie and the retained store are tested against; the
//! broker itself matches through those indexes, not by calling this per subscription.

/// Does `filter` match the topic name `topic`?
///
/// Implements MQTT 3.1.1 §4.7 / MQTT 5 §4.7: `+` matches exactly one level (which may
/// be empty), `#` matches the rest including nothing, so `sport/#` matches `sport`, and
/// a filter starting with `+` or `#` never matches a topic starting with `$`, so that
/// broad subscriptions do not pick up `$SYS` traffic. Both arguments are assumed to be
/// valid (see [`validate_topic_filter`](super::validate_topic_filter)); a `$share/`
/// filter must be taken apart with [`parse_shared`](super::parse_shared) first.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for filter_level in filter.split('/') {
        if filter_level == "#" {
            return true;
        }
        match topic_levels.next() {
            Some(topic_level) if filter_level == "+" || filter_level == topic_level => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The examples of MQTT 3.1.1 §4.7.1 and §4.7.2.
    #[test]
    fn spec_multi_level_wildcard_examples() {
        let filter = "sport/tennis/player1/#";
        assert!(matches(filter, "sport/tennis/player1"));
        assert!(matches(filter, "sport/tennis/player1/ranking"));
        assert!(matches(filter, "sport/tennis/player1/score/wimbledon"));
        assert!(!matches(filter, "sport/tennis/player2"));
        assert!(!matches(filter, "sport/tennis"));
        assert!(matches("sport/#", "sport"));
        assert!(matches("sport/#", "sport/"));
        assert!(matches("#", "sport/tennis"));
        assert!(matches("#", "/"));
        assert!(!matches("sport/#", "sports"));
    }

    #[test]
    fn spec_single_level_wildcard_examples() {
        assert!(matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(matches("sport/tennis/+", "sport/tennis/player2"));
        assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(matches("sport/+", "sport/"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
        assert!(matches("+/tennis/#", "sport/tennis/player1"));
        assert!(matches("+", "sport"));
        assert!(!matches("+", "sport/tennis"));
    }

    #[test]
    fn spec_dollar_topic_examples() {
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("#", "$SYS"));
        assert!(!matches("+", "$SYS"));
        assert!(!matches("+/monitor/Clock", "$SYS/monitor/Clock"));
        assert!(matches("$SYS/#", "$SYS/x"));
        assert!(matches("$SYS/#", "$SYS"));
        assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clock"));
        assert!(matches("$SYS/monitor/Clock", "$SYS/monitor/Clock"));
        // Only the first level is protected: a '$' further down is an ordinary character.
        assert!(matches("#", "a/$SYS"));
        assert!(matches("a/+", "a/$SYS"));
    }

    #[test]
    fn empty_levels_are_real_levels() {
        assert!(matches("a//b", "a//b"));
        assert!(!matches("a//b", "a/b"));
        assert!(!matches("a/b", "a//b"));
        assert!(matches("a/+/b", "a//b"));
        assert!(matches("/a", "/a"));
        assert!(!matches("/a", "a"));
        assert!(!matches("a/", "a"));
        assert!(matches("a/", "a/"));
        assert!(matches("+/", "a/"));
        assert!(matches("/", "/"));
        assert!(matches("+/+", "/"));
        assert!(!matches("+", "/"));
    }

    #[test]
    fn literal_levels_compare_whole() {
        assert!(matches("a/b/c", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b", "a/bc"));
        assert!(!matches("A", "a"));
    }

    /// A second, independent statement of the rule, on lists of levels.
    fn reference(filter: &[&str], topic: &[&str]) -> bool {
        match (filter.split_first(), topic.split_first()) {
            (Some((&"#", _)), _) => true,
            (Some((&"+", filter_rest)), Some((_, topic_rest))) => {
                reference(filter_rest, topic_rest)
            }
            (Some((level, filter_rest)), Some((topic_level, topic_rest))) => {
                level == topic_level && reference(filter_rest, topic_rest)
            }
            (None, None) => true,
            _ => false,
        }
    }

    fn levels(alphabet: &'static [&'static str]) -> impl Strategy<Value = Vec<&'static str>> {
        prop::collection::vec(prop::sample::select(alphabet), 1..5)
    }

    proptest! {
        #[test]
        fn agrees_with_level_list_reference(
            filter_levels in levels(&["a", "b", "", "$s", "+", "#"]),
            topic_levels in levels(&["a", "b", "", "$s"]),
        ) {
            // Keep only filters that are valid: '#' may appear as the last level only.
            let keep = filter_levels.iter().position(|level| *level == "#").map_or(filter_levels.len(), |at| at + 1);
            let filter_levels = &filter_levels[..keep];
            let filter = filter_levels.join("/");
            let topic = topic_levels.join("/");
            let protected = topic.starts_with('$') && matches!(filter_levels[0], "+" | "#");
            let expected = !protected && reference(filter_levels, &topic_levels);
            prop_assert_eq!(matches(&filter, &topic), expected, "{} vs {}", filter, topic);
        }
    }
}
