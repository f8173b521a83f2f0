//! A set of sequence numbers as a bitmap: which messages of one publisher arrived, or
//! were acknowledged.
//!
//! A bitmap rather than a counter because a counter cannot tell a duplicate from a new
//! message, and "acknowledged but never received" needs the two sets compared message
//! by message. One bit per message keeps a million-message run at 125 KiB.

#[derive(Debug, Clone, Default)]
pub struct SeqSet {
    words: Vec<u64>,
    capacity: u64,
    len: u64,
}

/// What [`SeqSet::insert`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    New,
    Duplicate,
    /// Beyond the capacity: not a message this run sent.
    Foreign,
}

impl SeqSet {
    /// A set for sequence numbers `0..capacity`.
    pub fn with_capacity(capacity: u64) -> SeqSet {
        SeqSet {
            words: vec![0; capacity.div_ceil(64) as usize],
            capacity,
            len: 0,
        }
    }

    pub fn insert(&mut self, seq: u64) -> Insert {
        if seq >= self.capacity {
            return Insert::Foreign;
        }
        let word = &mut self.words[(seq / 64) as usize];
        let bit = 1u64 << (seq % 64);
        if *word & bit != 0 {
            return Insert::Duplicate;
        }
        *word |= bit;
        self.len += 1;
        Insert::New
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// How many members of `self` are missing from `other`: with `self` the
    /// acknowledged messages and `other` the received ones, the acknowledged losses.
    pub fn missing_from(&self, other: &SeqSet) -> u64 {
        self.words
            .iter()
            .enumerate()
            .map(|(idx, &word)| {
                let theirs = other.words.get(idx).copied().unwrap_or(0);
                u64::from((word & !theirs).count_ones())
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_tells_new_from_duplicate_and_foreign() {
        let mut set = SeqSet::with_capacity(100);
        assert_eq!(set.insert(0), Insert::New);
        assert_eq!(set.insert(99), Insert::New);
        assert_eq!(set.insert(0), Insert::Duplicate);
        assert_eq!(set.insert(100), Insert::Foreign);
        assert_eq!(set.len(), 2);
        assert_eq!(set.insert(99), Insert::Duplicate);
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn missing_from_counts_acknowledged_but_not_received() {
        let mut acked = SeqSet::with_capacity(200);
        let mut received = SeqSet::with_capacity(200);
        for seq in 0..200 {
            acked.insert(seq);
            if seq % 10 != 3 {
                received.insert(seq);
            }
        }
        // A message received but never acknowledged is not a loss.
        let mut partly_acked = SeqSet::with_capacity(200);
        partly_acked.insert(3);
        assert_eq!(acked.missing_from(&received), 20);
        assert_eq!(received.missing_from(&acked), 0);
        assert_eq!(partly_acked.missing_from(&received), 1);
        assert_eq!(SeqSet::default().missing_from(&received), 0);
    }
}
