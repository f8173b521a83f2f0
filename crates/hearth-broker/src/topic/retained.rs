//! The retained store: the last retained message of each topic, indexed by topic
//! name one level per node, so that a new subscription finds the messages its filter
//! matches by walking only the matching branches.
//!
//! Each node with a message also keeps the full topic name, so matching and snapshots
//! hand out `&str` topics without rebuilding them from levels. Lookups on subscribe
//! may allocate (the walk keeps its pending branches in a `Vec`); publishing, the hot
//! path, only does `insert` or `remove`.

use std::collections::HashMap;
use std::fmt;

use super::path::{PathNode, drop_subtree, prune_path};
use super::shrink::shrink_map_if_sparse;

/// Retained messages indexed by topic name, for matching a new subscription's filter.
///
/// Values are whatever the router retains (payload, QoS, properties, expiry); the
/// store only knows their topics.
pub struct RetainedStore<V> {
    root: Node<V>,
    n_retained: usize,
}

struct Node<V> {
    children: HashMap<Box<str>, Node<V>>,
    /// The full topic name of this node and the message retained on it.
    retained: Option<(Box<str>, V)>,
}

impl<V> Default for Node<V> {
    fn default() -> Self {
        Node {
            children: HashMap::new(),
            retained: None,
        }
    }
}

impl<V> Drop for Node<V> {
    fn drop(&mut self) {
        drop_subtree(self);
    }
}

impl<V> Default for RetainedStore<V> {
    fn default() -> Self {
        RetainedStore {
            root: Node::default(),
            n_retained: 0,
        }
    }
}

/// Shows the size only: printing a tree as deep as a client may make it would
/// overflow the stack, and would flood the log anyway.
impl<V> fmt::Debug for RetainedStore<V> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("RetainedStore")
            .field("len", &self.n_retained)
            .finish_non_exhaustive()
    }
}

impl<V> RetainedStore<V> {
    /// An empty store; the router fills it from its snapshot at start-up.
    pub fn new() -> Self {
        Self::default()
    }

    /// Retains `value` on `topic`, replacing and returning the message retained there
    /// before: MQTT keeps one retained message per topic.
    ///
    /// `topic` must have passed [`validate_topic_name`](super::validate_topic_name).
    pub fn insert(&mut self, topic: &str, value: V) -> Option<V> {
        debug_assert_eq!(super::validate_topic_name(topic), Ok(()), "{topic:?}");
        let mut node = &mut self.root;
        for level in topic.split('/') {
            if !node.children.contains_key(level) {
                node.children.insert(level.into(), Node::default());
            }
            node = node.children.get_mut(level).expect("inserted above");
        }
        match &mut node.retained {
            Some((_, retained)) => Some(std::mem::replace(retained, value)),
            empty => {
                *empty = Some((topic.into(), value));
                self.n_retained += 1;
                None
            }
        }
    }

    /// Forgets the message retained on `topic` (a retained publish with an empty
    /// payload, or an expiry) and returns it. Nodes left holding nothing are dropped,
    /// so topics that come and go do not grow the tree.
    pub fn remove(&mut self, topic: &str) -> Option<V> {
        let mut node = &mut self.root;
        for level in topic.split('/') {
            node = node.children.get_mut(level)?;
        }
        let (_, old) = node.retained.take()?;
        self.n_retained -= 1;
        prune_path(&mut self.root, topic.split('/'));
        Some(old)
    }

    /// The message retained on exactly `topic`, e.g. to compare before persisting.
    pub fn get(&self, topic: &str) -> Option<&V> {
        let mut node = &self.root;
        for level in topic.split('/') {
            node = node.children.get(level)?;
        }
        node.retained.as_ref().map(|(_, value)| value)
    }

    /// Calls `f(topic, value)` for each retained topic that the topic filter `filter`
    /// matches, following [`matches()`](super::matches), `$` rule included: a new
    /// subscription receives these messages. Only the branches the filter can match
    /// are walked; `#` walks the whole subtree below it, since all of it matches.
    pub fn for_each_match(&self, filter: &str, mut f: impl FnMut(&str, &V)) {
        let mut pending = vec![Visit::Level(&self.root, Some(0))];
        while let Some(visit) = pending.pop() {
            let (node, start) = match visit {
                Visit::Subtree(node) => {
                    node.report(&mut f);
                    pending.extend(node.children.values().map(Visit::Subtree));
                    continue;
                }
                Visit::Level(node, None) => {
                    node.report(&mut f);
                    continue;
                }
                Visit::Level(node, Some(start)) => (node, start),
            };
            let rest = &filter[start..];
            let (level, next_level) = match rest.find('/') {
                Some(slash) => (&rest[..slash], Some(start + slash + 1)),
                None => (rest, None),
            };
            // Only the root is visited at the filter's start. There, wildcards skip
            // `$` topics (MQTT 5 §4.7.2).
            let at_root = start == 0;
            let wildcard_reaches = |key: &str| !(at_root && key.starts_with('$'));
            match level {
                "#" => {
                    // `a/#` matches `a` itself as well as everything below it.
                    node.report(&mut f);
                    let children = node
                        .children
                        .iter()
                        .filter(|(key, _)| wildcard_reaches(key));
                    pending.extend(children.map(|(_, child)| Visit::Subtree(child)));
                }
                "+" => {
                    let children = node
                        .children
                        .iter()
                        .filter(|(key, _)| wildcard_reaches(key));
                    pending.extend(children.map(|(_, child)| Visit::Level(child, next_level)));
                }
                literal => {
                    if let Some(child) = node.children.get(literal) {
                        pending.push(Visit::Level(child, next_level));
                    }
                }
            }
        }
    }

    /// The number of retained messages.
    pub fn len(&self) -> usize {
        self.n_retained
    }

    /// Whether nothing is retained, so a subscription can skip the walk.
    pub fn is_empty(&self) -> bool {
        self.n_retained == 0
    }

    /// Every retained `(topic, value)`, in no particular order, for snapshots and
    /// persistence.
    pub fn iter(&self) -> Iter<'_, V> {
        Iter {
            pending: vec![&self.root],
            n_remaining: self.n_retained,
        }
    }

    /// Counts the nodes, root included, so tests can see that removal prunes.
    #[cfg(test)]
    pub(crate) fn node_count(&self) -> usize {
        let mut n_nodes = 0;
        let mut pending = vec![&self.root];
        while let Some(node) = pending.pop() {
            n_nodes += 1;
            pending.extend(node.children.values());
        }
        n_nodes
    }
}

impl<'s, V> IntoIterator for &'s RetainedStore<V> {
    type Item = (&'s str, &'s V);
    type IntoIter = Iter<'s, V>;

    fn into_iter(self) -> Iter<'s, V> {
        self.iter()
    }
}

/// A branch still to visit while matching a filter.
enum Visit<'s, V> {
    /// The node, and where the filter's next level starts (`None` once it is used up).
    Level(&'s Node<V>, Option<usize>),
    /// The node and everything below it match (the filter reached `#`).
    Subtree(&'s Node<V>),
}

impl<V> Node<V> {
    fn report(&self, f: &mut impl FnMut(&str, &V)) {
        if let Some((topic, value)) = &self.retained {
            f(topic, value);
        }
    }
}

impl<V> PathNode for Node<V> {
    fn child(&self, level: &str) -> Option<&Self> {
        self.children.get(level)
    }

    fn child_mut(&mut self, level: &str) -> Option<&mut Self> {
        self.children.get_mut(level)
    }

    fn detach_child(&mut self, level: &str) {
        self.children.remove(level);
        shrink_map_if_sparse(&mut self.children);
    }

    fn n_children(&self) -> usize {
        self.children.len()
    }

    fn holds_nothing(&self) -> bool {
        self.retained.is_none()
    }

    fn take_children(&mut self, out: &mut Vec<Self>) {
        out.extend(self.children.drain().map(|(_, child)| child));
    }
}

/// Iterator over every retained message of a [`RetainedStore`], from
/// [`RetainedStore::iter`].
pub struct Iter<'s, V> {
    pending: Vec<&'s Node<V>>,
    n_remaining: usize,
}

impl<'s, V> Iterator for Iter<'s, V> {
    type Item = (&'s str, &'s V);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(node) = self.pending.pop() {
            self.pending.extend(node.children.values());
            if let Some((topic, value)) = &node.retained {
                self.n_remaining -= 1;
                return Some((topic, value));
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.n_remaining, Some(self.n_remaining))
    }
}

impl<V> ExactSizeIterator for Iter<'_, V> {}

#[cfg(test)]
#[path = "retained_tests.rs"]
mod tests;
