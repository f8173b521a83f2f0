//! The subscription trie: every subscription indexed by its filter, one level per
//! node, so that a published topic finds its subscribers without looking at the
//! subscriptions it cannot match.
//!
//! A node has a map of literal children, a slot for `+`, and the subscribers of the
//! filter ending at the node and of the filter ending at the node with `/#`. `#` is
//! always the last level, so it needs no node of its own. Matching runs for every
//! published message: it splits the topic lazily, looks children up by `&str`, and
//! keeps its pending branches in a fixed-size stack, so it allocates nothing unless a
//! topic is deeper than `INLINE_FRAMES` levels.

use std::collections::HashMap;
use std::fmt;

use super::path::{PathNode, drop_subtree, prune_path};
use super::shrink::shrink_map_if_sparse;
use super::subscribers::Subscribers;

/// Pending branches held on the stack before matching spills to the heap. Each node
/// visited is popped and pushes at most two children, so the stack never holds more
/// than one frame per topic level plus one; real topics are a handful of levels deep.
const INLINE_FRAMES: usize = 32;

/// Subscriptions indexed by filter, for matching topic names to subscribers.
///
/// A subscription is a `(filter, subscriber)` pair with a value (QoS, options, ...).
/// The trie stores validated filters only; shared subscriptions are indexed by their
/// inner filter, with the group kept by the caller (see
/// [`parse_shared`](super::parse_shared)).
pub struct SubscriptionTrie<V> {
    root: Node<V>,
    n_subscriptions: usize,
    /// Nodes, root included: kept as it changes so that the broker's statistics can
    /// report it without walking the trie.
    n_nodes: usize,
}

struct Node<V> {
    children: HashMap<Box<str>, Node<V>>,
    /// The child for a `+` level.
    single: Option<Box<Node<V>>>,
    /// Subscribers of the filter that ends at this node.
    exact: Subscribers<V>,
    /// Subscribers of this node's filter followed by `/#` (of `#` at the root).
    rest: Subscribers<V>,
}

impl<V> Default for Node<V> {
    fn default() -> Self {
        Node {
            children: HashMap::new(),
            single: None,
            exact: Subscribers::default(),
            rest: Subscribers::default(),
        }
    }
}

impl<V> Drop for Node<V> {
    fn drop(&mut self) {
        drop_subtree(self);
    }
}

impl<V> Default for SubscriptionTrie<V> {
    fn default() -> Self {
        SubscriptionTrie {
            root: Node::default(),
            n_subscriptions: 0,
            n_nodes: 1,
        }
    }
}

/// Shows the size only: printing a trie as deep as a client may make it would
/// overflow the stack, and would flood the log anyway.
impl<V> fmt::Debug for SubscriptionTrie<V> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SubscriptionTrie")
            .field("len", &self.n_subscriptions)
            .finish_non_exhaustive()
    }
}

impl<V> SubscriptionTrie<V> {
    /// An empty trie, holding only its root.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the subscription of `subscriber` to `filter` and returns the
    /// value it replaced, so the caller can tell a new subscription from a renewed one
    /// (MQTT resends retained messages only for new ones when asked to).
    ///
    /// `filter` must have passed [`validate_topic_filter`](super::validate_topic_filter).
    pub fn insert(&mut self, filter: &str, subscriber: u64, value: V) -> Option<V> {
        debug_assert_eq!(super::validate_topic_filter(filter), Ok(()), "{filter:?}");
        let (path, ends_in_rest) = split_filter(filter);
        let mut node = &mut self.root;
        for level in path {
            node = if level == "+" {
                if node.single.is_none() {
                    self.n_nodes += 1;
                }
                node.single.get_or_insert_with(Box::default)
            } else {
                if !node.children.contains_key(level) {
                    node.children.insert(level.into(), Node::default());
                    self.n_nodes += 1;
                }
                node.children.get_mut(level).expect("inserted above")
            };
        }
        let slot = if ends_in_rest {
            &mut node.rest
        } else {
            &mut node.exact
        };
        let old = slot.insert(subscriber, value);
        if old.is_none() {
            self.n_subscriptions += 1;
        }
        old
    }

    /// Removes the subscription of `subscriber` to `filter` and returns its value.
    /// Nodes left holding nothing are dropped, so churn does not grow the trie.
    pub fn remove(&mut self, filter: &str, subscriber: u64) -> Option<V> {
        let (path, ends_in_rest) = split_filter(filter);
        let mut node = &mut self.root;
        for level in path.clone() {
            node = node.child_mut(level)?;
        }
        let slot = if ends_in_rest {
            &mut node.rest
        } else {
            &mut node.exact
        };
        let old = slot.remove(subscriber)?;
        self.n_subscriptions -= 1;
        self.n_nodes -= prune_path(&mut self.root, path);
        Some(old)
    }

    /// The value of `subscriber`'s subscription to exactly `filter` (not to filters
    /// matching it).
    pub fn get(&self, filter: &str, subscriber: u64) -> Option<&V> {
        let (path, ends_in_rest) = split_filter(filter);
        let mut node = &self.root;
        for level in path {
            node = node.child(level)?;
        }
        let slot = if ends_in_rest {
            &node.rest
        } else {
            &node.exact
        };
        slot.get(subscriber)
    }

    /// Calls `f` once per `(filter, subscriber)` subscription whose filter matches the
    /// topic name `topic`, following [`matches()`](super::matches).
    ///
    /// A subscriber with two overlapping filters is reported twice: MQTT 5 lets the
    /// caller choose between one delivery per subscription and one per subscriber,
    /// and only the caller knows the options needed to merge them. The work done is
    /// proportional to the matching branches of the trie, not to its size.
    pub fn for_each_match(&self, topic: &str, mut f: impl FnMut(u64, &V)) {
        let mut pending = FrameStack::new();
        // At the root, `$` topics escape the wildcards (MQTT 5 §4.7.2).
        let wildcards_apply = !topic.starts_with('$');
        if wildcards_apply {
            self.root.rest.for_each(&mut f);
        }
        self.root
            .push_children(topic, 0, wildcards_apply, &mut pending);
        while let Some((node, next_level)) = pending.pop() {
            // `a/#` matches `a` itself as well as everything below it.
            node.rest.for_each(&mut f);
            match next_level {
                None => node.exact.for_each(&mut f),
                Some(start) => node.push_children(topic, start, true, &mut pending),
            }
        }
    }

    /// The number of `(filter, subscriber)` subscriptions.
    pub fn len(&self) -> usize {
        self.n_subscriptions
    }

    /// Whether there are no subscriptions, so a publish can skip the walk.
    pub fn is_empty(&self) -> bool {
        self.n_subscriptions == 0
    }

    /// The number of nodes, root included: 1 when the trie is empty, and back to what
    /// it was once the subscriptions added since are removed, since removal prunes.
    /// Unit tests check it against a walk of the trie on every call.
    pub fn node_count(&self) -> usize {
        #[cfg(test)]
        assert_eq!(self.n_nodes, self.walk_node_count(), "node counter drifted");
        self.n_nodes
    }

    /// Counts the nodes by visiting them.
    #[cfg(test)]
    pub(crate) fn walk_node_count(&self) -> usize {
        let mut n_nodes = 0;
        let mut pending = vec![&self.root];
        while let Some(node) = pending.pop() {
            n_nodes += 1;
            pending.extend(node.children.values());
            pending.extend(node.single.as_deref());
        }
        n_nodes
    }
}

impl<V> Node<V> {
    /// Pushes the children matching the level of `topic` that starts at byte `start`,
    /// with where the level after it starts (`None` if it is the last one).
    fn push_children<'t>(
        &'t self,
        topic: &str,
        start: usize,
        with_single: bool,
        pending: &mut FrameStack<'t, V>,
    ) {
        let rest = &topic[start..];
        let (level, next_level) = match rest.find('/') {
            Some(slash) => (&rest[..slash], Some(start + slash + 1)),
            None => (rest, None),
        };
        if let Some(child) = self.children.get(level) {
            pending.push((child, next_level));
        }
        if with_single && let Some(child) = &self.single {
            pending.push((child, next_level));
        }
    }
}

impl<V> PathNode for Node<V> {
    fn child(&self, level: &str) -> Option<&Self> {
        if level == "+" {
            self.single.as_deref()
        } else {
            self.children.get(level)
        }
    }

    fn child_mut(&mut self, level: &str) -> Option<&mut Self> {
        if level == "+" {
            self.single.as_deref_mut()
        } else {
            self.children.get_mut(level)
        }
    }

    fn detach_child(&mut self, level: &str) {
        if level == "+" {
            self.single = None;
        } else {
            self.children.remove(level);
            // A node many filters went through (the root, `devices/`) would otherwise
            // keep a table sized for all of them after they are gone.
            shrink_map_if_sparse(&mut self.children);
        }
    }

    fn n_children(&self) -> usize {
        self.children.len() + usize::from(self.single.is_some())
    }

    fn holds_nothing(&self) -> bool {
        self.exact.is_empty() && self.rest.is_empty()
    }

    fn take_children(&mut self, out: &mut Vec<Self>) {
        out.extend(self.children.drain().map(|(_, child)| child));
        out.extend(self.single.take().map(|child| *child));
    }
}

/// Splits a valid filter into the levels leading to its node and whether it ends in
/// `#`. The filter `#` has no levels before its `#`; `/#` has one, the empty level.
fn split_filter(filter: &str) -> (impl Iterator<Item = &str> + Clone, bool) {
    let (path, ends_in_rest) = match filter.strip_suffix("#") {
        Some("") => (None, true),
        Some(parent) => match parent.strip_suffix('/') {
            Some(parent) => (Some(parent), true),
            None => (Some(filter), false),
        },
        None => (Some(filter), false),
    };
    (
        path.into_iter().flat_map(|path| path.split('/')),
        ends_in_rest,
    )
}

/// A branch still to visit: a node, and where the topic's next level starts.
type Frame<'t, V> = (&'t Node<V>, Option<usize>);

/// A last-in-first-out stack of frames that lives on the call stack until it holds
/// more than [`INLINE_FRAMES`]; only then does it allocate.
struct FrameStack<'t, V> {
    inline: [Option<Frame<'t, V>>; INLINE_FRAMES],
    n_inline: usize,
    /// Frames pushed while `inline` was full; non-empty only when `inline` is full.
    spilled: Vec<Frame<'t, V>>,
}

impl<'t, V> FrameStack<'t, V> {
    fn new() -> Self {
        FrameStack {
            inline: [None; INLINE_FRAMES],
            n_inline: 0,
            spilled: Vec::new(),
        }
    }

    fn push(&mut self, frame: Frame<'t, V>) {
        if self.n_inline < INLINE_FRAMES {
            self.inline[self.n_inline] = Some(frame);
            self.n_inline += 1;
        } else {
            self.spilled.push(frame);
        }
    }

    fn pop(&mut self) -> Option<Frame<'t, V>> {
        if let Some(frame) = self.spilled.pop() {
            return Some(frame);
        }
        self.n_inline = self.n_inline.checked_sub(1)?;
        self.inline[self.n_inline].take()
    }
}

#[cfg(test)]
#[path = "trie_tests.rs"]
mod tests;
