//! Snapshot files: serialized state images outside sled.
//!
//! Written as `snap-<term>-<index>.tmp`, fsynced, renamed to `.snap`, then the directory is
//! fsynced, so a crash leaves either the old snapshot or the complete new one. Only the newest
//! snapshot is kept.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::types::SnapshotMeta;

/// On-disk and on-wire snapshot payload.
#[derive(Serialize, Deserialize)]
pub struct SnapshotFile {
    pub meta: SnapshotMeta,
    /// MessagePack of [`crate::state::Image`].
    #[serde(with = "bytes_as_bin")]
    pub image: Vec<u8>,
}

mod bytes_as_bin {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(super::super::BytesVisitor)
    }
}

pub struct SnapshotDir {
    dir: PathBuf,
}

impl SnapshotDir {
    pub fn open(dir: &Path) -> io::Result<SnapshotDir> {
        fs::create_dir_all(dir)?;
        // Leftover temporary files are incomplete snapshots from a crash.
        for ent in fs::read_dir(dir)? {
            let p = ent?.path();
            if p.extension().is_some_and(|e| e == "tmp") {
                fs::remove_file(&p)?;
            }
        }
        Ok(SnapshotDir {
            dir: dir.to_path_buf(),
        })
    }

    fn name(meta: &SnapshotMeta) -> String {
        let (term, index) = meta
            .last_log_id
            .map(|l| (l.leader_id.term, l.index))
            .unwrap_or((0, 0));
        format!("snap-{term:020}-{index:020}")
    }

    /// Durably writes `bytes` (an encoded [`SnapshotFile`]) and removes older snapshots.
    pub fn write(&self, meta: &SnapshotMeta, bytes: &[u8]) -> io::Result<PathBuf> {
        let name = Self::name(meta);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let fin = self.dir.join(format!("{name}.snap"));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, &fin)?;
        File::open(&self.dir)?.sync_all()?;
        for p in self.list()? {
            if p != fin {
                let _ = fs::remove_file(p);
            }
        }
        Ok(fin)
    }

    fn list(&self) -> io::Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "snap"))
            .collect();
        // Names embed zero-padded term and index, so lexical order is log order.
        v.sort();
        Ok(v)
    }

    /// The newest complete snapshot's bytes, if any.
    pub fn read_latest(&self) -> io::Result<Option<Vec<u8>>> {
        match self.list()?.pop() {
            None => Ok(None),
            Some(p) => Ok(Some(fs::read(p)?)),
        }
    }
}
