//! What the administrative commands print: aligned tables and `key: value` blocks for
//! people, JSON for scripts (`--json`), and errors in both forms.
//!
//! Results go to stdout, messages and notes to stderr, so that `hearth device import
//! devices.csv > secrets.csv` captures only the secrets.

use super::Failure;
use hearth_model::Millis;
use serde::Serialize;
use serde_json::{Value, json};

/// How to print: tables or JSON.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` as pretty JSON on stdout.
    pub fn json(&self, value: &impl Serialize) {
        let text = serde_json::to_string_pretty(value).expect("CLI values serialize");
        println!("{text}");
    }

    /// Prints an error: `error: ...` on stderr, and with `--json` the error object on
    /// stdout as well.
    pub fn error(&self, failure: &Failure) {
        eprintln!("error: {}", failure.message);
        if self.json {
            self.json(&json!({
                "error": {
                    "code": failure.code,
                    "field": failure.field,
                    "message": failure.message,
                }
            }));
        }
    }

    /// Confirms a change: `value` as JSON, or `sentence` for people.
    pub fn done(&self, value: Value, sentence: &str) {
        if self.json {
            self.json(&value);
        } else {
            println!("{sentence}");
        }
    }
}

/// Prints rows under a header, each column as wide as its widest cell; `empty` instead
/// when there are no rows.
pub fn table(header: &[&str], rows: &[Vec<String>], empty: &str) {
    print!("{}", render_table(header, rows, empty));
}

fn render_table(header: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("{empty}\n");
    }
    let mut widths: Vec<usize> = header.iter().map(|cell| width(cell)).collect();
    for row in rows {
        for (column, cell) in row.iter().enumerate() {
            widths[column] = widths[column].max(width(cell));
        }
    }
    let mut text = String::new();
    let header: Vec<String> = header.iter().map(|cell| cell.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let pad = widths[column] - width(cell);
            line.extend(std::iter::repeat_n(' ', pad));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Prints `key: value` lines with the values aligned.
pub fn fields(pairs: &[(&str, String)]) {
    print!("{}", render_fields(pairs));
}

fn render_fields(pairs: &[(&str, String)]) -> String {
    let key_width = pairs.iter().map(|(key, _)| width(key)).max().unwrap_or(0);
    let mut text = String::new();
    for (key, value) in pairs {
        let pad = key_width - width(key);
        text.push_str(&format!("{key}:{} {value}\n", " ".repeat(pad)));
    }
    text
}

/// A section heading between blocks of `show` output.
pub fn heading(title: &str) {
    println!("\n{title}:");
}

/// Display width, counting characters (close enough for ids, names and CJK-free text).
fn width(text: &str) -> usize {
    text.chars().count()
}

/// An optional text cell: the value or `-`.
pub fn or_dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

/// Merges `extra` keys into the JSON object `value` (used to add a secret to a record).
pub fn with(value: impl Serialize, extra: Value) -> Value {
    let mut value = serde_json::to_value(value).expect("CLI values serialize");
    if let (Value::Object(map), Value::Object(extra)) = (&mut value, extra) {
        map.extend(extra);
    }
    value
}

/// A UTC timestamp, `2025-03-01 14:05:09Z`, from Unix milliseconds.
pub fn time(ms: Millis) -> String {
    let secs = ms.div_euclid(1000);
    let (days, of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

/// A timestamp or `never`.
pub fn time_or_never(ms: Option<Millis>) -> String {
    ms.map_or_else(|| "never".to_owned(), time)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let rows = vec![
            vec!["kitchen".to_owned(), "1".to_owned()],
            vec!["a".to_owned(), "22".to_owned()],
        ];
        assert_eq!(
            render_table(&["ID", "N"], &rows, "none"),
            "ID       N\nkitchen  1\na        22\n"
        );
        assert_eq!(render_table(&["ID"], &[], "no devices"), "no devices\n");
    }

    #[test]
    fn fields_align_their_values() {
        let text = render_fields(&[("id", "x".into()), ("name", "Lamp".into())]);
        assert_eq!(text, "id:   x\nname: Lamp\n");
    }

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(time(0), "1970-01-01 00:00:00Z");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(time(1_735_689_599_000), "2024-12-31 23:59:59Z");
    }

    #[test]
    fn extra_keys_merge_into_an_object() {
        let value = with(json!({"id": "a"}), json!({"secret": "s"}));
        assert_eq!(value, json!({"id": "a", "secret": "s"}));
    }
}
