//! Example-based tests of [`RetainedStore`]; the properties are in `proptests.rs`.

use super::*;

/// The `(topic, value)` pairs `filter` matches, sorted.
fn matched(store: &RetainedStore<u32>, filter: &str) -> Vec<(String, u32)> {
    let mut pairs = Vec::new();
    store.for_each_match(filter, |topic, value| {
        pairs.push((topic.to_owned(), *value))
    });
    pairs.sort_unstable();
    pairs
}

fn topics(pairs: &[(String, u32)]) -> Vec<&str> {
    pairs.iter().map(|(topic, _)| topic.as_str()).collect()
}

fn store_of(topics: &[&str]) -> RetainedStore<u32> {
    let mut store = RetainedStore::new();
    for (value, topic) in (0..).zip(topics) {
        assert_eq!(store.insert(topic, value), None, "{topic:?}");
    }
    store
}

#[test]
fn insert_get_replace_remove() {
    let mut store = RetainedStore::new();
    assert!(store.is_empty());
    assert_eq!(store.insert("a/b", 1), None);
    assert_eq!(store.insert("a/b", 2), Some(1));
    assert_eq!(store.insert("a", 3), None);
    assert_eq!(store.len(), 2);
    assert_eq!(store.get("a/b"), Some(&2));
    assert_eq!(store.get("a"), Some(&3));
    assert_eq!(store.get("a/b/c"), None);
    assert_eq!(store.get("b"), None);
    assert_eq!(store.remove("a/b/c"), None);
    assert_eq!(store.remove("a/b"), Some(2));
    assert_eq!(store.remove("a/b"), None);
    assert_eq!(store.len(), 1);
    assert_eq!(store.get("a"), Some(&3));
}

#[test]
fn remove_prunes_empty_nodes() {
    let mut store = RetainedStore::new();
    store.insert("a/b/c", 1);
    store.insert("a", 2);
    store.insert("a/x", 3);
    assert_eq!(store.node_count(), 5);
    assert_eq!(store.remove("a/b"), None, "a/b holds nothing");
    assert_eq!(store.node_count(), 5);
    assert_eq!(store.remove("a/b/c"), Some(1));
    assert_eq!(store.node_count(), 3);
    assert_eq!(store.remove("a"), Some(2));
    assert_eq!(store.node_count(), 3, "a still leads to a/x");
    assert_eq!(store.remove("a/x"), Some(3));
    assert_eq!(store.node_count(), 1);
    assert!(store.is_empty());
}

#[test]
fn matches_with_wildcards() {
    let store = store_of(&[
        "sport",
        "sport/tennis",
        "sport/tennis/player1",
        "sport/tennis/player1/ranking",
        "sport/tennis/player2",
        "sport/",
        "/finance",
        "finance",
        "a//b",
    ]);
    assert_eq!(
        topics(&matched(&store, "sport/tennis/player1/#")),
        ["sport/tennis/player1", "sport/tennis/player1/ranking"]
    );
    assert_eq!(
        topics(&matched(&store, "sport/tennis/+")),
        ["sport/tennis/player1", "sport/tennis/player2"]
    );
    assert_eq!(
        topics(&matched(&store, "sport/+")),
        ["sport/", "sport/tennis"]
    );
    assert_eq!(
        topics(&matched(&store, "+/+")),
        ["/finance", "sport/", "sport/tennis"]
    );
    assert_eq!(topics(&matched(&store, "/+")), ["/finance"]);
    assert_eq!(topics(&matched(&store, "+")), ["finance", "sport"]);
    assert_eq!(topics(&matched(&store, "a/+/b")), ["a//b"]);
    assert_eq!(topics(&matched(&store, "sport/tennis")), ["sport/tennis"]);
    assert_eq!(
        matched(&store, "sport/tennis/player1/ranking"),
        [("sport/tennis/player1/ranking".to_owned(), 3)]
    );
    assert!(matched(&store, "sport/golf").is_empty());
    assert!(matched(&store, "nothing/#").is_empty());
    assert_eq!(matched(&store, "#").len(), 9);
    assert_eq!(matched(&store, "sport/#").len(), 6);
}

#[test]
fn dollar_topics_escape_root_wildcards() {
    let store = store_of(&["$SYS/monitor/Clock", "$SYS", "home/monitor/Clock", "a/$b"]);
    assert_eq!(
        topics(&matched(&store, "#")),
        ["a/$b", "home/monitor/Clock"]
    );
    assert_eq!(topics(&matched(&store, "+")), Vec::<&str>::new());
    assert_eq!(
        topics(&matched(&store, "+/monitor/Clock")),
        ["home/monitor/Clock"]
    );
    assert_eq!(
        topics(&matched(&store, "$SYS/#")),
        ["$SYS", "$SYS/monitor/Clock"]
    );
    assert_eq!(
        topics(&matched(&store, "$SYS/+/Clock")),
        ["$SYS/monitor/Clock"]
    );
    assert_eq!(topics(&matched(&store, "a/+")), ["a/$b"]);
}

#[test]
fn iter_yields_every_retained_message() {
    let all = ["a", "a/b", "/", "", "$SYS/x", "a//b"];
    let mut store = RetainedStore::new();
    for (value, topic) in (0..).zip(all) {
        // "" is not a valid topic name; it is skipped rather than inserted.
        if !topic.is_empty() {
            store.insert(topic, value);
        }
    }
    store.remove("a/b");
    let iter = store.iter();
    assert_eq!(iter.len(), 4);
    let mut seen: Vec<(&str, u32)> = iter.map(|(topic, value)| (topic, *value)).collect();
    seen.sort_unstable();
    assert_eq!(seen, [("$SYS/x", 4), ("/", 2), ("a", 0), ("a//b", 5)]);
    assert_eq!((&store).into_iter().count(), 4);
}

#[test]
fn deep_topics_do_not_overflow_the_stack() {
    let depth = 20_000;
    let deep = vec!["a"; depth].join("/");
    let mut store = RetainedStore::new();
    store.insert(&deep, 1);
    store.insert("a", 2);
    let single_levels = vec!["+"; depth].join("/");
    assert_eq!(matched(&store, &single_levels), [(deep.clone(), 1)]);
    assert_eq!(matched(&store, "#").len(), 2);
    assert_eq!(store.iter().count(), 2);
    assert_eq!(store.remove(&deep), Some(1));
    assert_eq!(store.node_count(), 2);
    // Dropping a deep store must not recurse either.
    store.insert(&deep, 3);
    drop(store);
}
