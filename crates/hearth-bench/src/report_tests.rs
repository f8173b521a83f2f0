//! Tables and ratios, from hand-made results: no broker, no timing.

use super::*;
use crate::cpu::CpuUsage;
use crate::result::{ConnectionsResult, LatencyResult, ScenarioResult, ThroughputResult};

fn fanin(rate: f64, lost: u64) -> ScenarioResult {
    ScenarioResult::FaninQos0(ThroughputResult {
        publishers: 8,
        subscribers: 1,
        qos: 0,
        sent: 1_000,
        acked: 0,
        expected: 1_000,
        received: 1_000 - lost,
        duplicates: 0,
        lost,
        elapsed_secs: 1.0,
        rate,
        publish_rate: rate,
        timed_out: false,
        cpu: Default::default(),
    })
}

fn latency(p50_us: f64) -> ScenarioResult {
    ScenarioResult::Latency(LatencyResult {
        target_rate: 5_000,
        sent: 100,
        received: 100,
        lost: 0,
        p50_us,
        p99_us: p50_us * 2.0,
        p999_us: p50_us * 4.0,
        max_us: p50_us * 8.0,
        mean_us: p50_us,
        max_schedule_lag_us: 0.0,
        timed_out: false,
        cpu: Default::default(),
    })
}

fn connections(kib: Option<f64>) -> ScenarioResult {
    ScenarioResult::Connections(ConnectionsResult {
        requested: 10,
        connected: 10,
        failed: 0,
        keep_alive_secs: 60,
        connects_per_sec: 5_000.0,
        rss_before_kib: kib.map(|_| 1_000),
        rss_after_kib: kib.map(|kib| 1_000 + (kib * 10.0) as u64),
        kib_per_connection: kib,
        first_error: None,
        timed_out: true,
        cpu: Default::default(),
    })
}

fn report(results: Vec<ScenarioResult>) -> BenchReport {
    BenchReport {
        target: "127.0.0.1:1883".to_owned(),
        results,
    }
}

#[test]
fn median_of_odd_even_and_empty_lists() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
}

#[test]
fn ratios_put_the_better_side_above_one_both_ways() {
    // Throughput: twice the messages is 2×.
    assert_eq!(ratio(50_000.0, 100_000.0, Better::Higher), Some(2.0));
    // Latency: half the microseconds is also 2×.
    assert_eq!(ratio(70.0, 35.0, Better::Lower), Some(2.0));
    // Worse is below one either way.
    assert_eq!(ratio(100.0, 50.0, Better::Higher), Some(0.5));
    assert_eq!(ratio(1.0, 2.0, Better::Lower), Some(0.5));
    assert_eq!(ratio(0.0, 10.0, Better::Higher), None);
    assert_eq!(ratio(10.0, 0.0, Better::Lower), None);
    assert_eq!(
        ratio_label(Better::Higher, "Mosquitto", "Hearth"),
        "Hearth/Mosquitto"
    );
    assert_eq!(
        ratio_label(Better::Lower, "Mosquitto", "Hearth"),
        "Mosquitto/Hearth"
    );
}

#[test]
fn values_are_grouped_and_rounded_by_size() {
    assert_eq!(format_value(1_234_567.4), "1,234,567");
    assert_eq!(format_value(999.6), "1,000");
    assert_eq!(format_value(123.4), "123");
    assert_eq!(format_value(70.25), "70.2");
    assert_eq!(format_value(0.732), "0.73");
    assert_eq!(format_value(f64::NAN), "–");
    assert_eq!(format_count(0), "0");
    assert_eq!(format_count(7), "7");
    assert_eq!(format_count(12), "12");
    assert_eq!(format_count(451_140), "451,140");
}

#[test]
fn the_comparison_shows_medians_ratios_and_every_lost_count() {
    let mosquitto = [
        report(vec![fanin(60_000.0, 0), latency(70.0)]),
        report(vec![fanin(50_000.0, 0), latency(80.0)]),
        report(vec![fanin(70_000.0, 0), latency(60.0)]),
    ];
    let hearth = [
        report(vec![fanin(240_000.0, 0), latency(35.0)]),
        report(vec![fanin(200_000.0, 12), latency(40.0)]),
        report(vec![fanin(10.0, 0), latency(30.0)]),
    ];
    let table = comparison_table(
        Side {
            name: "Mosquitto",
            runs: &mosquitto,
        },
        Side {
            name: "Hearth",
            runs: &hearth,
        },
    );
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0]
            .starts_with("| Scenario | Metric | Mosquitto (median of 3) | Hearth (median of 3) |")
    );
    assert!(lines[0].contains("Ratio (> 1: Hearth better)"));
    assert_eq!(
        lines[2],
        "| fanin-qos0 | msg/s at subscriber | 60,000 | 200,000 | 3.33 (Hearth/Mosquitto) | 0 · 0 · 0 | 0 · 12 · 0 |"
    );
    assert_eq!(
        lines[3],
        "| latency | p50 µs | 70.0 | 35.0 | 2.00 (Mosquitto/Hearth) | 0 · 0 · 0 | 0 · 0 · 0 |"
    );
    // Further metrics of a scenario leave the lost columns empty.
    assert_eq!(
        lines[4],
        "| latency | p99 µs | 140 | 70.0 | 2.00 (Mosquitto/Hearth) |  |  |"
    );
    assert_eq!(lines.len(), 2 + 1 + 4);
}

#[test]
fn a_run_split_over_two_reports_counts_once() {
    let baseline = [report(vec![fanin(1.0, 0)]), report(vec![connections(None)])];
    let candidate = [report(vec![fanin(2.0, 0), connections(None)])];
    let table = comparison_table(
        Side {
            name: "A",
            runs: &baseline,
        },
        Side {
            name: "B",
            runs: &candidate,
        },
    );
    assert!(
        table.starts_with("| Scenario | Metric | A (median of 1) | B (median of 1) |"),
        "{table}"
    );
}

#[test]
fn a_metric_only_one_side_has_gets_no_ratio() {
    let baseline = [report(vec![connections(None)])];
    let candidate = [report(vec![connections(Some(1.5))])];
    let table = comparison_table(
        Side {
            name: "A",
            runs: &baseline,
        },
        Side {
            name: "B",
            runs: &candidate,
        },
    );
    assert!(table.contains("| connections | connects/s | 5,000 | 5,000 | 1.00 (B/A) | 0 (1 timed out) | 0 (1 timed out) |"));
    assert!(table.contains("| connections | KiB RSS per connection | – | 1.50 | – |  |  |"));
}

#[test]
fn the_single_table_lists_every_metric() {
    let mut fanin = fanin(61_000.0, 3);
    fanin.set_cpu(CpuUsage {
        generator_secs: 0.25,
        broker_secs: Some(2.0),
    });
    let table = single_table(&report(vec![fanin, connections(Some(0.7))]));
    assert!(
        table.contains("| fanin-qos0 | msg/s at subscriber | 61,000 | 3 | 0.25 / 2.00 |  |"),
        "{table}"
    );
    // 2 s of broker CPU for 997 messages received.
    assert!(
        table.contains("| fanin-qos0 | broker CPU µs per msg | 2,006 |  |  |  |"),
        "{table}"
    );
    assert!(
        table.contains("| connections | connects/s | 5,000 | 0 | 0.00 / – | hit the time limit |"),
        "{table}"
    );
    assert!(
        table
            .contains("| connections | KiB RSS per connection | 0.70 |  |  | hit the time limit |")
    );
}

#[test]
fn results_round_trip_through_json_with_readable_tags() {
    let original = report(vec![fanin(1.0, 0), latency(70.0), connections(Some(0.7))]);
    let json = original.to_json();
    assert!(json.contains("\"scenario\": \"fanin-qos0\""), "{json}");
    assert_eq!(BenchReport::from_json(&json).unwrap(), original);
}
