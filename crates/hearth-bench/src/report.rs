//! Markdown tables: one run on its own, or two brokers side by side.
//!
//! The comparison takes several runs per broker and shows the median of each metric,
//! because on a shared machine a single run can be off by tens of percent. Every ratio
//! is put the same way up, so that above 1 always means the candidate (Hearth) did
//! better: candidate ÷ baseline for throughput, baseline ÷ candidate for latency and
//! memory, where lower is better. The cell says which division it is.

use std::fmt::Write as _;

use crate::result::{BenchReport, Better, Metric};
use crate::scenario::Scenario;

/// One broker's runs in a comparison.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub name: &'a str,
    pub runs: &'a [BenchReport],
}

/// The median, or `None` for no values. NaN values are ignored.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values
        .iter()
        .copied()
        .filter(|value| !value.is_nan())
        .collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    })
}

/// How many times better the candidate is: above 1 is better, whichever way the metric
/// improves. `None` when the divisor is zero.
pub fn ratio(baseline: f64, candidate: f64, better: Better) -> Option<f64> {
    let (numerator, denominator) = match better {
        Better::Higher => (candidate, baseline),
        Better::Lower => (baseline, candidate),
    };
    (denominator > 0.0 && numerator.is_finite()).then(|| numerator / denominator)
}

/// A number for a table: thousands separated, fewer decimals the larger it is.
pub fn format_value(value: f64) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    if value.abs() < 10.0 {
        return format!("{value:.2}");
    }
    if value.abs() < 100.0 {
        return format!("{value:.1}");
    }
    let grouped = group_thousands(&format!("{:.0}", value.abs()));
    if value < 0.0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// A count for a table: thousands separated.
pub fn format_count(count: u64) -> String {
    group_thousands(&count.to_string())
}

fn group_thousands(digits: &str) -> String {
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (idx, digit) in digits.chars().enumerate() {
        if idx > 0 && (digits.len() - idx).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// The table of one `hearth bench broker` run.
///
/// The CPU column shows the seconds of CPU the generator and the broker used during
/// the scenario: when the generator's share approaches the cores it has, it is the
/// limit, not the broker.
pub fn single_table(report: &BenchReport) -> String {
    let mut out = String::new();
    out.push_str("| Scenario | Metric | Value | Lost | CPU s, generator / broker | Note |\n");
    out.push_str("|---|---|--:|--:|--:|---|\n");
    for result in &report.results {
        let note = if result.timed_out() {
            "hit the time limit"
        } else {
            ""
        };
        for (idx, metric) in result.metrics().iter().enumerate() {
            let (lost, cpu) = if idx == 0 {
                let cpu = result.cpu();
                let broker = cpu
                    .broker_secs
                    .map_or_else(|| "–".to_owned(), |secs| format!("{secs:.2}"));
                (
                    format_count(result.lost()),
                    format!("{:.2} / {broker}", cpu.generator_secs),
                )
            } else {
                Default::default()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {lost} | {cpu} | {note} |",
                result.scenario().name(),
                metric.name,
                format_value(metric.value)
            );
        }
    }
    out
}

/// Median of each metric for both sides, their ratio, and every run's lost count.
pub fn comparison_table(baseline: Side<'_>, candidate: Side<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| Scenario | Metric | {b} (median of {bn}) | {c} (median of {cn}) | Ratio (> 1: {c} better) | Lost per run, {b} | Lost per run, {c} |",
        b = baseline.name,
        c = candidate.name,
        bn = run_count(baseline),
        cn = run_count(candidate),
    );
    out.push_str("|---|---|--:|--:|--:|--:|--:|\n");
    for scenario in Scenario::ALL {
        let names = metric_names(scenario, &[baseline, candidate]);
        for (idx, (name, better)) in names.iter().enumerate() {
            let baseline_value = median(&metric_values(baseline, scenario, name));
            let candidate_value = median(&metric_values(candidate, scenario, name));
            let ratio_cell = match (baseline_value, candidate_value) {
                (Some(b), Some(c)) => match ratio(b, c, *better) {
                    Some(value) => format!(
                        "{value:.2} ({})",
                        ratio_label(*better, baseline.name, candidate.name)
                    ),
                    None => "–".to_owned(),
                },
                _ => "–".to_owned(),
            };
            let (baseline_lost, candidate_lost) = if idx == 0 {
                (
                    lost_cell(baseline, scenario),
                    lost_cell(candidate, scenario),
                )
            } else {
                Default::default()
            };
            let _ = writeln!(
                out,
                "| {} | {name} | {} | {} | {ratio_cell} | {baseline_lost} | {candidate_lost} |",
                scenario.name(),
                baseline_value
                    .map(format_value)
                    .unwrap_or_else(|| "–".to_owned()),
                candidate_value
                    .map(format_value)
                    .unwrap_or_else(|| "–".to_owned()),
            );
        }
    }
    out
}

/// Runs per scenario: a run may be split over several reports (the comparison script
/// measures idle connections on a freshly started broker), so this is the largest
/// number of reports that hold any one scenario.
fn run_count(side: Side<'_>) -> usize {
    Scenario::ALL
        .iter()
        .map(|scenario| {
            side.runs
                .iter()
                .filter(|run| run.result(*scenario).is_some())
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Which division a ratio cell shows, e.g. "Hearth/Mosquitto".
pub fn ratio_label(better: Better, baseline: &str, candidate: &str) -> String {
    match better {
        Better::Higher => format!("{candidate}/{baseline}"),
        Better::Lower => format!("{baseline}/{candidate}"),
    }
}

/// Metric names of a scenario in the order the results list them, over every run of
/// both sides (a run without the broker's pid has no memory metric).
fn metric_names(scenario: Scenario, sides: &[Side<'_>]) -> Vec<(&'static str, Better)> {
    let mut names: Vec<(&'static str, Better)> = Vec::new();
    let metrics = sides
        .iter()
        .flat_map(|side| side.runs)
        .filter_map(|run| run.result(scenario))
        .flat_map(|r| r.metrics());
    for Metric { name, better, .. } in metrics {
        if !names.iter().any(|(known, _)| *known == name) {
            names.push((name, better));
        }
    }
    names
}

fn metric_values(side: Side<'_>, scenario: Scenario, name: &str) -> Vec<f64> {
    side.runs
        .iter()
        .filter_map(|run| run.result(scenario))
        .flat_map(|result| result.metrics())
        .filter(|metric| metric.name == name)
        .map(|metric| metric.value)
        .collect()
}

/// "0 · 0 · 12", with a note when runs hit the time limit.
fn lost_cell(side: Side<'_>, scenario: Scenario) -> String {
    let results: Vec<_> = side
        .runs
        .iter()
        .filter_map(|run| run.result(scenario))
        .collect();
    if results.is_empty() {
        return "–".to_owned();
    }
    let mut cell = results
        .iter()
        .map(|result| format_count(result.lost()))
        .collect::<Vec<_>>()
        .join(" · ");
    let timed_out = results.iter().filter(|result| result.timed_out()).count();
    if timed_out > 0 {
        let _ = write!(cell, " ({timed_out} timed out)");
    }
    cell
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
