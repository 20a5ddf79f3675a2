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
