//! Topic patterns of a layout: MQTT topics with `{var}` placeholders.
//!
//! A placeholder stands for (part of) one topic level: `home/{room}/bulb/{id}/state`,
//! `/{id}/statu`, `tele/{id}_sensor/STATE`. Matching runs on every foreign message, so it
//! walks the topic once and allocates nothing; only rendering (a command's topic) and
//! [`Pattern::filter`] allocate.

/// Most levels a pattern may have (MQTT allows more; devices never need them).
pub const MAX_LEVELS: usize = 16;

/// One level of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    Literal(String),
    /// `prefix{name}suffix`: the variable's value is what lies between (never empty).
    Var {
        prefix: String,
        name: String,
        suffix: String,
    },
}

/// A parsed topic pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    levels: Vec<Level>,
}

/// Whether `name` is a variable name: ASCII letters, digits and `_`.
pub fn is_var_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
}

impl Pattern {
    /// Parses `text`; the error says what is wrong (the caller adds the field).
    pub fn parse(text: &str) -> Result<Pattern, String> {
        if text.is_empty() {
            return Err("must not be empty".into());
        }
        if text.len() > 256 {
            return Err("must be at most 256 bytes".into());
        }
        if text.contains(['+', '#', '\0']) {
            return Err("must not contain MQTT wildcards (+, #) or NUL; use {variables}".into());
        }
        let mut levels = Vec::new();
        for level in text.split('/') {
            if levels.len() == MAX_LEVELS {
                return Err(format!("must have at most {MAX_LEVELS} levels"));
            }
            levels.push(parse_level(level)?);
        }
        let first = match &levels[0] {
            Level::Literal(text) => text.as_str(),
            Level::Var { prefix, .. } => prefix.as_str(),
        };
        let reserved = matches!(&levels[0], Level::Literal(text) if text == "devices" || text == "hearth" || text == "sites")
            || first.starts_with('$');
        if reserved {
            return Err(
                "must not be under devices/, hearth/, sites/ or $ (Hearth's own topics)".into(),
            );
        }
        Ok(Pattern { levels })
    }

    /// Whether the pattern uses `{name}`.
    pub fn has_var(&self, name: &str) -> bool {
        self.levels
            .iter()
            .any(|level| matches!(level, Level::Var { name: var, .. } if var == name))
    }

    /// The variables the pattern uses, in order (repeats included).
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.levels.iter().filter_map(|level| match level {
            Level::Var { name, .. } => Some(name.as_str()),
            Level::Literal(_) => None,
        })
    }

    /// The MQTT filter of every topic the pattern can match: each level holding a
    /// variable becomes `+`.
    pub fn filter(&self) -> String {
        self.filter_with(&|_| None)
    }

    /// Like [`Pattern::filter`], with the variables `known` gives substituted (a level
    /// whose variable it does not know becomes `+`).
    pub fn filter_with(&self, known: &dyn Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for (index, level) in self.levels.iter().enumerate() {
            if index > 0 {
                out.push('/');
            }
            match level {
                Level::Literal(text) => out.push_str(text),
                Level::Var {
                    prefix,
                    name,
                    suffix,
                } => match known(name) {
                    Some(value) if is_topic_value(&value) => {
                        out.push_str(prefix);
                        out.push_str(&value);
                        out.push_str(suffix);
                    }
                    _ => out.push('+'),
                },
            }
        }
        out
    }

    /// Whether `topic` matches, and the value of `{id}` in it (`Some("")` never: a
    /// variable matches at least one character). Every `{id}` must have the same value.
    pub fn matches<'t>(&self, topic: &'t str) -> Option<Match<'t>> {
        let mut id: Option<&'t str> = None;
        let mut topic_levels = topic.split('/');
        for level in &self.levels {
            let actual = topic_levels.next()?;
            match level {
                Level::Literal(text) => {
                    if actual != text {
                        return None;
                    }
                }
                Level::Var {
                    prefix,
                    name,
                    suffix,
                } => {
                    let value = actual
                        .strip_prefix(prefix.as_str())?
                        .strip_suffix(suffix.as_str())?;
                    if value.is_empty() {
                        return None;
                    }
                    if name == "id" {
                        match id {
                            Some(seen) if seen != value => return None,
                            _ => id = Some(value),
                        }
                    }
                }
            }
        }
        if topic_levels.next().is_some() {
            return None;
        }
        Some(Match { id })
    }

    /// Whether `topic` matches with `{id}` = `device` (a pattern without `{id}` matches
    /// on its other levels alone).
    pub fn matches_device(&self, topic: &str, device: &str) -> bool {
        self.matches(topic)
            .is_some_and(|found| found.id.is_none_or(|id| id == device))
    }

    /// The topic with every variable replaced by `var`'s value; an error names a
    /// variable it does not know, or whose value cannot stand in a topic level.
    pub fn render(&self, var: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        let mut out = String::new();
        for (index, level) in self.levels.iter().enumerate() {
            if index > 0 {
                out.push('/');
            }
            match level {
                Level::Literal(text) => out.push_str(text),
                Level::Var {
                    prefix,
                    name,
                    suffix,
                } => {
                    let value = var(name).ok_or_else(|| format!("{{{name}}} has no value"))?;
                    if !is_topic_value(&value) {
                        return Err(format!(
                            "{{{name}}} = {value:?} cannot stand in a topic level"
                        ));
                    }
                    out.push_str(prefix);
                    out.push_str(&value);
                    out.push_str(suffix);
                }
            }
        }
        Ok(out)
    }
}

/// What a pattern's match found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match<'t> {
    /// The `{id}` level's value, when the pattern has one.
    pub id: Option<&'t str>,
}

/// Whether `value` can fill a topic level: not empty, no `/`, wildcard or NUL.
fn is_topic_value(value: &str) -> bool {
    !value.is_empty() && !value.contains(['/', '+', '#', '\0'])
}

fn parse_level(level: &str) -> Result<Level, String> {
    let Some(open) = level.find('{') else {
        if level.contains('}') {
            return Err(format!("level {level:?} has a '}}' without '{{'"));
        }
        return Ok(Level::Literal(level.to_owned()));
    };
    let close = level[open..]
        .find('}')
        .map(|at| open + at)
        .ok_or_else(|| format!("level {level:?} has a '{{' without '}}'"))?;
    let name = &level[open + 1..close];
    if !is_var_name(name) {
        return Err(format!(
            "{{{name}}} is not a variable: use letters, digits and '_'"
        ));
    }
    let (prefix, suffix) = (&level[..open], &level[close + 1..]);
    if suffix.contains(['{', '}']) || prefix.contains('}') {
        return Err(format!("level {level:?} holds more than one variable"));
    }
    Ok(Level::Var {
        prefix: prefix.to_owned(),
        name: name.to_owned(),
        suffix: suffix.to_owned(),
    })
}

/// Whether two MQTT filters without `#` (as [`Pattern::filter`] writes them) can match
/// a common topic.
pub fn filters_overlap(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (a.split('/'), b.split('/'));
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y || x == "+" || y == "+" => {}
            _ => return false,
        }
    }
}
