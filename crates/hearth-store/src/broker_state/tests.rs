//! Behaviour of [`RedbBrokerStore`] on real files: every op kind, ordering within a
//! batch, session deletion, reopening, and the errors an operator sees.

use super::{META, RedbBrokerStore, SCHEMA_VERSION_KEY};
use bytes::Bytes;
use hearth_bus::broker_state::{BrokerStore, PersistOp, PersistedState};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn store_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("broker.redb")
}

fn open(path: &Path) -> RedbBrokerStore {
    RedbBrokerStore::open(path).expect("open store")
}

fn put_retained(topic: &str, record: &str) -> PersistOp {
    PersistOp::PutRetained {
        topic: Arc::from(topic),
        record: Bytes::copy_from_slice(record.as_bytes()),
    }
}

fn delete_retained(topic: &str) -> PersistOp {
    PersistOp::DeleteRetained {
        topic: Arc::from(topic),
    }
}

fn put_session(client_id: &str, record: &str) -> PersistOp {
    PersistOp::PutSession {
        client_id: Arc::from(client_id),
        record: Bytes::copy_from_slice(record.as_bytes()),
    }
}

fn delete_session(client_id: &str) -> PersistOp {
    PersistOp::DeleteSession {
        client_id: Arc::from(client_id),
    }
}

fn put_message(client_id: &str, seq: u64, record: &str) -> PersistOp {
    PersistOp::PutMessage {
        client_id: Arc::from(client_id),
        seq,
        record: Bytes::copy_from_slice(record.as_bytes()),
    }
}

fn delete_message(client_id: &str, seq: u64) -> PersistOp {
    PersistOp::DeleteMessage {
        client_id: Arc::from(client_id),
        seq,
    }
}

/// Builds the expected state from string literals, sorted like [`sorted`].
fn state(
    retained: &[(&str, &str)],
    sessions: &[(&str, &str)],
    messages: &[(&str, u64, &str)],
) -> PersistedState {
    let bytes = |text: &str| Bytes::copy_from_slice(text.as_bytes());
    sorted(PersistedState {
        retained: retained
            .iter()
            .map(|(topic, record)| (topic.to_string(), bytes(record)))
            .collect(),
        sessions: sessions
            .iter()
            .map(|(client_id, record)| (client_id.to_string(), bytes(record)))
            .collect(),
        messages: messages
            .iter()
            .map(|(client_id, seq, record)| (client_id.to_string(), *seq, bytes(record)))
            .collect(),
    })
}

/// The trait promises no order, so comparisons sort first.
fn sorted(mut state: PersistedState) -> PersistedState {
    state.retained.sort();
    state.sessions.sort();
    state.messages.sort();
    state
}

fn load(store: &mut RedbBrokerStore) -> PersistedState {
    sorted(store.load().expect("load"))
}

#[test]
fn every_op_kind_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    assert_eq!(load(&mut store), PersistedState::default());

    store
        .apply(&[
            put_retained("home/light", "on"),
            put_retained("home/door", "closed"),
            put_session("lamp", "session lamp"),
            put_session("phone", "session phone"),
            put_message("phone", 1, "m1"),
            put_message("phone", 2, "m2"),
            put_message("lamp", 7, "m7"),
        ])
        .unwrap();
    assert_eq!(
        load(&mut store),
        state(
            &[("home/door", "closed"), ("home/light", "on")],
            &[("lamp", "session lamp"), ("phone", "session phone")],
            &[("lamp", 7, "m7"), ("phone", 1, "m1"), ("phone", 2, "m2")],
        )
    );

    // Puts replace; deletes remove exactly their key.
    store
        .apply(&[
            put_retained("home/light", "off"),
            delete_retained("home/door"),
            put_session("lamp", "session lamp v2"),
            delete_message("phone", 1),
            put_message("phone", 2, "m2 again"),
            delete_session("lamp"),
        ])
        .unwrap();
    assert_eq!(
        load(&mut store),
        state(
            &[("home/light", "off")],
            &[("phone", "session phone")],
            &[("phone", 2, "m2 again")],
        )
    );
}

#[test]
fn ops_in_a_batch_apply_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    store
        .apply(&[
            // Put then delete: gone.
            put_retained("gone", "x"),
            delete_retained("gone"),
            put_session("gone", "x"),
            delete_session("gone"),
            put_message("c", 1, "x"),
            delete_message("c", 1),
            // Delete then put: present.
            delete_retained("kept"),
            put_retained("kept", "r"),
            delete_session("kept"),
            put_session("kept", "s"),
            delete_message("c", 2),
            put_message("c", 2, "m"),
            // A session deleted and recreated keeps only the messages queued after.
            put_message("again", 1, "before"),
            delete_session("again"),
            put_session("again", "new"),
            put_message("again", 2, "after"),
            // The last put of a key wins.
            put_retained("twice", "first"),
            put_retained("twice", "second"),
        ])
        .unwrap();
    assert_eq!(
        load(&mut store),
        state(
            &[("kept", "r"), ("twice", "second")],
            &[("again", "new"), ("kept", "s")],
            &[("again", 2, "after"), ("c", 2, "m")],
        )
    );
}

#[test]
fn delete_session_removes_only_that_sessions_messages() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    // Client ids that are prefixes of each other, or differ only in case, and seqs at
    // both ends of the range.
    let clients = ["", "a", "aa", "ab", "b", "A"];
    let mut ops = Vec::new();
    for client_id in clients {
        ops.push(put_session(client_id, "s"));
        for seq in [0, 1, u64::MAX] {
            ops.push(put_message(client_id, seq, "m"));
        }
    }
    store.apply(&ops).unwrap();

    store.apply(&[delete_session("a")]).unwrap();
    let loaded = load(&mut store);
    let remaining: Vec<&str> = clients.into_iter().filter(|id| *id != "a").collect();
    let expected_sessions: Vec<(&str, &str)> = remaining.iter().map(|id| (*id, "s")).collect();
    let expected_messages: Vec<(&str, u64, &str)> = remaining
        .iter()
        .flat_map(|id| [0, 1, u64::MAX].map(|seq| (*id, seq, "m")))
        .collect();
    assert_eq!(loaded, state(&[], &expected_sessions, &expected_messages));

    store.apply(&[delete_session("")]).unwrap();
    let loaded = load(&mut store);
    assert!(loaded.messages.iter().all(|(id, _, _)| !id.is_empty()));
    assert_eq!(loaded.messages.len(), 3 * (remaining.len() - 1));
}

#[test]
fn deleting_what_is_absent_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&store_path(&dir));
    store.apply(&[]).unwrap();
    store.apply(&[put_retained("t", "r")]).unwrap();
    store
        .apply(&[
            delete_retained("nothing"),
            delete_session("nobody"),
            delete_message("nobody", 3),
        ])
        .unwrap();
    assert_eq!(load(&mut store), state(&[("t", "r")], &[], &[]));
}

#[test]
fn reopening_sees_committed_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    assert!(!path.exists());
    let mut store = open(&path);
    assert!(path.exists(), "open creates the file");
    store
        .apply(&[put_retained("t", "r"), put_session("c", "s")])
        .unwrap();
    store.apply(&[put_message("c", 1, "m")]).unwrap();
    drop(store);

    let mut store = open(&path);
    assert_eq!(
        load(&mut store),
        state(&[("t", "r")], &[("c", "s")], &[("c", 1, "m")])
    );
    store
        .apply(&[delete_message("c", 1), put_message("c", 2, "n")])
        .unwrap();
    drop(store);

    let mut store = open(&path);
    assert_eq!(
        load(&mut store),
        state(&[("t", "r")], &[("c", "s")], &[("c", 2, "n")])
    );
}

#[test]
fn a_dropped_store_keeps_every_committed_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut store = open(&path);
    let n_batches: u64 = 200;
    for batch_idx in 0..n_batches {
        let ops: Vec<PersistOp> = (0..10)
            .map(|op_idx| put_message("c", batch_idx * 10 + op_idx, "m"))
            .collect();
        store.apply(&ops).unwrap();
    }
    // No close, no flush: the last commit must already be on disk.
    drop(store);

    let mut store = open(&path);
    let seqs: Vec<u64> = load(&mut store)
        .messages
        .into_iter()
        .map(|(_, seq, _)| seq)
        .collect();
    assert_eq!(seqs, (0..n_batches * 10).collect::<Vec<u64>>());
}

#[test]
fn a_second_open_of_a_held_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let _held = open(&path);
    let error = RedbBrokerStore::open(&path).unwrap_err().to_string();
    assert!(error.contains(&path.display().to_string()), "{error}");
    assert!(error.contains("in use by another process"), "{error}");
}

#[test]
fn open_errors_name_the_path() {
    let dir = tempfile::tempdir().unwrap();

    let in_missing_dir = dir.path().join("missing").join("broker.redb");
    let error = RedbBrokerStore::open(&in_missing_dir)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&in_missing_dir.display().to_string()),
        "{error}"
    );

    let not_redb = dir.path().join("not-redb");
    std::fs::write(&not_redb, vec![0x5a_u8; 8192]).unwrap();
    let error = RedbBrokerStore::open(&not_redb).unwrap_err().to_string();
    assert!(error.contains(&not_redb.display().to_string()), "{error}");
}

#[test]
fn a_file_with_another_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(SCHEMA_VERSION_KEY, 99)
            .unwrap();
        txn.commit().unwrap();
    }
    let error = RedbBrokerStore::open(&path).unwrap_err().to_string();
    assert!(error.contains("schema version 99"), "{error}");
}
