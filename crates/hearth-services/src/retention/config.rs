//! `[history]` in hearth.toml: how history is compacted, which aggregate tiers are kept,
//! and how long each level lives, by default and per metric or device kind.
//!
//! Durations are written as people write them (`"1h"`, `"5m"`, `"1d"`) and parsed while
//! the file is read, so a bad one is reported with its line like every other error.

use hearth_model::Millis;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

const DAY_MS: Millis = 86_400_000;

/// A duration in hearth.toml: a number with `s`, `m`, `h` or `d` (`"5m"`, `"1d"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub Millis);

impl Span {
    pub fn parse(text: &str) -> Result<Span, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let unit_ms = match unit {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => DAY_MS,
            _ => {
                return Err(format!(
                    "{text:?}: write a number and s, m, h or d, e.g. \"5m\""
                ));
            }
        };
        match number.parse::<Millis>() {
            Ok(count) if count > 0 && count <= 3_650 * DAY_MS / unit_ms => {
                Ok(Span(count * unit_ms))
            }
            _ => Err(format!(
                "{text:?}: the number must be from 1 up to ten years"
            )),
        }
    }

    /// The shortest text for the duration (`3_600_000` → `"1h"`).
    pub fn text(self) -> String {
        for (unit, unit_ms) in [("d", DAY_MS), ("h", 3_600_000), ("m", 60_000)] {
            if self.0 % unit_ms == 0 {
                return format!("{}{unit}", self.0 / unit_ms);
            }
        }
        format!("{}s", self.0 / 1_000)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Span, D::Error> {
        let text = String::deserialize(deserializer)?;
        Span::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text())
    }
}

/// A block's width: a duration from a minute to a day that divides a day, so that
/// blocks never straddle midnight UTC and every block of a range is the same width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BlockWidth(pub Span);

impl<'de> Deserialize<'de> for BlockWidth {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<BlockWidth, D::Error> {
        let span = Span::deserialize(deserializer)?;
        if span.0 < 60_000 || span.0 > DAY_MS || DAY_MS % span.0 != 0 {
            return Err(serde::de::Error::custom(format!(
                "{:?}: a block is from 1m to 1d and divides a day (1h, 6h, 1d...)",
                span.text()
            )));
        }
        Ok(BlockWidth(span))
    }
}

/// `[history]` in hearth.toml.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// The width of a compacted block: a closed range of one series becomes one row.
    pub block: BlockWidth,
    /// How long after a range closes it is compacted: readings still in flight, or a
    /// device's short offline buffer, still land in plain rows first.
    pub compact_delay_secs: u64,
    /// The aggregate tiers kept (min/max/avg/count per bucket), filled as ranges are
    /// compacted. Charts over long ranges read them instead of raw points.
    pub tiers: Vec<Span>,
    /// Raw points and presence changes older than this are deleted (0: kept forever).
    pub raw_retention_days: u32,
    /// Every tier's retention unless `tier_retention_days` names it (0: forever).
    pub rollup_retention_days: u32,
    /// Retention per tier, e.g. `{ "1h" = 730, "1d" = 3650 }` (0: forever).
    pub tier_retention_days: BTreeMap<Span, u32>,
    /// Raw messages (the payloads as received) older than this are deleted, unless the
    /// device's application sets its own `message_retention_days` (0: forever).
    pub message_retention_days: u32,
    /// How often compaction and retention run.
    pub interval_secs: u64,
    /// Series (or devices) per compaction transaction: ingest waits at most for one.
    pub batch_series: u32,
    /// Retention for some metrics or device kinds; the first that matches a series wins.
    pub policies: Vec<RetentionPolicy>,
}

impl Default for RetentionConfig {
    fn default() -> RetentionConfig {
        RetentionConfig {
            block: BlockWidth(Span(3_600_000)),
            compact_delay_secs: 300,
            tiers: vec![Span(3_600_000), Span(DAY_MS)],
            raw_retention_days: 30,
            rollup_retention_days: 730,
            tier_retention_days: BTreeMap::from([(Span(DAY_MS), 3_650)]),
            message_retention_days: 7,
            interval_secs: 600,
            batch_series: 64,
            policies: Vec::new(),
        }
    }
}

/// `[[history.policies]]`: retention for the series it matches. A field left out keeps
/// the section's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Metric names; a name ending in `*` matches by prefix (`"power*"`). Empty: all.
    pub metrics: Vec<String>,
    /// Device kinds (`"plug"`, `"sensor"`). Empty: all.
    pub device_kinds: Vec<String>,
    pub raw_retention_days: Option<u32>,
    pub tier_retention_days: BTreeMap<Span, u32>,
}

impl RetentionPolicy {
    pub fn matches(&self, metric: &str, device_kind: Option<&str>) -> bool {
        let metric_ok = self.metrics.is_empty()
            || self
                .metrics
                .iter()
                .any(|pattern| match pattern.strip_suffix('*') {
                    Some(prefix) => metric.starts_with(prefix),
                    None => pattern == metric,
                });
        let kind_ok = self.device_kinds.is_empty()
            || device_kind.is_some_and(|kind| self.device_kinds.iter().any(|k| k == kind));
        metric_ok && kind_ok
    }
}

/// How long each level of one series is kept, in days (0: forever).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Keep {
    pub raw_days: u32,
    /// One entry per configured tier, in the order of `tiers`.
    pub tier_days: Vec<(Millis, u32)>,
}

impl RetentionConfig {
    /// Checks what the types cannot: every tier named in a retention table is kept.
    /// The error names the key.
    pub fn validate(&self) -> Result<(), String> {
        let named = self
            .tier_retention_days
            .keys()
            .map(|span| ("tier_retention_days", span));
        let in_policies = self
            .policies
            .iter()
            .enumerate()
            .flat_map(|(index, policy)| {
                policy.tier_retention_days.keys().map(move |span| {
                    (
                        if index == 0 {
                            "policies"
                        } else {
                            "policies[..]"
                        },
                        span,
                    )
                })
            });
        for (field, span) in named.chain(in_policies) {
            if !self.tiers.contains(span) {
                return Err(format!(
                    "[history] {field}: {:?} is not one of `tiers` ({})",
                    span.text(),
                    self.tiers
                        .iter()
                        .map(|t| t.text())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The retention of a series of `metric` on a device of `device_kind`.
    pub fn keep(&self, metric: &str, device_kind: Option<&str>) -> Keep {
        let policy = self
            .policies
            .iter()
            .find(|policy| policy.matches(metric, device_kind));
        let tier_days = self
            .tiers
            .iter()
            .map(|tier| {
                let days = policy
                    .and_then(|policy| policy.tier_retention_days.get(tier))
                    .or_else(|| self.tier_retention_days.get(tier))
                    .copied()
                    .unwrap_or(self.rollup_retention_days);
                (tier.0, days)
            })
            .collect();
        Keep {
            raw_days: policy
                .and_then(|policy| policy.raw_retention_days)
                .unwrap_or(self.raw_retention_days),
            tier_days,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_and_print_back() {
        assert_eq!(Span::parse("5m"), Ok(Span(300_000)));
        assert_eq!(Span::parse("1d").unwrap().text(), "1d");
        assert_eq!(Span(90_000).text(), "90s");
        assert_eq!(Span(7_200_000).text(), "2h");
        for bad in ["", "5", "m", "0h", "-1h", "1w", "99999999d"] {
            assert!(Span::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_block_or_tier_names_its_line() {
        let error = toml::from_str::<Wrapper>("[history]\nblock = \"7m\"\n").unwrap_err();
        assert_eq!(error.span().map(|span| span.start), Some(18), "{error}");
        assert!(error.message().contains("divides a day"), "{error}");
        let error = toml::from_str::<Wrapper>("[history]\ntiers = [\"1h\", \"1x\"]\n").unwrap_err();
        assert!(error.message().contains("\"1x\""), "{error}");
    }

    #[derive(Debug, Deserialize)]
    struct Wrapper {
        history: RetentionConfig,
    }

    #[test]
    fn policies_pick_retention_per_metric_and_kind() {
        let config: Wrapper = toml::from_str(
            "[history]\ntiers = [\"5m\", \"1h\", \"1d\"]\nraw_retention_days = 30\n\
             [[history.policies]]\nmetrics = [\"power*\"]\ndevice_kinds = [\"plug\"]\n\
             raw_retention_days = 7\ntier_retention_days = { \"5m\" = 90 }\n\
             [[history.policies]]\nmetrics = [\"temperature\"]\n\
             tier_retention_days = { \"5m\" = 365 }\n",
        )
        .unwrap();
        let config = config.history;
        config.validate().unwrap();
        let plug = config.keep("power.total", Some("plug"));
        assert_eq!(plug.raw_days, 7);
        assert_eq!(plug.tier_days[0], (300_000, 90));
        assert_eq!(
            plug.tier_days[2],
            (86_400_000, 3_650),
            "the section's default"
        );
        let other_power = config.keep("power", Some("sensor"));
        assert_eq!(other_power.raw_days, 30, "kind does not match");
        let temperature = config.keep("temperature", None);
        assert_eq!(temperature.tier_days[0], (300_000, 365));
        assert_eq!(temperature.tier_days[1], (3_600_000, 730));
    }

    #[test]
    fn a_retention_for_a_tier_not_kept_is_refused() {
        let mut config = RetentionConfig::default();
        config.tier_retention_days.insert(Span(60_000), 30);
        let error = config.validate().unwrap_err();
        assert!(
            error.contains("tier_retention_days") && error.contains("\"1m\""),
            "{error}"
        );
    }
}
