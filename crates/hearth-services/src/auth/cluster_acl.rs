//! The nodes' own namespace, `hearth/cluster/` (issue 21): in external mode the nodes
//! send automation requests to the coordinator there (crates/hearth/src/engine_relay.rs).
//! Only their broker login (a service principal) may publish, subscribe or receive
//! there; every principal of the registry is refused, the administrator included, who
//! could otherwise act as anyone through the coordinator.

/// Whether `topic` is in the nodes' own namespace `hearth/cluster/` (external mode:
/// automation requests between nodes, crates/hearth/src/engine_relay.rs).
pub fn is_cluster_topic(topic: &str) -> bool {
    topic
        .strip_prefix("hearth/cluster")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Whether `filter` can match a topic of `hearth/cluster/` (`#`, `hearth/#`, `+/+/x`):
/// such a subscription is filtered per delivery for everyone but the nodes.
pub fn may_reach_cluster(filter: &str) -> bool {
    let mut levels = filter.split('/');
    matches!(
        (levels.next(), levels.next()),
        (Some("#"), _) | (Some("hearth" | "+"), Some("cluster" | "+" | "#"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_namespace_and_the_filters_that_reach_it() {
        assert!(is_cluster_topic("hearth/cluster/engine"));
        assert!(is_cluster_topic("hearth/cluster"));
        assert!(!is_cluster_topic("hearth/clusters/engine"));
        assert!(!is_cluster_topic("devices/hearth/cluster"));
        for filter in [
            "#",
            "hearth/#",
            "+/cluster/#",
            "+/+/replies/n1",
            "hearth/cluster/+",
        ] {
            assert!(may_reach_cluster(filter), "{filter}");
        }
        for filter in ["devices/#", "hearth/other/#", "sites/+/devices/#"] {
            assert!(!may_reach_cluster(filter), "{filter}");
        }
    }
}
