//! Every scenario end to end against the in-process relay, with tiny counts: the
//! generator's bookkeeping (sent, received, lost, acknowledged) must add up when the
//! "broker" loses nothing. Nothing here looks at how fast anything was.

use hearth_bench::{BenchOptions, Relay, Scenario, ScenarioResult, run};
use std::time::Duration;

fn options(relay: &Relay, messages: u64) -> BenchOptions {
    BenchOptions {
        duration: Duration::from_secs(20),
        messages: Some(messages),
        connections: 40,
        broker_pid: Some(std::process::id()),
        ..BenchOptions::new(relay.addr())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_in_at_qos0_and_qos1_counts_every_message() {
    let relay = Relay::start().unwrap();
    for scenario in [Scenario::FaninQos0, Scenario::FaninQos1] {
        let result = run(scenario, &options(&relay, 803)).await.unwrap();
        let (ScenarioResult::FaninQos0(result) | ScenarioResult::FaninQos1(result)) = result else {
            panic!("wrong result for {scenario:?}: {result:?}");
        };
        assert_eq!((result.publishers, result.subscribers), (8, 1));
        assert_eq!(result.sent, 803);
        assert_eq!(result.expected, 803);
        assert_eq!(result.received, 803, "{result:?}");
        assert_eq!(result.lost, 0);
        assert_eq!(result.duplicates, 0);
        assert!(!result.timed_out);
        let acked = if scenario == Scenario::FaninQos1 {
            803
        } else {
            0
        };
        assert_eq!(result.acked, acked);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_delivers_to_fifty_subscribers() {
    let relay = Relay::start().unwrap();
    let ScenarioResult::Fanout(result) =
        run(Scenario::Fanout, &options(&relay, 100)).await.unwrap()
    else {
        panic!("wrong result");
    };
    assert_eq!((result.publishers, result.subscribers), (1, 50));
    assert_eq!(result.expected, 5_000);
    assert_eq!(result.received, 5_000);
    assert_eq!(result.lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_records_one_sample_per_message() {
    let relay = Relay::start().unwrap();
    let ScenarioResult::Latency(result) =
        run(Scenario::Latency, &options(&relay, 250)).await.unwrap()
    else {
        panic!("wrong result");
    };
    assert_eq!((result.sent, result.received, result.lost), (250, 250, 0));
    assert!(
        result.p50_us <= result.p99_us
            && result.p99_us <= result.p999_us
            && result.p999_us <= result.max_us
    );
    assert_eq!(result.target_rate, 5_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_all_opened_and_measured() {
    let relay = Relay::start().unwrap();
    let ScenarioResult::Connections(result) = run(Scenario::Connections, &options(&relay, 1))
        .await
        .unwrap()
    else {
        panic!("wrong result");
    };
    assert_eq!(
        (result.requested, result.connected, result.failed),
        (40, 40, 0),
        "{result:?}"
    );
    assert!(result.rss_before_kib.is_some() && result.rss_after_kib.is_some());
    assert!(result.kib_per_connection.is_some());
}
