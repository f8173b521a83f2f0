//! Five-field cron expressions (`minute hour day-of-month month day-of-week`), parsed
//! into sets: the document check refuses a bad one by field, and the engine asks a
//! parsed one which local days and minutes match (the time zone arithmetic is the
//! engine's, with jiff).
//!
//! Written here rather than taken from a crate: the cron crates we looked at compute
//! occurrences with chrono and their own time-zone handling, while Hearth keeps its
//! time in jiff; what is left, parsing five fields into bit sets, is small.

/// A parsed expression: one bit per allowed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    /// Bits 1..=31.
    days: u32,
    /// Bits 1..=12.
    months: u16,
    /// Bits 0..=6, Sunday = 0 (7 is Sunday too).
    weekdays: u8,
    /// Whether day-of-month / day-of-week were `*`: as in Vixie cron, when both are
    /// restricted a day matches if either matches.
    any_day: bool,
    any_weekday: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    /// Parses `*`, numbers, ranges `a-b`, lists `a,b`, steps `*/n` and `a-b/n`, and the
    /// English three-letter names of months and weekdays. The error names the field.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        if parts.len() != 5 {
            return Err("five fields: minute hour day-of-month month day-of-week".into());
        }
        let minutes = field(parts[0], "minute", 0, 59, &[])?;
        let hours = field(parts[1], "hour", 0, 23, &[])?;
        let days = field(parts[2], "day of month", 1, 31, &[])?;
        let months = field(parts[3], "month", 1, 12, &MONTHS)?;
        let mut weekdays = field(parts[4], "day of week", 0, 7, &WEEKDAYS)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Cron {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: (weekdays & 0x7f) as u8,
            any_day: parts[2] == "*",
            any_weekday: parts[4] == "*",
        })
    }

    /// Whether the schedule runs on a day: `month` 1..=12, `day` 1..=31, `weekday`
    /// 0..=6 from Sunday.
    pub fn matches_day(&self, month: u32, day: u32, weekday: u32) -> bool {
        if self.months & (1 << month) == 0 {
            return false;
        }
        let by_day = self.days & (1 << day) != 0;
        let by_weekday = self.weekdays & (1 << weekday) != 0;
        match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (false, true) => by_day,
            (true, false) => by_weekday,
            (false, false) => by_day || by_weekday,
        }
    }

    /// The hours and minutes of a matching day, in order.
    pub fn times(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        (0..24u32)
            .filter(|hour| self.hours & (1 << hour) != 0)
            .flat_map(move |hour| {
                (0..60u32)
                    .filter(|minute| self.minutes & (1 << minute) != 0)
                    .map(move |minute| (hour, minute))
            })
    }
}

/// One field as a bit set of `min..=max`.
fn field(text: &str, name: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let value = |text: &str| -> Option<u32> {
        let lower = text.to_ascii_lowercase();
        if let Some(index) = names.iter().position(|name| *name == lower) {
            return Some(index as u32 + min.min(1));
        }
        text.parse()
            .ok()
            .filter(|value| (min..=max).contains(value))
    };
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => match step.parse::<u32>() {
                Ok(step) if step >= 1 && step <= max.max(1) => (range, step),
                _ => return Err(format!("{name}: bad step {step:?}")),
            },
            None => (item, 1),
        };
        let bounds = match range {
            "*" => Some((min, max)),
            range => match range.split_once('-') {
                Some((low, high)) => match (value(low), value(high)) {
                    (Some(low), Some(high)) if low <= high => Some((low, high)),
                    _ => None,
                },
                // `5/15` means from 5 to the end, every 15.
                None => value(range).map(|low| (low, if item.contains('/') { max } else { low })),
            },
        };
        let Some((low, high)) = bounds else {
            return Err(format!("{name}: {item:?} is not between {min} and {max}"));
        };
        for value in (low..=high).step_by(step as usize) {
            bits |= 1 << value;
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_forms_parse_and_bad_ones_name_their_field() {
        for good in [
            "* * * * *",
            "0 7 * * mon-fri",
            "*/15 * * * *",
            "0 20 1,15 jan-mar 0",
            "30 6 * * 7",
        ] {
            assert!(Cron::parse(good).is_ok(), "{good}");
        }
        for (bad, field) in [
            ("* * * *", "five fields"),
            ("60 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day of month"),
            ("*/0 * * * *", "minute"),
            ("5-1 * * * *", "minute"),
            ("* * * foo *", "month"),
        ] {
            let error = Cron::parse(bad).unwrap_err();
            assert!(error.starts_with(field), "{bad}: {error}");
        }
    }

    #[test]
    fn days_follow_vixie_cron() {
        let weekdays = Cron::parse("0 7 * * mon-fri").unwrap();
        assert!(weekdays.matches_day(12, 7, 1));
        assert!(!weekdays.matches_day(12, 6, 0));
        // Both restricted: either matches (the 1st, or any Sunday).
        let either = Cron::parse("0 0 1 * sun").unwrap();
        assert!(either.matches_day(3, 1, 3));
        assert!(either.matches_day(3, 8, 0));
        assert!(!either.matches_day(3, 9, 1));
        let sunday_as_7 = Cron::parse("0 0 * * 7").unwrap();
        assert!(sunday_as_7.matches_day(1, 4, 0));
        let only_march = Cron::parse("0 0 * mar *").unwrap();
        assert!(!only_march.matches_day(4, 1, 2));
    }

    #[test]
    fn times_come_in_order_with_steps() {
        let cron = Cron::parse("*/20 6,18 * * *").unwrap();
        let times: Vec<_> = cron.times().collect();
        assert_eq!(
            times,
            vec![(6, 0), (6, 20), (6, 40), (18, 0), (18, 20), (18, 40)]
        );
        let from_five = Cron::parse("5/30 0 * * *").unwrap();
        assert_eq!(from_five.times().collect::<Vec<_>>(), vec![(0, 5), (0, 35)]);
    }
}
