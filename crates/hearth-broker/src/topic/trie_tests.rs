//! Example-based tests of [`SubscriptionTrie`]; the properties are in `proptests.rs`.

use super::*;

/// The `(subscriber, value)` pairs reported for `topic`, sorted.
fn matched(trie: &SubscriptionTrie<&'static str>, topic: &str) -> Vec<(u64, &'static str)> {
    let mut pairs = Vec::new();
    trie.for_each_match(topic, |subscriber, value| pairs.push((subscriber, *value)));
    pairs.sort_unstable();
    pairs
}

#[test]
fn insert_get_replace() {
    let mut trie = SubscriptionTrie::new();
    assert!(trie.is_empty());
    assert_eq!(trie.insert("a/b", 1, "first"), None);
    assert_eq!(trie.insert("a/b", 2, "other"), None);
    assert_eq!(trie.len(), 2);
    assert_eq!(trie.insert("a/b", 1, "second"), Some("first"));
    assert_eq!(trie.len(), 2, "a replacement is not a new subscription");
    assert_eq!(trie.get("a/b", 1), Some(&"second"));
    assert_eq!(trie.get("a/b", 3), None);
    assert_eq!(trie.get("a", 1), None);
    assert_eq!(trie.get("a/b/c", 1), None);
    assert_eq!(trie.get("a/#", 1), None);
    assert_eq!(matched(&trie, "a/b"), vec![(1, "second"), (2, "other")]);
}

#[test]
fn wildcard_slots_are_distinct_from_literal_levels() {
    let mut trie = SubscriptionTrie::new();
    trie.insert("a/+", 1, "single");
    trie.insert("a/#", 1, "rest");
    trie.insert("a", 1, "exact");
    trie.insert("#", 1, "all");
    assert_eq!(trie.get("a/+", 1), Some(&"single"));
    assert_eq!(trie.get("a/#", 1), Some(&"rest"));
    assert_eq!(trie.get("a", 1), Some(&"exact"));
    assert_eq!(trie.get("#", 1), Some(&"all"));
    assert_eq!(trie.get("+", 1), None);
    assert_eq!(trie.len(), 4);
    assert_eq!(trie.remove("a/+", 1), Some("single"));
    assert_eq!(trie.get("a/#", 1), Some(&"rest"));
    assert_eq!(trie.remove("a/#", 1), Some("rest"));
    assert_eq!(trie.remove("a/#", 1), None);
    assert_eq!(trie.get("a", 1), Some(&"exact"));
}

#[test]
fn remove_prunes_empty_nodes() {
    let mut trie = SubscriptionTrie::new();
    assert_eq!(trie.node_count(), 1);
    trie.insert("a/b/c", 1, "abc");
    assert_eq!(trie.node_count(), 4);
    trie.insert("a/+/c/#", 1, "a+c#");
    assert_eq!(trie.node_count(), 6);
    trie.insert("a", 2, "a");
    assert_eq!(trie.node_count(), 6);

    assert_eq!(trie.remove("a/b/c", 2), None, "wrong subscriber");
    assert_eq!(trie.remove("a/b/c/d", 1), None, "path not in the trie");
    assert_eq!(trie.node_count(), 6);

    assert_eq!(trie.remove("a/b/c", 1), Some("abc"));
    assert_eq!(
        trie.node_count(),
        4,
        "a/b and a/b/c are gone, a stays for a/+"
    );
    assert_eq!(trie.remove("a/+/c/#", 1), Some("a+c#"));
    assert_eq!(trie.node_count(), 2, "a stays for its own subscriber");
    assert_eq!(trie.remove("a", 2), Some("a"));
    assert_eq!(trie.node_count(), 1);
    assert!(trie.is_empty());
    assert!(matched(&trie, "a/b/c").is_empty());
}

#[test]
fn prune_keeps_nodes_that_still_hold_or_branch() {
    let mut trie = SubscriptionTrie::new();
    trie.insert("x/y", 1, "xy");
    trie.insert("x/y/z", 1, "xyz");
    trie.insert("x/w/z", 1, "xwz");
    assert_eq!(trie.node_count(), 6);
    assert_eq!(trie.remove("x/y", 1), Some("xy"));
    assert_eq!(trie.node_count(), 6, "x/y still leads to x/y/z");
    assert_eq!(trie.remove("x/y/z", 1), Some("xyz"));
    assert_eq!(trie.node_count(), 4, "x still leads to x/w");
    assert_eq!(matched(&trie, "x/w/z"), vec![(1, "xwz")]);
    trie.insert("x/#", 2, "x#");
    assert_eq!(trie.remove("x/w/z", 1), Some("xwz"));
    assert_eq!(trie.node_count(), 2, "x holds x/#");
    assert_eq!(trie.remove("#", 2), None);
    assert_eq!(trie.remove("x/#", 2), Some("x#"));
    assert_eq!(trie.node_count(), 1);
}

#[test]
fn empty_levels_are_distinct() {
    let mut trie = SubscriptionTrie::new();
    trie.insert("a//b", 1, "a//b");
    trie.insert("/a", 2, "/a");
    trie.insert("a/", 3, "a/");
    trie.insert("a", 4, "a");
    trie.insert("/#", 5, "/#");
    assert_eq!(matched(&trie, "a//b"), vec![(1, "a//b")]);
    assert_eq!(matched(&trie, "a/b"), vec![]);
    assert_eq!(matched(&trie, "/a"), vec![(2, "/a"), (5, "/#")]);
    assert_eq!(matched(&trie, "a/"), vec![(3, "a/")]);
    assert_eq!(matched(&trie, "a"), vec![(4, "a")]);
    assert_eq!(matched(&trie, "/"), vec![(5, "/#")]);
    assert_eq!(trie.remove("a/", 3), Some("a/"));
    assert_eq!(trie.get("a", 4), Some(&"a"));
    assert_eq!(trie.get("a//b", 1), Some(&"a//b"));
}

#[test]
fn spec_examples_through_the_trie() {
    let mut trie = SubscriptionTrie::new();
    trie.insert("sport/tennis/player1/#", 1, "player1/#");
    trie.insert("sport/#", 2, "sport/#");
    trie.insert("sport/+", 3, "sport/+");
    trie.insert("+/+", 4, "+/+");
    trie.insert("/+", 5, "/+");
    trie.insert("#", 6, "#");
    trie.insert("+/monitor/Clock", 7, "+/monitor/Clock");
    trie.insert("$SYS/#", 8, "$SYS/#");
    trie.insert("$SYS/monitor/+", 9, "$SYS/monitor/+");

    assert_eq!(
        matched(&trie, "sport/tennis/player1"),
        vec![(1, "player1/#"), (2, "sport/#"), (6, "#")]
    );
    assert_eq!(
        matched(&trie, "sport/tennis/player1/score/wimbledon"),
        vec![(1, "player1/#"), (2, "sport/#"), (6, "#")]
    );
    assert_eq!(matched(&trie, "sport"), vec![(2, "sport/#"), (6, "#")]);
    assert_eq!(
        matched(&trie, "sport/"),
        vec![(2, "sport/#"), (3, "sport/+"), (4, "+/+"), (6, "#")]
    );
    assert_eq!(
        matched(&trie, "/finance"),
        vec![(4, "+/+"), (5, "/+"), (6, "#")]
    );
    assert_eq!(matched(&trie, "$SYS/x"), vec![(8, "$SYS/#")]);
    assert_eq!(matched(&trie, "$SYS"), vec![(8, "$SYS/#")]);
    assert_eq!(
        matched(&trie, "$SYS/monitor/Clock"),
        vec![(8, "$SYS/#"), (9, "$SYS/monitor/+")]
    );
    assert_eq!(
        matched(&trie, "home/monitor/Clock"),
        vec![(6, "#"), (7, "+/monitor/Clock")]
    );
}

#[test]
fn overlapping_filters_report_each_subscription() {
    let mut trie = SubscriptionTrie::new();
    trie.insert("devices/+/data", 1, "+");
    trie.insert("devices/#", 1, "#");
    trie.insert("devices/d1/data", 1, "exact");
    trie.insert("devices/d1/data", 2, "exact");
    trie.insert("devices/+/status", 1, "status");
    assert_eq!(
        matched(&trie, "devices/d1/data"),
        vec![(1, "#"), (1, "+"), (1, "exact"), (2, "exact")]
    );
    assert_eq!(matched(&trie, "devices/d2/data"), vec![(1, "#"), (1, "+")]);
    assert_eq!(
        matched(&trie, "devices/d1/status"),
        vec![(1, "#"), (1, "status")]
    );
    assert_eq!(matched(&trie, "other/d1/data"), vec![]);
}

#[test]
fn ten_thousand_subscribers_on_one_filter() {
    let mut trie = SubscriptionTrie::new();
    for subscriber in 0..10_000 {
        assert_eq!(trie.insert("broadcast/+/all", subscriber, subscriber), None);
    }
    trie.insert("broadcast/x/other", 0, 0);
    assert_eq!(trie.len(), 10_001);
    assert_eq!(trie.node_count(), 6);
    assert_eq!(trie.insert("broadcast/+/all", 1234, 1), Some(1234));
    assert_eq!(trie.len(), 10_001);

    let mut n_matches = 0;
    let mut sum = 0;
    trie.for_each_match("broadcast/x/all", |_, value| {
        n_matches += 1;
        sum += value;
    });
    assert_eq!(n_matches, 10_000);
    assert_eq!(sum, (0..10_000).sum::<u64>() - 1234 + 1);

    // Remove in an order that keeps moving entries around inside the filter's list.
    for subscriber in (0..10_000)
        .rev()
        .step_by(3)
        .chain((0..10_000).filter(|s| (9_999 - s) % 3 != 0))
    {
        let expected = if subscriber == 1234 { 1 } else { subscriber };
        assert_eq!(
            trie.remove("broadcast/+/all", subscriber),
            Some(expected),
            "{subscriber}"
        );
    }
    assert_eq!(trie.len(), 1);
    assert_eq!(trie.node_count(), 4, "the broadcast/+ branch is gone");
    assert_eq!(trie.remove("broadcast/x/other", 0), Some(0));
    assert!(trie.is_empty());
    assert_eq!(trie.node_count(), 1);
}

#[test]
fn deep_topics_do_not_overflow_the_stack() {
    let depth = 20_000;
    let deep_single = vec!["+"; depth].join("/");
    let deep_literal = vec!["a"; depth].join("/");
    let deep_mixed = (0..depth)
        .map(|level| if level % 2 == 0 { "a" } else { "+" })
        .collect::<Vec<_>>()
        .join("/");
    let mut trie = SubscriptionTrie::new();
    trie.insert(&deep_single, 1, "single");
    trie.insert(&deep_literal, 2, "literal");
    trie.insert(&deep_mixed, 3, "mixed");
    trie.insert(&format!("{deep_literal}/#"), 4, "rest");
    assert_eq!(
        matched(&trie, &deep_literal),
        vec![(1, "single"), (2, "literal"), (3, "mixed"), (4, "rest")]
    );
    let deep_other = vec!["b"; depth].join("/");
    assert_eq!(matched(&trie, &deep_other), vec![(1, "single")]);
    assert_eq!(trie.remove(&deep_single, 1), Some("single"));
    assert_eq!(trie.remove(&deep_mixed, 3), Some("mixed"));
    assert_eq!(trie.remove(&format!("{deep_literal}/#"), 4), Some("rest"));
    assert_eq!(trie.node_count(), depth + 1);
    assert_eq!(trie.remove(&deep_literal, 2), Some("literal"));
    assert_eq!(trie.node_count(), 1);
    // Dropping a deep trie must not recurse either.
    trie.insert(&deep_single, 1, "single");
    drop(trie);
}

#[test]
fn frame_stack_is_last_in_first_out_across_the_spill() {
    let node = Node::<()>::default();
    let mut stack = FrameStack::new();
    let n_frames = 3 * INLINE_FRAMES;
    for position in 0..n_frames {
        stack.push((&node, Some(position)));
    }
    assert_eq!(stack.spilled.len(), n_frames - INLINE_FRAMES);
    for position in (0..n_frames).rev() {
        assert_eq!(stack.pop().map(|frame| frame.1), Some(Some(position)));
    }
    assert!(stack.pop().is_none());
    stack.push((&node, None));
    assert_eq!(stack.pop().map(|frame| frame.1), Some(None));
}

#[test]
fn a_node_many_filters_left_gives_its_table_back() {
    let mut trie = SubscriptionTrie::new();
    let n_filters = 10_000;
    for index in 0..n_filters {
        trie.insert(&format!("spread/{index}/x"), 1, "value");
    }
    assert_eq!(trie.node_count(), 2 + 2 * n_filters);
    let spread_capacity =
        |trie: &SubscriptionTrie<&str>| trie.root.children["spread"].children.capacity();
    let full_capacity = spread_capacity(&trie);
    assert!(full_capacity >= n_filters);
    // All but one go: the node they went through keeps that one, in a small table.
    for index in 1..n_filters {
        assert_eq!(trie.remove(&format!("spread/{index}/x"), 1), Some("value"));
    }
    assert_eq!(trie.node_count(), 4);
    assert!(spread_capacity(&trie) <= 4, "{}", spread_capacity(&trie));
    // The root's own table goes once its last child does.
    assert_eq!(trie.remove("spread/0/x", 1), Some("value"));
    assert_eq!(trie.node_count(), 1);
    assert_eq!(trie.root.children.capacity(), 0);
}
