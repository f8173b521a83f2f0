//! Topic filters as ACL rules use them: parsing, and the three questions an ACL asks of
//! a rule: does it match a topic name (publish), does it cover a whole subscription
//! filter (subscribe), and could it match anything a subscription would receive (deny).
//!
//! Written here rather than borrowed from the broker's subscription trie so that the
//! authorizer depends on nothing that changes under it, and because the trie never needs
//! to compare two filters. Matching walks the topic with `split('/')` and never allocates,
//! because it runs on every publish and subscribe.

/// One level of a parsed ACL filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Level {
    /// `+`: exactly one level.
    SingleWildcard,
    /// `#`: the parent level and everything below it (`a/#` matches `a` and `a/b/c`).
    MultiWildcard,
    /// A level that must be equal.
    Literal(Box<str>),
    /// A level of a `pattern` rule with `%c` or `%u` in it, resolved per client.
    Template(Box<[Piece]>),
}

/// A part of a [`Level::Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Piece {
    Text(Box<str>),
    /// `%c`, the client id.
    ClientId,
    /// `%u`, the user name.
    Username,
}

/// The client a rule is evaluated for: what `%c` and `%u` stand for.
#[derive(Debug, Clone, Copy)]
pub(super) struct Subject<'a> {
    pub client_id: &'a str,
    /// `None` for anonymous clients; patterns that use `%u` never apply to them.
    pub username: Option<&'a str>,
    /// Whether the client id is free of `+`, `#` and `/`, computed once per check.
    client_id_is_plain: bool,
    username_is_plain: bool,
}

impl<'a> Subject<'a> {
    pub fn new(client_id: &'a str, username: Option<&'a str>) -> Subject<'a> {
        Subject {
            client_id,
            username,
            client_id_is_plain: is_plain(client_id),
            username_is_plain: username.is_some_and(is_plain),
        }
    }
}

/// A value is safe to substitute when it stays one literal level: a client id of `+` or
/// `a/#` would otherwise turn `devices/%c/#` into a rule over other clients' topics.
fn is_plain(value: &str) -> bool {
    !value.contains(['+', '#', '/'])
}

/// How a rule's placeholders resolve for one [`Subject`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fit {
    /// No placeholders, or every substituted value is one plain level.
    Exact,
    /// A substituted value contains `+`, `#` or `/`.
    Unsafe,
    /// The rule uses `%u` and the client has no user name.
    Missing,
}

/// A parsed ACL filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Filter {
    levels: Box<[Level]>,
    uses_client_id: bool,
    uses_username: bool,
}

impl Filter {
    /// Parses an ACL filter; `placeholders` says whether `%c` and `%u` are substituted
    /// (in `pattern` lines) or refused (in `topic` lines, where Mosquitto would take them
    /// literally and silently grant nothing).
    pub fn parse(text: &str, placeholders: bool) -> Result<Filter, String> {
        if text.is_empty() {
            return Err("empty topic".to_owned());
        }
        if text.contains('\0') {
            return Err("topic contains a NUL character".to_owned());
        }
        let n_levels = text.split('/').count();
        let mut levels = Vec::with_capacity(n_levels);
        for (level_idx, level) in text.split('/').enumerate() {
            levels.push(match level {
                "+" => Level::SingleWildcard,
                "#" if level_idx + 1 == n_levels => Level::MultiWildcard,
                "#" => return Err(format!("`#` must be the last level in `{text}`")),
                _ if level.contains(['+', '#']) => {
                    return Err(format!("`+` and `#` must fill a whole level in `{text}`"));
                }
                _ if level.contains("%c") || level.contains("%u") => {
                    if !placeholders {
                        return Err(format!(
                            "`%c` and `%u` are substituted only in `pattern` lines, not in `{text}`"
                        ));
                    }
                    Level::Template(parse_template(level))
                }
                _ => Level::Literal(level.into()),
            });
        }
        Ok(Filter::from_levels(levels))
    }

    /// Reads a filter leniently: used only for a deny rule after substituting an unsafe
    /// value, where `+`, `#` and `/` in the value are taken at their widest.
    fn parse_lenient(text: &str) -> Filter {
        let levels = text.split('/').map(|level| match level {
            "+" => Level::SingleWildcard,
            "#" => Level::MultiWildcard,
            _ => Level::Literal(level.into()),
        });
        Filter::from_levels(levels.collect())
    }

    fn from_levels(levels: Vec<Level>) -> Filter {
        let uses = |wanted: &Piece| {
            levels.iter().any(|level| match level {
                Level::Template(pieces) => pieces.contains(wanted),
                _ => false,
            })
        };
        Filter {
            uses_client_id: uses(&Piece::ClientId),
            uses_username: uses(&Piece::Username),
            levels: levels.into_boxed_slice(),
        }
    }

    /// How this filter's placeholders resolve for `who`.
    pub fn fit(&self, who: &Subject<'_>) -> Fit {
        if self.uses_username && who.username.is_none() {
            Fit::Missing
        } else if (self.uses_client_id && !who.client_id_is_plain)
            || (self.uses_username && !who.username_is_plain)
        {
            Fit::Unsafe
        } else {
            Fit::Exact
        }
    }

    /// The filter with `%c` and `%u` replaced by their values as written, `+`, `#` and
    /// `/` included, so that a deny rule only ever gets wider. Allocates: callers use it
    /// only for clients whose id or name is [`Fit::Unsafe`].
    pub fn substituted(&self, who: &Subject<'_>) -> Filter {
        let mut text = String::new();
        for (level_idx, level) in self.levels.iter().enumerate() {
            if level_idx > 0 {
                text.push('/');
            }
            match level {
                Level::SingleWildcard => text.push('+'),
                Level::MultiWildcard => text.push('#'),
                Level::Literal(literal) => text.push_str(literal),
                Level::Template(pieces) => {
                    for piece in pieces.iter() {
                        text.push_str(piece.value(who).unwrap_or_default());
                    }
                }
            }
        }
        Filter::parse_lenient(&text)
    }

    /// Whether the topic name `topic` matches (publish).
    pub fn matches(&self, topic: &str, who: &Subject<'_>) -> bool {
        let mut topic_levels = topic.split('/');
        for (level_idx, level) in self.levels.iter().enumerate() {
            // A filter starting with a wildcard never matches `$SYS/...` and friends.
            if level_idx == 0 && level.is_wildcard() && topic.starts_with('$') {
                return false;
            }
            match level {
                Level::MultiWildcard => return true,
                Level::SingleWildcard => {
                    if topic_levels.next().is_none() {
                        return false;
                    }
                }
                _ => match topic_levels.next() {
                    Some(topic_level) if level.equals(topic_level, who) => {}
                    _ => return false,
                },
            }
        }
        topic_levels.next().is_none()
    }

    /// Whether every topic that `subscription` matches is also matched by this filter
    /// (subscribe): `devices/+/data` covers `devices/a/data` and itself, not `devices/#`.
    pub fn covers(&self, subscription: &str, who: &Subject<'_>) -> bool {
        let mut sub_levels = subscription.split('/');
        for (level_idx, level) in self.levels.iter().enumerate() {
            if level_idx == 0 && level.is_wildcard() && subscription.starts_with('$') {
                return false;
            }
            match level {
                Level::MultiWildcard => return true,
                Level::SingleWildcard => match sub_levels.next() {
                    None | Some("#") => return false,
                    Some(_) => {}
                },
                _ => match sub_levels.next() {
                    Some(sub_level) if !is_wildcard(sub_level) && level.equals(sub_level, who) => {}
                    _ => return false,
                },
            }
        }
        sub_levels.next().is_none()
    }

    /// Whether some topic name is matched both by this filter and by `subscription`;
    /// a deny rule refuses every subscription it overlaps, because the broker does not
    /// check again when it delivers.
    pub fn overlaps(&self, subscription: &str, who: &Subject<'_>) -> bool {
        let mut sub_levels = subscription.split('/');
        for (level_idx, level) in self.levels.iter().enumerate() {
            let sub_level = sub_levels.next();
            if level_idx == 0 {
                let sub_is_wildcard = sub_level.is_some_and(is_wildcard);
                if (level.is_wildcard() && subscription.starts_with('$'))
                    || (sub_is_wildcard && level.starts_with_dollar(who))
                {
                    return false;
                }
            }
            match (level, sub_level) {
                (Level::MultiWildcard, _) | (_, Some("#")) => return true,
                (_, None) => return false,
                (Level::SingleWildcard, Some(_)) | (_, Some("+")) => {}
                (_, Some(sub_level)) => {
                    if !level.equals(sub_level, who) {
                        return false;
                    }
                }
            }
        }
        matches!(sub_levels.next(), None | Some("#"))
    }
}

fn parse_template(level: &str) -> Box<[Piece]> {
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut rest = level;
    while let Some(percent_idx) = rest.find('%') {
        let placeholder = match rest.as_bytes().get(percent_idx + 1) {
            Some(b'c') => Some(Piece::ClientId),
            Some(b'u') => Some(Piece::Username),
            _ => None,
        };
        let consumed = level.len() - rest.len() + percent_idx;
        if let Some(placeholder) = placeholder {
            if text_start < consumed {
                pieces.push(Piece::Text(level[text_start..consumed].into()));
            }
            pieces.push(placeholder);
            text_start = consumed + 2;
            rest = &level[text_start..];
        } else {
            // A lone `%` or an unknown `%x` stays literal, as in Mosquitto.
            rest = &rest[percent_idx + 1..];
        }
    }
    if text_start < level.len() {
        pieces.push(Piece::Text(level[text_start..].into()));
    }
    pieces.into_boxed_slice()
}

fn is_wildcard(level: &str) -> bool {
    level == "+" || level == "#"
}

impl Piece {
    fn value<'a>(&'a self, who: &Subject<'a>) -> Option<&'a str> {
        match self {
            Piece::Text(text) => Some(text),
            Piece::ClientId => Some(who.client_id),
            Piece::Username => who.username,
        }
    }
}

impl Level {
    fn is_wildcard(&self) -> bool {
        matches!(self, Level::SingleWildcard | Level::MultiWildcard)
    }

    /// Whether this non-wildcard level, resolved for `who`, is exactly `text`.
    fn equals(&self, text: &str, who: &Subject<'_>) -> bool {
        match self {
            Level::Literal(literal) => **literal == *text,
            Level::Template(pieces) => {
                let mut rest = text;
                for piece in pieces.iter() {
                    match piece.value(who).and_then(|value| rest.strip_prefix(value)) {
                        Some(after) => rest = after,
                        None => return false,
                    }
                }
                rest.is_empty()
            }
            Level::SingleWildcard | Level::MultiWildcard => false,
        }
    }

    fn starts_with_dollar(&self, who: &Subject<'_>) -> bool {
        match self {
            Level::Literal(literal) => literal.starts_with('$'),
            Level::Template(pieces) => pieces
                .iter()
                .filter_map(|piece| piece.value(who))
                .find(|value| !value.is_empty())
                .is_some_and(|value| value.starts_with('$')),
            Level::SingleWildcard | Level::MultiWildcard => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOBODY: Subject<'static> = Subject {
        client_id: "c",
        username: None,
        client_id_is_plain: true,
        username_is_plain: false,
    };

    fn filter(text: &str) -> Filter {
        Filter::parse(text, true).unwrap()
    }

    #[test]
    fn parse_rejects_malformed_filters() {
        assert!(Filter::parse("", false).unwrap_err().contains("empty"));
        assert!(
            Filter::parse("a/#/b", false)
                .unwrap_err()
                .contains("last level")
        );
        assert!(
            Filter::parse("a/b+/c", false)
                .unwrap_err()
                .contains("whole level")
        );
        assert!(
            Filter::parse("a#", false)
                .unwrap_err()
                .contains("whole level")
        );
        assert!(
            Filter::parse("a/%c", false)
                .unwrap_err()
                .contains("pattern")
        );
        assert!(Filter::parse("a/%c", true).is_ok());
    }

    #[test]
    fn templates_split_into_pieces() {
        let parsed = filter("x/pre-%c-%u%%z");
        assert_eq!(
            parsed.levels[1],
            Level::Template(
                vec![
                    Piece::Text("pre-".into()),
                    Piece::ClientId,
                    Piece::Text("-".into()),
                    Piece::Username,
                    Piece::Text("%%z".into()),
                ]
                .into()
            )
        );
        assert!(parsed.uses_client_id && parsed.uses_username);
        let who = Subject::new("dev", Some("ann"));
        assert!(parsed.matches("x/pre-dev-ann%%z", &who));
        assert!(!parsed.matches("x/pre-dev-ann", &who));
    }

    #[test]
    fn topic_matching() {
        let cases = [
            ("a/b", "a/b", true),
            ("a/b", "a/b/c", false),
            ("a/+", "a/b", true),
            ("a/+", "a", false),
            ("a/+", "a/", true),
            ("a/#", "a", true),
            ("a/#", "a/b/c", true),
            ("a/#", "ab", false),
            ("#", "a/b", true),
            ("#", "$SYS/uptime", false),
            ("+/uptime", "$SYS/uptime", false),
            ("$SYS/#", "$SYS/uptime", true),
            ("$SYS/+", "$SYS/uptime", true),
        ];
        for (acl, topic, expected) in cases {
            assert_eq!(
                filter(acl).matches(topic, &NOBODY),
                expected,
                "{acl} vs {topic}"
            );
        }
    }

    #[test]
    fn covering_subscriptions() {
        let cases = [
            ("devices/+/data", "devices/a/data", true),
            ("devices/+/data", "devices/+/data", true),
            ("devices/+/data", "devices/#", false),
            ("devices/+/data", "#", false),
            ("devices/+/data", "devices/+/+", false),
            ("devices/#", "devices/+/data", true),
            ("devices/#", "devices/#", true),
            ("devices/#", "devices", true),
            ("devices/#", "#", false),
            ("devices", "devices/#", false),
            ("a/+", "a/#", false),
            ("#", "#", true),
            ("#", "+/x", true),
            ("#", "$SYS/#", false),
            ("+/#", "$SYS/x", false),
            ("$SYS/#", "$SYS/broker/+", true),
        ];
        for (acl, subscription, expected) in cases {
            assert_eq!(
                filter(acl).covers(subscription, &NOBODY),
                expected,
                "{acl} covers {subscription}"
            );
        }
    }

    #[test]
    fn overlapping_subscriptions() {
        let cases = [
            ("a/secret", "a/#", true),
            ("a/secret", "a/+", true),
            ("a/secret", "#", true),
            ("a/secret", "a/public", false),
            ("a/secret", "a/secret/x", false),
            ("a/+/x", "a/b/y", false),
            ("a/+/x", "+/b/+", true),
            ("a/#", "a", true),
            ("a", "a/#", true),
            ("$SYS/#", "#", false),
            ("$SYS/#", "+/uptime", false),
            ("$SYS/#", "$SYS/uptime", true),
            ("#", "$SYS/uptime", false),
        ];
        for (acl, subscription, expected) in cases {
            assert_eq!(
                filter(acl).overlaps(subscription, &NOBODY),
                expected,
                "{acl} overlaps {subscription}"
            );
        }
    }

    #[test]
    fn placeholder_fit_and_substitution() {
        let own = filter("devices/%c/#");
        let named = filter("users/%u/#");
        let plain = Subject::new("lamp", Some("ann"));
        let wild = Subject::new("+", Some("a/b"));
        let anonymous = Subject::new("lamp", None);
        assert_eq!(own.fit(&plain), Fit::Exact);
        assert_eq!(own.fit(&wild), Fit::Unsafe);
        assert_eq!(named.fit(&wild), Fit::Unsafe);
        assert_eq!(named.fit(&anonymous), Fit::Missing);
        assert_eq!(filter("a/b").fit(&wild), Fit::Exact);
        assert!(own.matches("devices/lamp/state", &plain));
        assert!(!own.matches("devices/other/state", &plain));
        // Substituting literally widens: `devices/+/#` now matches every device.
        let widened = own.substituted(&wild);
        assert!(widened.matches("devices/other/state", &wild));
        assert!(named.substituted(&wild).matches("users/a/b/x", &wild));
    }
}
