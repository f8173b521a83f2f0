//! The shared queries, as written for SQLite and PostgreSQL, in MariaDB's dialect.
//!
//! The files under `src/sql/` are written once for all backends (see `sql/mod.rs`). Two
//! and a half things in them are not MariaDB's, and this translator rewrites exactly
//! those, token by token outside string literals, so that the queries stay one copy:
//!
//! - `$1, $2, ...` placeholders become `?`. MariaDB binds `?` by position only, so the
//!   translation also says which `$N` each `?` stands for: `UPDATE t SET a = $2 WHERE
//!   id = $1` binds its second value first, and `($1 IS NULL OR g = $1)` its first
//!   twice (`bound.rs` replays the values in that order).
//! - `INSERT ... ON CONFLICT (keys) DO UPDATE SET c = excluded.c` becomes
//!   `ON DUPLICATE KEY UPDATE c = VALUES(c)`, and `DO NOTHING` a no-op update of the
//!   first key column. MariaDB assigns left to right and later assignments see earlier
//!   ones, so an assignment must not read another column this statement assigns (the
//!   queries that would, such as the lease's, are written per backend). `DO UPDATE SET
//!   a = x WHERE c` becomes `a = IF(c, x, a)` when `c` reads no assigned column, and is
//!   refused otherwise.
//! - `CAST(x AS BIGINT)` becomes `CAST(x AS SIGNED)`.
//!
//! Everything else the shared SQL uses is common ground once the session runs with
//! `ANSI_QUOTES,PIPES_AS_CONCAT,NO_BACKSLASH_ESCAPES` (see `mod.rs`): double-quoted
//! identifiers, `||`, `LIKE ... ESCAPE '\'`. `DELETE ... RETURNING` is MariaDB's (10.0+),
//! not MySQL 8's: docs/mariadb.md lists what a MySQL 8 port would change.
//!
//! Why by hand: no SQL dialect translator in Rust's ecosystem is small and kept for
//! this (sqlparser-rs parses but re-printing loses our formatting and costs a large
//! dependency), and the grammar touched here is three constructs.

use std::borrow::Cow;

/// `sql` in MariaDB's dialect, and for each `?` in it the index (from 0) of the `$N` it
/// replaced. Panics on a query that cannot be translated (`ON CONFLICT ... WHERE`): a
/// bug in a shared query, which the tests find on first use.
pub(super) fn translate(sql: &str) -> (Cow<'_, str>, Vec<usize>) {
    if !needs_translation(sql) {
        return (Cow::Borrowed(sql), Vec::new());
    }
    let (positional, order) = placeholders(sql);
    let upserts = upserts(&positional);
    (Cow::Owned(casts(&upserts)), order)
}

/// A fragment without placeholders (pushed into a `QueryBuilder`), in MariaDB's dialect.
pub(super) fn fragment(sql: &'static str) -> Cow<'static, str> {
    let (translated, order) = translate(sql);
    assert!(order.is_empty(), "a fragment with placeholders: {sql}");
    translated
}

fn needs_translation(sql: &str) -> bool {
    sql.contains('$') || sql.contains("ON CONFLICT") || sql.contains(" AS BIGINT)")
}

/// Calls `visit` with each stretch of `sql` outside single-quoted literals (`true`) and
/// each literal, quotes included (`false`), in order.
fn split_literals(sql: &str, mut visit: impl FnMut(&str, bool)) {
    let mut rest = sql;
    while let Some(start) = rest.find('\'') {
        visit(&rest[..start], true);
        // A literal ends at the next quote not doubled ('' is a quote inside it).
        let bytes = rest.as_bytes();
        let mut end = start + 1;
        loop {
            match rest[end..].find('\'') {
                Some(offset) => {
                    end += offset + 1;
                    if bytes.get(end) == Some(&b'\'') {
                        end += 1;
                        continue;
                    }
                    break;
                }
                None => {
                    end = rest.len();
                    break;
                }
            }
        }
        visit(&rest[start..end], false);
        rest = &rest[end..];
    }
    visit(rest, true);
}

/// `$N` -> `?`, and the `N - 1` of each in order.
fn placeholders(sql: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(sql.len());
    let mut order = Vec::new();
    split_literals(sql, |text, code| {
        if !code {
            out.push_str(text);
            return;
        }
        let mut chars = text.char_indices().peekable();
        while let Some((index, character)) = chars.next() {
            if character != '$' {
                out.push(character);
                continue;
            }
            let digits: String = text[index + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let Some(index) = digits
                .parse::<usize>()
                .ok()
                .and_then(|number| number.checked_sub(1))
            else {
                out.push(character);
                continue;
            };
            order.push(index);
            out.push('?');
            for _ in 0..digits.len() {
                chars.next();
            }
        }
    });
    (out, order)
}

/// `ON CONFLICT (...) DO UPDATE SET` / `DO NOTHING` and `excluded.c`.
fn upserts(sql: &str) -> String {
    let Some(start) = sql.find("ON CONFLICT") else {
        return sql.to_owned();
    };
    let head = &sql[..start];
    let rest = &sql[start + "ON CONFLICT".len()..];
    let open = rest
        .find('(')
        .unwrap_or_else(|| panic!("ON CONFLICT without its key columns: {sql}"));
    let close = rest[open..]
        .find(')')
        .map(|offset| open + offset)
        .unwrap_or_else(|| panic!("ON CONFLICT without its key columns: {sql}"));
    let keys = &rest[open + 1..close];
    let action = rest[close + 1..].trim_start();
    if let Some(tail) = action.strip_prefix("DO NOTHING") {
        let first_key = keys.split(',').next().unwrap_or(keys).trim();
        return format!("{head}ON DUPLICATE KEY UPDATE {first_key} = {first_key}{tail}");
    }
    let Some(assignments) = action.strip_prefix("DO UPDATE SET") else {
        panic!("ON CONFLICT with an action MariaDB has no form of: {sql}");
    };
    let (assignments, condition) = match assignments.find(" WHERE ") {
        Some(at) => (
            &assignments[..at],
            Some(&assignments[at + " WHERE ".len()..]),
        ),
        None => (assignments, None),
    };
    let mut out = format!("{head}ON DUPLICATE KEY UPDATE");
    match condition {
        None => out.push_str(&excluded_to_values(assignments)),
        Some(condition) => {
            // `DO UPDATE SET a = x WHERE c` -> `a = IF(c, x, a)`, which is the same only
            // while `c` reads no column this statement assigns (MariaDB assigns left to
            // right, so a later `c` would see an earlier assignment).
            let condition = excluded_to_values(condition.trim());
            let parts = top_level_parts(assignments);
            for (index, part) in parts.iter().enumerate() {
                let (column, value) = part
                    .split_once('=')
                    .unwrap_or_else(|| panic!("an upsert assignment without '=': {sql}"));
                let column = column.trim();
                assert!(
                    !mentions(&condition, column),
                    "ON CONFLICT ... WHERE reads {column}, which it assigns: no MariaDB form; \
                     write it per backend: {sql}"
                );
                let separator = if index == 0 { " " } else { ", " };
                out.push_str(&format!(
                    "{separator}{column} = IF({condition}, {}, {column})",
                    excluded_to_values(value.trim())
                ));
            }
        }
    }
    out
}

/// `excluded.c` -> `VALUES(c)`.
fn excluded_to_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(position) = rest.find("excluded.") {
        out.push_str(&rest[..position]);
        let after = &rest[position + "excluded.".len()..];
        let column_len = after
            .find(|character: char| !(character.is_ascii_alphanumeric() || character == '_'))
            .unwrap_or(after.len());
        out.push_str("VALUES(");
        out.push_str(&after[..column_len]);
        out.push(')');
        rest = &after[column_len..];
    }
    out.push_str(rest);
    out
}

/// `text` split at the commas outside parentheses.
fn top_level_parts(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (index, character) in text.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Whether `column` appears in `text` as a whole word (alone or after a table's `.`).
fn mentions(text: &str, column: &str) -> bool {
    text.match_indices(column).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + column.len()..].chars().next();
        let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        !is_word(before) && !is_word(after)
    })
}

/// `CAST(x AS BIGINT)` -> `CAST(x AS SIGNED)` (MariaDB has no BIGINT cast target).
fn casts(sql: &str) -> String {
    sql.replace(" AS BIGINT)", " AS SIGNED)")
}

#[cfg(test)]
mod tests {
    use super::translate;

    fn sql(text: &str) -> String {
        translate(text).0.into_owned()
    }

    #[test]
    fn placeholders_become_positional_outside_literals() {
        assert_eq!(
            translate("SELECT a FROM t WHERE b = $1 AND c = '$2' AND d = $2 LIMIT $3"),
            (
                "SELECT a FROM t WHERE b = ? AND c = '$2' AND d = ? LIMIT ?".into(),
                vec![0, 1, 2]
            )
        );
        assert_eq!(
            sql("SELECT 'it''s $9' FROM t WHERE a = $1"),
            "SELECT 'it''s $9' FROM t WHERE a = ?"
        );
        assert_eq!(
            translate("SELECT 1 FROM t"),
            ("SELECT 1 FROM t".into(), vec![])
        );
        assert_eq!(
            sql("SELECT CONCAT('$', a) FROM t"),
            "SELECT CONCAT('$', a) FROM t"
        );
    }

    #[test]
    fn reordered_and_repeated_placeholders_say_which_value_each_takes() {
        assert_eq!(
            translate("UPDATE t SET a = $2, b = $3 WHERE id = $1"),
            (
                "UPDATE t SET a = ?, b = ? WHERE id = ?".into(),
                vec![1, 2, 0]
            )
        );
        assert_eq!(
            translate("SELECT d FROM c WHERE ($1 IS NULL OR g = $1) AND s < $2"),
            (
                "SELECT d FROM c WHERE (? IS NULL OR g = ?) AND s < ?".into(),
                vec![0, 0, 1]
            )
        );
    }

    #[test]
    fn upserts_become_on_duplicate_key() {
        assert_eq!(
            sql(
                "INSERT INTO l (app_id, doc) VALUES ($1, $2) ON CONFLICT (app_id) DO UPDATE SET \
                 doc = excluded.doc, n = l.n + excluded.n"
            ),
            "INSERT INTO l (app_id, doc) VALUES (?, ?) ON DUPLICATE KEY UPDATE \
             doc = VALUES(doc), n = l.n + VALUES(n)"
        );
        assert_eq!(
            sql("INSERT INTO s (d, m) VALUES ($1, $2) ON CONFLICT (d, m) DO NOTHING"),
            "INSERT INTO s (d, m) VALUES (?, ?) ON DUPLICATE KEY UPDATE d = d"
        );
    }

    #[test]
    fn conditional_upserts_assign_only_where_the_condition_holds() {
        assert_eq!(
            sql(
                "INSERT INTO u (n, e, l) VALUES ($1, $2, $3) ON CONFLICT (n) DO UPDATE SET \
                 e = excluded.e, l = COALESCE(excluded.l, 'en') WHERE u.mirrored = TRUE"
            ),
            "INSERT INTO u (n, e, l) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE \
             e = IF(u.mirrored = TRUE, VALUES(e), e), \
             l = IF(u.mirrored = TRUE, COALESCE(VALUES(l), 'en'), l)"
        );
    }

    #[test]
    #[should_panic(expected = "which it assigns")]
    fn conditions_that_read_an_assigned_column_are_refused() {
        translate(
            "INSERT INTO leases (name, holder) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE \
             SET holder = excluded.holder WHERE leases.holder = excluded.holder",
        );
    }

    #[test]
    fn bigint_casts_become_signed() {
        assert_eq!(
            sql("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM b"),
            "SELECT CAST(COALESCE(SUM(n), 0) AS SIGNED) FROM b"
        );
    }
}
