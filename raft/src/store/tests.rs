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

fn create_user_entry(index: u64, name: &str) -> crate::types::Entry {
    use crate::command::{Command, NewUser, Proposal, Request};
    openraft::Entry {
        log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
        payload: openraft::EntryPayload::Normal(Request {
            items: vec![Proposal {
                id: u128::from(index),
                now: 1_700_000_000_000_000,
                cmd: Command::CreateUsers {
                    users: vec![NewUser {
                        name: name.into(),
                        admin: false,
                        cookie_id: format!("cookie-{name}"),
                    }],
                    skip_existing_ok: false,
                },
            }],
        }),
    }
}

/// The state the rows in `tree` hold.
fn state_in(tree: &sled::Tree) -> crate::state::HubState {
    let rows = tree
        .iter()
        .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())))
        .collect::<Result<Vec<_>, _>>()
        .expect("rows");
    crate::state::HubState::from_rows(rows).expect("decode rows")
}

/// Reopens a data dir; sled's lock is released once the last handle (the row writer's
/// included) is gone.
async fn reopen(dir: &std::path::Path) -> super::Store {
    for _ in 0..100 {
        if let Ok(s) = open(dir, 1) {
            return s;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the store did not reopen");
}

/// Applies mark rows; the writer thread stores them within a few write intervals, `Meta`
/// naming the last applied entry, and a clean stop leaves them current.
#[tokio::test]
async fn rows_follow_the_applies_and_a_clean_stop_writes_them() {
    use openraft::storage::RaftStateMachine;
    let dir = tempfile::tempdir().unwrap();
    {
        let mut sm = open(dir.path(), 1).unwrap().sm;
        sm.apply(vec![create_user_entry(1, "alice")]).await.unwrap();
        sm.apply(vec![create_user_entry(2, "bob")]).await.unwrap();
        let tree = sm.rows_tree();
        let mut written = false;
        for _ in 0..100 {
            tokio::time::sleep(super::rows::WRITE_EVERY).await;
            let rows = state_in(&tree);
            if rows.last_applied().map(|l| l.index) == Some(2) {
                assert!(rows.user("alice").is_some() && rows.user("bob").is_some());
                written = true;
                break;
            }
        }
        assert!(written, "rows were not written in the background");
        // One more apply, then stop at once: the stop writes it.
        sm.apply(vec![create_user_entry(3, "carol")]).await.unwrap();
    }
    let store = reopen(dir.path()).await;
    {
        let s = store.sm.shared();
        let state = s.state.read();
        assert_eq!(state.last_applied().map(|l| l.index), Some(3));
        for name in ["alice", "bob", "carol"] {
            assert!(state.user(name).is_some(), "{name} after reopen");
        }
    }
}
