//! The ACL file, in Mosquitto's `acl_file` syntax, and the decision it makes.
//!
//! ```text
//! # comment
//! topic read public/#              # before any `user` line: anonymous clients
//! user ann
//! topic readwrite home/ann/#       # after `user ann`: ann only
//! pattern write devices/%c/state   # anywhere: everyone; %c client id, %u user name
//! ```
//!
//! Access is `read`, `write`, `readwrite` (the default when omitted) or `deny`. A client
//! gets its own section (its user's, or the anonymous one) plus every `pattern`. Deny
//! rules are checked first and win over any grant, wherever they stand in the file.
//!
//! Rules are parsed once and sorted into deny, read and write lists, so that a check on
//! the publish path is a few list walks with no allocation.

use std::collections::HashMap;

use hearth_bus::Action;

use super::LineError;
use super::filter::{Filter, Fit, Subject};

/// A parsed ACL file.
#[derive(Debug, Default)]
pub(super) struct Acl {
    /// `topic` lines before the first `user` line.
    anonymous: RuleSet,
    users: HashMap<Box<str>, RuleSet>,
    patterns: RuleSet,
}

#[derive(Debug, Default)]
struct RuleSet {
    deny: Vec<Filter>,
    read: Vec<Filter>,
    write: Vec<Filter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl Acl {
    pub fn parse(text: &str) -> Result<Acl, LineError> {
        let mut acl = Acl::default();
        let mut current_user: Option<Box<str>> = None;
        for (line_idx, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |message: String| LineError {
                line: line_idx + 1,
                message,
            };
            let (keyword, rest) = match line.split_once(char::is_whitespace) {
                Some((keyword, rest)) => (keyword, rest.trim()),
                None => (line, ""),
            };
            match keyword {
                "user" => {
                    if rest.is_empty() {
                        return Err(error("`user` needs a user name".to_owned()));
                    }
                    // A user may have several sections; they add up, as in Mosquitto.
                    acl.users.entry(rest.into()).or_default();
                    current_user = Some(rest.into());
                }
                "topic" => {
                    let (access, filter) = parse_rule(rest, false).map_err(error)?;
                    let section = match &current_user {
                        Some(user) => acl.users.entry(user.clone()).or_default(),
                        None => &mut acl.anonymous,
                    };
                    section.add(access, filter);
                }
                "pattern" => {
                    let (access, filter) = parse_rule(rest, true).map_err(error)?;
                    acl.patterns.add(access, filter);
                }
                _ => {
                    return Err(error(format!(
                        "unknown keyword `{keyword}`, expected `user`, `topic` or `pattern`"
                    )));
                }
            }
        }
        Ok(acl)
    }

    /// Whether the client described by `who` may publish to the topic name `topic`, or
    /// subscribe to the filter `topic`.
    pub fn allows(&self, who: &Subject<'_>, action: Action, topic: &str) -> bool {
        let own = match who.username {
            Some(username) => self.users.get(username),
            None => Some(&self.anonymous),
        };
        let sections = || own.into_iter().chain([&self.patterns]);
        if sections().any(|section| section.denies(who, action, topic)) {
            return false;
        }
        sections().any(|section| section.grants(who, action, topic))
    }
}

impl RuleSet {
    fn add(&mut self, access: Access, filter: Filter) {
        match access {
            Access::Read => self.read.push(filter),
            Access::Write => self.write.push(filter),
            Access::ReadWrite => {
                self.read.push(filter.clone());
                self.write.push(filter);
            }
            Access::Deny => self.deny.push(filter),
        }
    }

    fn denies(&self, who: &Subject<'_>, action: Action, topic: &str) -> bool {
        // A subscription is refused if it could receive anything denied: the broker
        // checks subscriptions, not each delivery, so `home/#` with `home/secret` denied
        // must be narrowed by the client.
        let hits = |filter: &Filter| match action {
            Action::Publish => filter.matches(topic, who),
            Action::Subscribe => filter.overlaps(topic, who),
        };
        self.deny.iter().any(|filter| match filter.fit(who) {
            Fit::Exact => hits(filter),
            // Taken literally, `+`, `#` and `/` only make a deny rule wider.
            Fit::Unsafe => hits(&filter.substituted(who)),
            Fit::Missing => false,
        })
    }

    fn grants(&self, who: &Subject<'_>, action: Action, topic: &str) -> bool {
        let filters = match action {
            Action::Publish => &self.write,
            Action::Subscribe => &self.read,
        };
        filters.iter().any(|filter| {
            // A grant whose placeholder would not stay one plain level is skipped, so a
            // client id like `+` cannot reach other clients' topics.
            filter.fit(who) == Fit::Exact
                && match action {
                    Action::Publish => filter.matches(topic, who),
                    Action::Subscribe => filter.covers(topic, who),
                }
        })
    }
}

/// Parses what follows `topic` or `pattern`: an optional access word, then the filter,
/// which may contain spaces.
fn parse_rule(rest: &str, placeholders: bool) -> Result<(Access, Filter), String> {
    if rest.is_empty() {
        return Err("missing topic".to_owned());
    }
    let (first, after) = match rest.split_once(char::is_whitespace) {
        Some((first, after)) => (first, after.trim_start()),
        None => (rest, ""),
    };
    let access = match first {
        "read" => Some(Access::Read),
        "write" => Some(Access::Write),
        "readwrite" => Some(Access::ReadWrite),
        "deny" => Some(Access::Deny),
        _ => None,
    };
    let (access, topic) = match access {
        Some(_) if after.is_empty() => return Err(format!("missing topic after `{first}`")),
        Some(access) => (access, after),
        None => (Access::ReadWrite, rest),
    };
    Ok((access, Filter::parse(topic, placeholders)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::{Publish, Subscribe};

    /// Checks each `(client id, user name, action, topic, expected)` against `text`.
    fn check(text: &str, cases: &[(&str, Option<&str>, Action, &str, bool)]) {
        let acl = Acl::parse(text).unwrap();
        for &(client_id, username, action, topic, expected) in cases {
            let who = Subject::new(client_id, username);
            assert_eq!(
                acl.allows(&who, action, topic),
                expected,
                "client {client_id:?} user {username:?} {action:?} {topic:?}"
            );
        }
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases = [
            (
                "user ann\nsubscribe a/b\n",
                2,
                "unknown keyword `subscribe`",
            ),
            ("# c\n\ntopic\n", 3, "missing topic"),
            ("topic read\n", 1, "missing topic after `read`"),
            ("user\n", 1, "needs a user name"),
            ("topic a/#/b\n", 1, "last level"),
            ("pattern read a/b+\n", 1, "whole level"),
            (
                "user ann\ntopic devices/%c/#\n",
                2,
                "only in `pattern` lines",
            ),
        ];
        for (text, line, fragment) in cases {
            let err = Acl::parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err:?}");
            assert!(err.message.contains(fragment), "{text:?}: {err:?}");
        }
    }

    #[test]
    fn user_sections_and_the_anonymous_section() {
        let text = "\
# anonymous clients
topic read public/#
user ann
topic readwrite home/ann/#
topic read home/shared/+
topic write log/ann
user bob
topic home/bob/#
topic read my topic/with spaces
";
        check(
            text,
            &[
                ("c1", Some("ann"), Publish, "home/ann/lamp", true),
                ("c1", Some("ann"), Subscribe, "home/ann/#", true),
                ("c1", Some("ann"), Publish, "home/bob/lamp", false),
                ("c1", Some("ann"), Subscribe, "home/shared/temp", true),
                ("c1", Some("ann"), Subscribe, "home/shared/#", false),
                ("c1", Some("ann"), Publish, "home/shared/temp", false),
                ("c1", Some("ann"), Publish, "log/ann", true),
                ("c1", Some("ann"), Subscribe, "log/ann", false),
                // The anonymous section is not for named users.
                ("c1", Some("ann"), Subscribe, "public/news", false),
                // No access word means readwrite.
                ("c2", Some("bob"), Publish, "home/bob/fan", true),
                ("c2", Some("bob"), Subscribe, "home/bob/#", true),
                ("c2", Some("bob"), Subscribe, "my topic/with spaces", true),
                ("c3", None, Subscribe, "public/news", true),
                ("c3", None, Subscribe, "public/#", true),
                ("c3", None, Publish, "public/news", false),
                ("c3", None, Subscribe, "home/ann/#", false),
                // A user with no section and no patterns may do nothing.
                ("c4", Some("carol"), Subscribe, "public/news", false),
                ("c4", Some("carol"), Publish, "home/carol/x", false),
            ],
        );
    }

    #[test]
    fn patterns_substitute_client_id_and_user_name() {
        let text = "\
pattern readwrite devices/%c/#
pattern read users/%u/inbox
pattern write users/%u/outbox/%c
";
        check(
            text,
            &[
                ("lamp", Some("ann"), Publish, "devices/lamp/state", true),
                ("lamp", Some("ann"), Subscribe, "devices/lamp/#", true),
                ("lamp", Some("ann"), Publish, "devices/fan/state", false),
                ("lamp", Some("ann"), Subscribe, "devices/+/state", false),
                ("lamp", Some("ann"), Subscribe, "users/ann/inbox", true),
                ("lamp", Some("ann"), Subscribe, "users/bob/inbox", false),
                ("lamp", Some("ann"), Publish, "users/ann/outbox/lamp", true),
                ("lamp", Some("ann"), Publish, "users/ann/outbox/fan", false),
                // Patterns apply to anonymous clients too, except those using %u.
                ("lamp", None, Publish, "devices/lamp/state", true),
                ("lamp", None, Subscribe, "users//inbox", false),
                ("lamp", None, Subscribe, "users/+/inbox", false),
            ],
        );
    }

    #[test]
    fn wildcards_in_client_id_or_user_name_do_not_widen_rights() {
        let text = "pattern readwrite devices/%c/#\npattern read users/%u/#\n";
        check(
            text,
            &[
                ("+", None, Subscribe, "devices/+/#", false),
                ("+", None, Subscribe, "devices/+/state", false),
                ("+", None, Subscribe, "devices/lamp/state", false),
                ("#", None, Subscribe, "devices/#", false),
                ("#", None, Publish, "devices/lamp/state", false),
                ("a/b", None, Publish, "devices/a/b/state", false),
                ("a/b", None, Publish, "devices/a/state", false),
                ("lamp+", None, Publish, "devices/lamp+/state", false),
                ("c", Some("+"), Subscribe, "users/+/inbox", false),
                ("c", Some("+"), Subscribe, "users/ann/inbox", false),
                ("c", Some("#"), Subscribe, "users/#", false),
                // The same rules still work for ordinary names.
                ("lamp", Some("ann"), Subscribe, "users/ann/#", true),
                ("lamp", Some("ann"), Publish, "devices/lamp/state", true),
            ],
        );
    }

    #[test]
    fn deny_wins_wherever_it_stands() {
        let text = "\
topic readwrite home/#
topic deny home/secret
pattern deny devices/%c/firmware
pattern readwrite devices/#
";
        check(
            text,
            &[
                ("c", None, Publish, "home/lamp", true),
                ("c", None, Publish, "home/secret", false),
                ("c", None, Subscribe, "home/secret", false),
                // Subscriptions that would receive a denied topic are refused.
                ("c", None, Subscribe, "home/#", false),
                ("c", None, Subscribe, "home/+", false),
                ("c", None, Subscribe, "home/public/#", true),
                ("lamp", None, Publish, "devices/lamp/firmware", false),
                ("lamp", None, Publish, "devices/fan/firmware", true),
                ("lamp", None, Subscribe, "devices/#", false),
                ("lamp", None, Subscribe, "devices/fan/#", true),
                // A deny pattern substitutes odd ids literally, so it only gets wider.
                ("+", None, Publish, "devices/fan/firmware", false),
                ("+", None, Publish, "devices/fan/state", true),
                ("a/b", None, Publish, "devices/a/b/firmware", false),
                ("a/b", None, Publish, "devices/a/b/state", true),
            ],
        );
    }

    #[test]
    fn dollar_topics_need_an_explicit_rule() {
        let text = "\
topic readwrite #
user admin
topic read $SYS/#
topic readwrite #
";
        check(
            text,
            &[
                ("c", None, Subscribe, "#", true),
                ("c", None, Subscribe, "+/uptime", true),
                ("c", None, Subscribe, "$SYS/#", false),
                ("c", None, Subscribe, "$SYS/broker/uptime", false),
                ("c", None, Publish, "$SYS/broker/uptime", false),
                ("c", None, Publish, "a/b", true),
                ("c", Some("admin"), Subscribe, "$SYS/#", true),
                ("c", Some("admin"), Subscribe, "$SYS/broker/+", true),
                ("c", Some("admin"), Publish, "$SYS/broker/uptime", false),
                ("c", Some("admin"), Subscribe, "#", true),
            ],
        );
    }

    #[test]
    fn repeated_user_sections_add_up_and_an_empty_file_denies_everything() {
        let text = "user ann\ntopic read a\nuser bob\ntopic read b\nuser ann\ntopic read c\n";
        check(
            text,
            &[
                ("c", Some("ann"), Subscribe, "a", true),
                ("c", Some("ann"), Subscribe, "c", true),
                ("c", Some("ann"), Subscribe, "b", false),
            ],
        );
        check(
            "# nothing yet\n",
            &[
                ("c", None, Subscribe, "a", false),
                ("c", Some("ann"), Publish, "a", false),
            ],
        );
    }
}
