//! Giving memory back: maps and lists that a client filled and then emptied shrink.
//!
//! A hash map or a vector keeps its capacity when entries go, so one client that
//! subscribed 50,000 filters and left would leave a table sized for 50,000 in the trie
//! node they shared (and in the router's indexes) for as long as the broker runs. These
//! helpers shrink a collection once it is at most a quarter full, to twice its length:
//! a shrink costs one pass over what remains, and at least half of what remains must go
//! before the next one, so removal stays amortised O(1) and a map that merely
//! fluctuates never shrinks and regrows on every change.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// Shrinks `map` if at most a quarter of its capacity is used (an empty map frees its
/// table altogether).
pub(crate) fn shrink_map_if_sparse<K: Eq + Hash, V, S: BuildHasher>(map: &mut HashMap<K, V, S>) {
    if is_sparse(map.len(), map.capacity()) {
        map.shrink_to(map.len() * 2);
    }
}

/// Shrinks `list` the same way as [`shrink_map_if_sparse`].
pub(crate) fn shrink_vec_if_sparse<T>(list: &mut Vec<T>) {
    if is_sparse(list.len(), list.capacity()) {
        list.shrink_to(list.len() * 2);
    }
}

fn is_sparse(len: usize, capacity: usize) -> bool {
    capacity > 0 && len.saturating_mul(4) <= capacity
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_emptied_of_most_entries_gives_its_table_back() {
        let mut map: HashMap<u32, u32> = (0..10_000).map(|key| (key, key)).collect();
        let full_capacity = map.capacity();
        for key in 0..9_990 {
            map.remove(&key);
            shrink_map_if_sparse(&mut map);
        }
        assert!(map.capacity() < full_capacity / 100, "{}", map.capacity());
        assert_eq!(map.len(), 10);
        for key in 9_990..10_000 {
            map.remove(&key);
            shrink_map_if_sparse(&mut map);
        }
        assert_eq!(map.capacity(), 0);
    }

    #[test]
    fn a_list_that_stays_over_a_quarter_full_keeps_its_capacity() {
        let mut list: Vec<u32> = Vec::with_capacity(100);
        list.extend(0..100);
        list.truncate(26);
        shrink_vec_if_sparse(&mut list);
        assert_eq!(list.capacity(), 100);
        list.truncate(25);
        shrink_vec_if_sparse(&mut list);
        assert_eq!(list.capacity(), 50);
        list.clear();
        shrink_vec_if_sparse(&mut list);
        assert_eq!(list.capacity(), 0);
    }
}
