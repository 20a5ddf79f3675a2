//! openraft storage on sled: the only module of this crate that touches the disk.
//!
//! Layout of a data dir:
//! - `sled/`: one sled database; its `raft` tree holds the log, vote, purge and commit marks
//!   (an `sm` tree of state rows from before 2026-12 is converted on open, see [`sm`]).
//! - `snapshots/`: the newest snapshot file: with the log after it, the durable state.
//! - `node.id`: the node id this directory belongs to, checked on every start so a data dir
//!   can never be reused by another replica by mistake.

mod log;
mod recent;
mod sm;
mod snapshot;
mod sync;

#[cfg(test)]
mod tests;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use log::{LogReader, LogStore, MAX_ENTRY_BYTES};
pub use sm::{Applied, SharedState, SnapshotDue, StateMachineStore, MIN_TAIL};
pub use snapshot::SnapshotFile;
use sync::{Flusher, Syncer};

use crate::types::NodeId;

/// sled segment size for a new database. Items above a quarter of it go to blob files; entries
/// and rows are capped far below that (see [`MAX_ENTRY_BYTES`]). sled keeps one segment-sized
/// write buffer in memory, so this is resident on every replica: 1 MiB, where 8 MiB (before
/// 2026-12) cost 7 MiB of RSS for nothing measurable. A database keeps the size it was created
/// with (sled refuses another), see [`segment_size_of`].
const SEGMENT_SIZE: usize = 1024 * 1024;
/// Page cache budget: the state machine lives in our own memory, sled only needs its log hot.
/// 128 MiB (before 2026-12) filled up with copies of state rows: at 100,000 users a replica
/// held ~65 MiB more for no measurable gain in write throughput or restart time.
const CACHE_BYTES: u64 = 32 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the data directory: {0}")]
    Io(#[source] io::Error),
    #[error("the sled database cannot be opened (corrupt or written by another version): {0}")]
    Sled(#[source] sled::Error),
    #[error("a state machine row cannot be decoded: {0}")]
    Decode(#[source] crate::state::image::DecodeError),
    #[error("the snapshot file cannot be decoded: {0}")]
    Snapshot(#[source] sm::SnapshotDecodeError),
    #[error("the Raft log's purge mark cannot be decoded: {0}")]
    LogMeta(#[source] rmp_serde::decode::Error),
    #[error(
        "data directory {dir} belongs to node {found}, not to node {expected}; refusing to use it"
    )]
    WrongNode {
        dir: PathBuf,
        found: String,
        expected: NodeId,
    },
}

/// The two halves openraft needs, over one database.
pub struct Store {
    pub log: LogStore,
    pub sm: StateMachineStore,
}

/// Opens (or creates) a node's data directory.
pub fn open(dir: &Path, node_id: NodeId) -> Result<Store, OpenError> {
    std::fs::create_dir_all(dir).map_err(OpenError::Io)?;
    check_node_id(dir, node_id)?;
    let sled_dir = dir.join("sled");
    let db = sled::Config::new()
        .path(&sled_dir)
        .segment_size(segment_size_of(&sled_dir))
        .cache_capacity(CACHE_BYTES)
        .mode(sled::Mode::LowSpace)
        .open()
        .map_err(OpenError::Sled)?;
    let syncer = Arc::new(Syncer::new(db.clone(), &sled_dir).map_err(OpenError::Io)?);
    let flusher = Flusher::start(syncer.clone());
    let raft_tree = db.open_tree("raft").map_err(OpenError::Sled)?;
    let sm_tree = db.open_tree("sm").map_err(OpenError::Sled)?;
    let snapshots = snapshot::SnapshotDir::open(&dir.join("snapshots")).map_err(OpenError::Io)?;
    let sm = StateMachineStore::load(sm_tree, snapshots)?;
    Ok(Store {
        log: LogStore::new(raft_tree, syncer, flusher)?,
        sm,
    })
}

/// The segment size an existing database was created with (sled's `conf` file names it:
/// `segment_size: N`), or [`SEGMENT_SIZE`] for a new one. An unreadable `conf` falls through to
/// the default and sled's own check reports it.
fn segment_size_of(sled_dir: &Path) -> usize {
    std::fs::read(sled_dir.join("conf"))
        .ok()
        .and_then(|b| {
            String::from_utf8_lossy(&b).lines().find_map(|l| {
                l.strip_prefix("segment_size: ")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            })
        })
        .filter(|n| n.is_power_of_two() && (256..=1 << 24).contains(n))
        .unwrap_or(SEGMENT_SIZE)
}

fn check_node_id(dir: &Path, node_id: NodeId) -> Result<(), OpenError> {
    let p = dir.join("node.id");
    match std::fs::read_to_string(&p) {
        Ok(s) => {
            if s.trim() != node_id.to_string() {
                return Err(OpenError::WrongNode {
                    dir: dir.to_path_buf(),
                    found: s.trim().to_string(),
                    expected: node_id,
                });
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::write(&p, format!("{node_id}\n")).map_err(OpenError::Io)?;
            Ok(())
        }
        Err(e) => Err(OpenError::Io(e)),
    }
}

pub(crate) fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    crate::state::image::encode(v)
}

pub(crate) fn decode<T: for<'a> serde::Deserialize<'a>>(
    b: &[u8],
) -> Result<T, rmp_serde::decode::Error> {
    rmp_serde::from_slice(b)
}

/// Deserializes MessagePack `bin` (or an array of bytes) into a `Vec<u8>`.
pub(crate) struct BytesVisitor;

impl<'de> serde::de::Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("bytes")
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut v = Vec::new();
        while let Some(b) = seq.next_element()? {
            v.push(b);
        }
        Ok(v)
    }
}
