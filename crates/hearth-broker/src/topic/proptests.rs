//! Properties tying the indexes to [`matches()`]: whatever was inserted and removed, the
//! trie and the retained store report exactly what a naive scan with `matches` finds.
//!
//! Levels come from a small alphabet, empty and `$` levels included, so that random
//! filters and topics collide often enough to exercise shared prefixes, overlaps,
//! replacement and pruning.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::sample::Index;

use super::{RetainedStore, SubscriptionTrie, matches, validate_topic_filter, validate_topic_name};

const TOPIC_LEVELS: &[&str] = &["a", "b", "", "$s"];
const FILTER_LEVELS: &[&str] = &["a", "b", "", "$s", "+"];

fn topic() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOPIC_LEVELS), 1..5)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("a valid topic name", |topic| {
            validate_topic_name(topic).is_ok()
        })
}

fn filter() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(prop::sample::select(FILTER_LEVELS), 0..4),
        any::<bool>(),
    )
        .prop_map(|(mut levels, ends_in_rest)| {
            if ends_in_rest {
                levels.push("#");
            }
            levels.join("/")
        })
        .prop_filter("a valid topic filter", |filter| {
            validate_topic_filter(filter).is_ok()
        })
}

/// An insertion (`true`) or removal of a key picked from a pool, for a subscriber.
type Op = (bool, Index, u64);

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec((prop::bool::weighted(0.7), any::<Index>(), 0..4u64), 0..60)
}

proptest! {
    #[test]
    fn trie_reports_exactly_the_matching_subscriptions(
        filters in prop::collection::vec(filter(), 1..10),
        ops in ops(),
        topics in prop::collection::vec(topic(), 1..10),
    ) {
        let mut trie = SubscriptionTrie::new();
        let mut model: HashMap<(String, u64), usize> = HashMap::new();
        for (op_idx, (is_insert, filter_idx, subscriber)) in ops.into_iter().enumerate() {
            let filter = filter_idx.get(&filters);
            let key = (filter.clone(), subscriber);
            if is_insert {
                prop_assert_eq!(trie.insert(filter, subscriber, op_idx), model.insert(key, op_idx));
            } else {
                prop_assert_eq!(trie.remove(filter, subscriber), model.remove(&key));
            }
            prop_assert_eq!(trie.len(), model.len());
        }
        for ((filter, subscriber), value) in &model {
            prop_assert_eq!(trie.get(filter, *subscriber), Some(value));
        }
        for topic in &topics {
            let mut reported = Vec::new();
            trie.for_each_match(topic, |subscriber, value| reported.push((subscriber, *value)));
            reported.sort_unstable();
            let mut expected: Vec<(u64, usize)> = model
                .iter()
                .filter(|((filter, _), _)| matches(filter, topic))
                .map(|((_, subscriber), value)| (*subscriber, *value))
                .collect();
            expected.sort_unstable();
            prop_assert_eq!(reported, expected, "topic {:?}", topic);
        }
        for (filter, subscriber) in model.keys() {
            prop_assert!(trie.remove(filter, *subscriber).is_some());
        }
        prop_assert!(trie.is_empty());
        prop_assert_eq!(trie.node_count(), 1, "every node was pruned");
    }

    #[test]
    fn retained_store_reports_exactly_the_matching_topics(
        topics in prop::collection::vec(topic(), 1..12),
        ops in ops(),
        filters in prop::collection::vec(filter(), 1..10),
    ) {
        let mut store = RetainedStore::new();
        let mut model: HashMap<String, usize> = HashMap::new();
        for (op_idx, (is_insert, topic_idx, _)) in ops.into_iter().enumerate() {
            let topic = topic_idx.get(&topics);
            if is_insert {
                prop_assert_eq!(store.insert(topic, op_idx), model.insert(topic.clone(), op_idx));
            } else {
                prop_assert_eq!(store.remove(topic), model.remove(topic));
            }
            prop_assert_eq!(store.len(), model.len());
        }
        let mut everything: Vec<(String, usize)> =
            store.iter().map(|(topic, value)| (topic.to_owned(), *value)).collect();
        everything.sort_unstable();
        let mut expected_everything: Vec<(String, usize)> = model.clone().into_iter().collect();
        expected_everything.sort_unstable();
        prop_assert_eq!(everything, expected_everything);
        for filter in &filters {
            let mut reported = Vec::new();
            store.for_each_match(filter, |topic, value| reported.push((topic.to_owned(), *value)));
            reported.sort_unstable();
            let mut expected: Vec<(String, usize)> = model
                .iter()
                .filter(|(topic, _)| matches(filter, topic))
                .map(|(topic, value)| (topic.clone(), *value))
                .collect();
            expected.sort_unstable();
            prop_assert_eq!(reported, expected, "filter {:?}", filter);
        }
        for topic in model.keys() {
            prop_assert!(store.remove(topic).is_some());
        }
        prop_assert!(store.is_empty());
        prop_assert_eq!(store.node_count(), 1, "every node was pruned");
    }
}
