//! Walks shared by the subscription trie and the retained store: pruning the nodes a
//! removal left bare, and dropping subtrees.
//!
//! Topics may have tens of thousands of levels (65,535 bytes of `/`), and a client
//! chooses them, so both work in loops rather than by recursion: a deep enough path
//! must not overflow the router's stack, neither while pruning nor while dropping
//! (the compiler-generated drop of a nested map recurses once per level).

/// A trie node as far as pruning is concerned.
pub(crate) trait PathNode: Sized {
    /// The child reached through `level`, if any.
    fn child(&self, level: &str) -> Option<&Self>;
    fn child_mut(&mut self, level: &str) -> Option<&mut Self>;
    /// Drops the child reached through `level` together with its subtree.
    fn detach_child(&mut self, level: &str);
    /// How many children the node has, wildcard slots included.
    fn n_children(&self) -> usize;
    /// Whether the node itself stores nothing (children are not considered).
    fn holds_nothing(&self) -> bool;
    /// Moves every child of the node into `out`.
    fn take_children(&mut self, out: &mut Vec<Self>);
}

/// Empties `node`'s subtree level by level, so that each node is dropped once it has
/// no children left. Meant to be called from the node's `Drop`.
pub(crate) fn drop_subtree<N: PathNode>(node: &mut N) {
    if node.n_children() == 0 {
        return;
    }
    let mut pending = Vec::new();
    node.take_children(&mut pending);
    while let Some(mut descendant) = pending.pop() {
        descendant.take_children(&mut pending);
        // `descendant` is dropped here, childless, so its own drop does not recurse.
    }
}

/// Removes the deepest run of nodes along `levels` (below `root`) that hold nothing
/// and have no branch other than the path itself, and returns how many nodes went.
/// `root` is never removed.
///
/// Three walks down the path, each linear in its length: find where the bare run
/// starts, go to its parent, and cut it off there.
pub(crate) fn prune_path<'f, N: PathNode>(
    root: &mut N,
    levels: impl Iterator<Item = &'f str> + Clone,
) -> usize {
    let mut bare_from: Option<usize> = None;
    let mut node: &N = root;
    let mut remaining = levels.clone().peekable();
    let mut depth = 0;
    while let Some(level) = remaining.next() {
        let Some(child) = node.child(level) else {
            // The path was never there: nothing of it to prune.
            return 0;
        };
        depth += 1;
        let branches_on_path = usize::from(remaining.peek().is_some());
        if child.holds_nothing() && child.n_children() == branches_on_path {
            bare_from.get_or_insert(depth);
        } else {
            bare_from = None;
        }
        node = child;
    }
    let Some(bare_from) = bare_from else {
        return 0;
    };
    let mut levels = levels;
    let mut parent = root;
    for level in levels.by_ref().take(bare_from - 1) {
        parent = parent.child_mut(level).expect("the path was walked above");
    }
    let cut_level = levels.next().expect("the path was walked above");
    parent.detach_child(cut_level);
    // The run is a chain (each of its nodes but the last has only the path as child),
    // from depth `bare_from` down to the end of the path.
    depth - bare_from + 1
}
