//! Time for the engine: time zones (the hub's and each group's), the next time of a cron
//! schedule or of sunrise/sunset, and the local time of day for `time` conditions.
//!
//! Next times are computed in the group's civil time and converted with jiff: a
//! schedule at 02:30 on the night clocks spring forward runs at 03:30 (jiff's
//! "compatible" choice, as cron daemons do), and one in the repeated hour of autumn
//! runs once, at the earlier of the two.

use hearth_model::{Cron, GroupId, GroupPlace, Millis, SunEvent, Weekday};
use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{Offset, TimeZone};
use std::collections::HashMap;

/// How far ahead a schedule is looked for: a cron for the 29th of February may wait
/// nearly eight years, anything further is taken as never.
const SEARCH_DAYS: i32 = 8 * 366;

/// A time zone by name: an IANA name (`Asia/Shanghai`), `UTC`, or a fixed offset
/// (`+08:00`, `-05:30`).
pub fn parse_zone(name: &str) -> Result<TimeZone, String> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("utc") || name == "Z" {
        return Ok(TimeZone::UTC);
    }
    if let Some(sign) = name.chars().next().filter(|c| *c == '+' || *c == '-') {
        let rest = &name[1..];
        let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "0"));
        let parsed = hours
            .parse::<i32>()
            .ok()
            .zip(minutes.parse::<i32>().ok())
            .filter(|(hours, minutes)| *hours <= 18 && *minutes < 60);
        let Some((hours, minutes)) = parsed else {
            return Err(format!("{name:?} is not an offset like +08:00"));
        };
        let seconds = (hours * 3600 + minutes * 60) * if sign == '-' { -1 } else { 1 };
        return Offset::from_seconds(seconds)
            .map(TimeZone::fixed)
            .map_err(|error| error.to_string());
    }
    TimeZone::get(name)
        .map_err(|_| format!("no time zone named {name:?} (e.g. Asia/Shanghai, UTC, +08:00)"))
}

/// Where each group is, as the engine uses it.
#[derive(Debug, Clone)]
pub struct Places {
    hub: TimeZone,
    groups: HashMap<GroupId, (TimeZone, Option<(f64, f64)>)>,
    /// As last read, to tell whether anything moved.
    read: Vec<(GroupId, GroupPlace)>,
}

impl Places {
    pub fn new(hub: TimeZone) -> Places {
        Places {
            hub,
            groups: HashMap::new(),
            read: Vec::new(),
        }
    }

    /// Replaces the groups' places; a group whose time zone no longer parses keeps the
    /// hub's (and says so in the log: it was checked when it was set). Returns whether
    /// anything changed.
    pub fn set(&mut self, places: Vec<(GroupId, GroupPlace)>) -> bool {
        if places == self.read {
            return false;
        }
        self.read = places.clone();
        self.groups = places
            .into_iter()
            .map(|(group, place)| {
                let zone = match place.time_zone.as_deref().map(parse_zone) {
                    Some(Ok(zone)) => zone,
                    Some(Err(error)) => {
                        tracing::warn!(%group, "the group's time zone is not usable: {error}");
                        self.hub.clone()
                    }
                    None => self.hub.clone(),
                };
                let coordinates = place.latitude.zip(place.longitude);
                (group, (zone, coordinates))
            })
            .collect();
        true
    }

    pub fn zone(&self, group: &GroupId) -> &TimeZone {
        self.groups.get(group).map_or(&self.hub, |(zone, _)| zone)
    }

    pub fn coordinates(&self, group: &GroupId) -> Option<(f64, f64)> {
        self.groups.get(group).and_then(|(_, place)| *place)
    }
}

fn timestamp(ms: Millis) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The civil time of `now_ms` in `zone`.
pub fn local(now_ms: Millis, zone: &TimeZone) -> DateTime {
    zone.to_datetime(timestamp(now_ms))
}

/// Minutes since local midnight and the weekday, for `time` conditions.
pub fn time_of_day(now_ms: Millis, zone: &TimeZone) -> (u32, Weekday) {
    let local = local(now_ms, zone);
    let minute = local.hour() as u32 * 60 + local.minute() as u32;
    const WEEK: [Weekday; 7] = [
        Weekday::Sun,
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
    ];
    let weekday = WEEK[local.weekday().to_sunday_zero_offset() as usize];
    (minute, weekday)
}

/// The instant of a civil time in `zone` (gaps move forward, folds take the earlier).
fn instant(datetime: DateTime, zone: &TimeZone) -> Option<Millis> {
    zone.to_ambiguous_timestamp(datetime)
        .compatible()
        .ok()
        .map(Timestamp::as_millisecond)
}

/// The first time of `cron` strictly after `after_ms`, in `zone`.
pub fn next_cron(cron: &Cron, after_ms: Millis, zone: &TimeZone) -> Option<Millis> {
    let mut date = local(after_ms, zone).date();
    for _ in 0..SEARCH_DAYS {
        let weekday = date.weekday().to_sunday_zero_offset() as u32;
        if cron.matches_day(date.month() as u32, date.day() as u32, weekday) {
            for (hour, minute) in cron.times() {
                let at = date.at(hour as i8, minute as i8, 0, 0);
                if let Some(ms) = instant(at, zone)
                    && ms > after_ms
                {
                    return Some(ms);
                }
            }
        }
        date = date.tomorrow().ok()?;
    }
    None
}

/// Sunrise or sunset on a civil date at a place (none in a polar day or night).
fn sun_on(date: Date, event: SunEvent, (latitude, longitude): (f64, f64)) -> Option<Millis> {
    let day = chrono::NaiveDate::from_ymd_opt(
        i32::from(date.year()),
        date.month() as u32,
        date.day() as u32,
    )?;
    let coordinates = sunrise::Coordinates::new(latitude, longitude)?;
    let solar = sunrise::SolarDay::new(coordinates, day);
    let event = match event {
        SunEvent::Sunrise => sunrise::SolarEvent::Sunrise,
        SunEvent::Sunset => sunrise::SolarEvent::Sunset,
    };
    solar.event_time(event).map(|time| time.timestamp_millis())
}

/// The first sunrise or sunset (moved by `offset_secs`) strictly after `after_ms`; the
/// day is the group's civil day, so that "sunset" means this evening's at the place.
pub fn next_sun(
    event: SunEvent,
    offset_secs: i32,
    place: (f64, f64),
    after_ms: Millis,
    zone: &TimeZone,
) -> Option<Millis> {
    // From the day before: a large negative offset can move tomorrow's event to today.
    let mut date = local(after_ms, zone).date().yesterday().ok()?;
    for _ in 0..400 {
        if let Some(at) = sun_on(date, event, place) {
            let at = at + Millis::from(offset_secs) * 1000;
            if at > after_ms {
                return Some(at);
            }
        }
        date = date.tomorrow().ok()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Millis {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn zones_by_name_and_by_offset() {
        let shanghai = parse_zone("Asia/Shanghai").unwrap();
        assert_eq!(
            time_of_day(at("2026-12-06T12:00:00Z"), &shanghai).0,
            20 * 60
        );
        let offset = parse_zone("-05:30").unwrap();
        assert_eq!(
            time_of_day(at("2026-12-06T12:00:00Z"), &offset).0,
            6 * 60 + 30
        );
        assert!(
            parse_zone("Mars/Olympus")
                .unwrap_err()
                .contains("Mars/Olympus")
        );
        assert!(parse_zone("+25:00").is_err());
    }

    #[test]
    fn a_cron_runs_at_its_next_local_minute() {
        let shanghai = parse_zone("Asia/Shanghai").unwrap();
        let cron = Cron::parse("0 7 * * mon-fri").unwrap();
        // Sunday 2026-12-06 12:00 UTC is 20:00 in Shanghai: next is Monday 07:00 local.
        assert_eq!(
            next_cron(&cron, at("2026-12-06T12:00:00Z"), &shanghai),
            Some(at("2026-12-06T23:00:00Z"))
        );
        // Strictly after: at 07:00 exactly, the next is the day after.
        assert_eq!(
            next_cron(&cron, at("2026-12-06T23:00:00Z"), &shanghai),
            Some(at("2026-12-07T23:00:00Z"))
        );
        let leap = Cron::parse("0 0 29 feb *").unwrap();
        assert_eq!(
            next_cron(&leap, at("2026-12-06T00:00:00Z"), &TimeZone::UTC),
            Some(at("2028-02-29T00:00:00Z"))
        );
    }

    #[test]
    fn a_cron_in_the_spring_gap_runs_after_it() {
        let berlin = parse_zone("Europe/Berlin").unwrap();
        let cron = Cron::parse("30 2 * * *").unwrap();
        // 2026-03-29: clocks go from 02:00 to 03:00 CET→CEST; 02:30 does not exist.
        assert_eq!(
            next_cron(&cron, at("2026-03-28T23:00:00Z"), &berlin),
            Some(at("2026-03-29T01:30:00Z"))
        );
    }

    #[test]
    fn sunset_in_shanghai_is_in_the_evening() {
        let shanghai = parse_zone("Asia/Shanghai").unwrap();
        let place = (31.23, 121.47);
        let after = at("2026-12-06T00:00:00Z");
        let sunset = next_sun(SunEvent::Sunset, 0, place, after, &shanghai).unwrap();
        let (minute, _) = time_of_day(sunset, &shanghai);
        // Shanghai's December sunsets are near 16:50 local.
        assert!((16 * 60 + 30..17 * 60 + 15).contains(&minute), "{minute}");
        let earlier = next_sun(SunEvent::Sunset, -1800, place, after, &shanghai).unwrap();
        assert_eq!(sunset - earlier, 1_800_000);
        let sunrise = next_sun(SunEvent::Sunrise, 0, place, after, &shanghai).unwrap();
        // This morning's sunrise had passed at 08:00 local: the next is tomorrow's.
        assert!(sunrise > sunset && sunrise - sunset < 86_400_000);
    }
}
