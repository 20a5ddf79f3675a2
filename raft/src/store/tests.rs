//! Storage tests: openraft's own compliance suite, plus durability and restart checks.

use openraft::testing::{StoreBuilder, Suite};

use super::{open, LogStore, StateMachineStore};
use crate::types::{StorageError, TypeConfig};

struct SledBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, tempfile::TempDir> for SledBuilder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), StorageError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open(dir.path(), 1).expect("open store");
        Ok((dir, store.log, store.sm))
    }
}

#[test]
fn openraft_storage_suite() -> Result<(), StorageError> {
    Suite::test_all(SledBuilder)?;
    Ok(())
}

/// A database created with another segment size (8 MiB, before 2026-12) still opens, keeps its
/// size; a new one gets the current size.
#[test]
fn databases_keep_the_segment_size_they_were_created_with() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sled_dir = dir.path().join("sled");
    {
        let db = sled::Config::new()
            .path(&sled_dir)
            .segment_size(8 * 1024 * 1024)
            .open()
            .expect("create old-style db");
        db.flush().expect("flush");
    }
    assert_eq!(super::segment_size_of(&sled_dir), 8 * 1024 * 1024);
    drop(open(dir.path(), 1).expect("an old database opens"));
    assert_eq!(super::segment_size_of(&sled_dir), 8 * 1024 * 1024);
    let fresh = tempfile::tempdir().expect("tempdir");
    drop(open(fresh.path(), 1).expect("new database"));
    assert_eq!(
        super::segment_size_of(&fresh.path().join("sled")),
        super::SEGMENT_SIZE
    );
}

/// A log entry at `index` whose one command creates `users`.
fn entry_creating(index: u64, users: Vec<crate::command::NewUser>) -> crate::types::Entry {
    use crate::command::{Command, Proposal, Request};
    openraft::Entry {
        log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
        payload: openraft::EntryPayload::Normal(Request {
            items: vec![Proposal {
                id: u128::from(index),
                now: 1_700_000_000_000_000,
                cmd: Command::CreateUsers {
                    users,
                    skip_existing_ok: false,
                },
            }]
            .into(),
        }),
    }
}

fn new_user(name: String, cookie_id: String) -> crate::command::NewUser {
    crate::command::NewUser {
        name,
        admin: false,
        cookie_id,
    }
}

fn create_user_entry(index: u64, name: &str) -> crate::types::Entry {
    entry_creating(index, vec![new_user(name.into(), format!("cookie-{name}"))])
}

/// Reopens a data dir; sled's lock is released once the last handle is gone.
async fn reopen(dir: &std::path::Path) -> super::Store {
    for _ in 0..100 {
        if let Ok(s) = open(dir, 1) {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the store did not reopen");
}

fn users_in(store: &super::Store) -> (Option<u64>, Vec<String>) {
    let s = store.sm.shared();
    let state = s.state.read();
    let mut names: Vec<String> = ["alice", "bob", "carol"]
        .iter()
        .filter(|n| state.user(n).is_some())
        .map(|n| n.to_string())
        .collect();
    names.sort();
    (state.last_applied().map(|l| l.index), names)
}

/// Applies write nothing: a reopened store has the newest snapshot's state, and openraft
/// re-applies the committed log after it (checked here through `reapply`, as openraft does).
#[tokio::test]
async fn restart_state_is_the_snapshot_and_the_log_after_it() {
    use openraft::storage::{RaftLogStorage, RaftSnapshotBuilder, RaftStateMachine};
    use openraft::RaftLogReader;
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = open(dir.path(), 1).unwrap();
        let entries: Vec<_> = [(1, "alice"), (2, "bob"), (3, "carol")]
            .into_iter()
            .map(|(i, n)| create_user_entry(i, n))
            .collect();
        for e in &entries {
            store.log.insert_for_test(e);
        }
        store.sm.apply(entries[..2].to_vec()).await.unwrap();
        let due = store.sm.snapshot_due();
        assert!(due.tail() >= 2, "two commands (and the rows they touched)");
        store
            .sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        assert_eq!(due.tail(), 0, "the snapshot covers both applies");
        store.sm.apply(entries[2..].to_vec()).await.unwrap();
        assert!(due.tail() >= 1);
        let (applied, names) = users_in(&store);
        assert_eq!(applied, Some(3));
        assert_eq!(names, ["alice", "bob", "carol"]);
    }
    let mut store = reopen(dir.path()).await;
    // The snapshot: alice and bob, applied up to 2.
    assert_eq!(
        users_in(&store),
        (Some(2), vec!["alice".into(), "bob".into()])
    );
    // The log after it, as openraft re-applies it on start.
    let tail = store.log.try_get_log_entries(3..4).await.unwrap();
    assert_eq!(tail.len(), 1);
    store.sm.apply(tail).await.unwrap();
    assert_eq!(users_in(&store).1, ["alice", "bob", "carol"]);
    let _ = store.log.get_log_state().await.unwrap();
}

/// A data dir from before 2026-12 keeps its state as rows in the `sm` tree: opening it turns
/// them into a snapshot and deletes them, and the next open starts from that snapshot.
#[tokio::test]
async fn rows_of_an_old_data_dir_become_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut state = crate::state::HubState::default();
        let mut dirty = crate::state::Dirty::new();
        for (i, n) in [(1, "alice"), (2, "bob")] {
            let openraft::EntryPayload::Normal(req) = create_user_entry(i, n).payload else {
                unreachable!()
            };
            state.apply(&req.items[0], &mut dirty);
            state.last_applied = Some(create_user_entry(i, n).log_id);
        }
        let db = sled::Config::new()
            .path(dir.path().join("sled"))
            .open()
            .unwrap();
        let tree = db.open_tree("sm").unwrap();
        for (k, v) in crate::state::Image::of(&state).rows {
            tree.insert(k.0, v.0).unwrap();
        }
        db.flush().unwrap();
    }
    let store = reopen(dir.path()).await;
    assert_eq!(
        users_in(&store),
        (Some(2), vec!["alice".into(), "bob".into()])
    );
    drop(store);
    let store = reopen(dir.path()).await;
    assert_eq!(
        users_in(&store),
        (Some(2), vec!["alice".into(), "bob".into()])
    );
    let snaps = std::fs::read_dir(dir.path().join("snapshots"))
        .unwrap()
        .count();
    assert_eq!(snaps, 1, "one snapshot file holds the converted state");
}

fn create_users_entry(index: u64, n: usize) -> crate::types::Entry {
    let users = (0..n)
        .map(|i| new_user(format!("u{index}-{i}"), format!("c{index}-{i}")))
        .collect();
    entry_creating(index, users)
}

/// A snapshot is due once the tail reaches `MIN_TAIL` and half the state's rows, later on
/// replicas 2 and 3; a batch command counts the rows it touched, not one.
#[tokio::test]
async fn a_snapshot_is_due_when_the_tail_reaches_half_the_state() {
    use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
    let dir = tempfile::tempdir().unwrap();
    let mut sm = open(dir.path(), 1).unwrap().sm;
    let due = sm.snapshot_due();
    sm.apply(vec![create_users_entry(1, 5_000)]).await.unwrap();
    assert!(!due.is_due(1), "5,000 rows are below MIN_TAIL");
    sm.apply(vec![create_users_entry(2, 6_000)]).await.unwrap();
    assert!(due.is_due(1), "11,000 rows touched in two commands");
    // Replicas 2 and 3 wait for 25 and 50 % more: 12,500 and 15,000 here.
    assert!(!due.is_due(2));
    sm.apply(vec![create_users_entry(3, 1_600)]).await.unwrap();
    assert!(due.is_due(2) && !due.is_due(3));
    sm.apply(vec![create_users_entry(4, 2_500)]).await.unwrap();
    assert!(due.is_due(3));
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert!(!due.is_due(1));
    // 15,100 users in the snapshot: the tail is due past MIN_TAIL once it has as many rows as
    // the snapshot (it is then half the state).
    sm.apply(vec![create_users_entry(5, 9_000)]).await.unwrap();
    assert!(!due.is_due(1), "below MIN_TAIL");
    sm.apply(vec![create_users_entry(6, 3_000)]).await.unwrap();
    assert!(!due.is_due(1), "below half the state");
    sm.apply(vec![create_users_entry(7, 3_500)]).await.unwrap();
    assert!(due.is_due(1));
}
