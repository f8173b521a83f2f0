//! Topic names, filters, subscription trie and retained store (being written).
