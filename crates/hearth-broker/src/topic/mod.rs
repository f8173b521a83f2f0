//! Topic names and filters: their syntax, the MQTT matching rule, and the two indexes
//! the router keeps, subscriptions by filter and retained messages by topic name.
//!
//! Sessions validate every topic on the way in ([`validate_topic_name`],
//! [`validate_topic_filter`], [`parse_shared`]); everything else here assumes valid
//! input. [`matches()`] is the rule itself; [`SubscriptionTrie`] applies it to every
//! published message without allocating, and [`RetainedStore`] applies it the other
//! way round when a subscription arrives.
//!
//! This module uses nothing but `std`, so it can be tested and reasoned about on its
//! own.
//!
//! # Layout
//! - `validate`: [`TopicError`] and the syntax checks.
//! - `matching`: [`matches()`].
//! - `trie`: [`SubscriptionTrie`]; `subscribers` holds the subscribers of one filter.
//! - `retained`: [`RetainedStore`].
//! - `path`: pruning and dropping, without recursion, shared by both trees.
//! - `shrink`: giving the capacity of emptied maps and lists back.

mod matching;
mod path;
mod retained;
mod shrink;
mod subscribers;
mod trie;
mod validate;

#[cfg(test)]
mod proptests;

pub use matching::matches;
pub use retained::{Iter as RetainedIter, RetainedStore};
pub(crate) use shrink::{shrink_map_if_sparse, shrink_vec_if_sparse};
pub use trie::SubscriptionTrie;
pub use validate::{
    TopicError, parse_shared, parse_subscription, validate_topic_filter, validate_topic_name,
};
