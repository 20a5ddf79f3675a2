//! Snapshot files: serialized state images outside sled.
//!
//! Written as `snap-<term>-<index>.tmp`, fsynced, renamed to `.snap`, then the directory is
//! fsynced, so a crash leaves either the old snapshot or the complete new one. Only the newest
//! snapshot is kept. A snapshot this replica builds is streamed into the file
//! ([`SnapshotDir::write_with`]); one received from the leader is written as it came.

use std::borrow::Cow;
use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
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

/// [`SnapshotFile`] with the image borrowed from the file's bytes.
#[derive(Deserialize)]
struct SnapshotFileRef<'a> {
    meta: SnapshotMeta,
    #[serde(borrow)]
    image: &'a [u8],
}

/// The metadata and the image bytes of an encoded [`SnapshotFile`], the image borrowed unless
/// the file is in the first format (the image as an array of integers), which is copied.
pub fn decode_file(
    bytes: &[u8],
) -> Result<(SnapshotMeta, Cow<'_, [u8]>), rmp_serde::decode::Error> {
    match rmp_serde::from_slice::<SnapshotFileRef>(bytes) {
        Ok(f) => Ok((f.meta, Cow::Borrowed(f.image))),
        Err(_) => {
            let f: SnapshotFile = rmp_serde::from_slice(bytes)?;
            Ok((f.meta, Cow::Owned(f.image)))
        }
    }
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

    fn paths(meta: &SnapshotMeta, dir: &Path) -> (PathBuf, PathBuf) {
        let name = Self::name(meta);
        (
            dir.join(format!("{name}.tmp")),
            dir.join(format!("{name}.snap")),
        )
    }

    /// Durably writes `bytes` (an encoded [`SnapshotFile`]) and removes older snapshots.
    pub fn write(&self, meta: &SnapshotMeta, bytes: &[u8]) -> io::Result<PathBuf> {
        let (tmp, fin) = Self::paths(meta, &self.dir);
        {
            let mut f = PacedFile::create(&tmp)?;
            f.write_all(bytes)?;
            f.file.sync_all()?;
        }
        self.commit(&tmp, fin)
    }

    /// Durably writes a [`SnapshotFile`] for `meta` whose image `image` writes at the writer's
    /// position, without holding the file in memory; returns the file's size. The image's
    /// `bin32` length is patched in once it is written.
    pub fn write_with<F>(&self, meta: &SnapshotMeta, image: F) -> io::Result<u64>
    where
        F: FnOnce(&mut BufWriter<PacedFile>) -> io::Result<()>,
    {
        let (tmp, fin) = Self::paths(meta, &self.dir);
        let mut w = BufWriter::with_capacity(256 * 1024, PacedFile::create(&tmp)?);
        rmp::encode::write_map_len(&mut w, 2)?;
        rmp::encode::write_str(&mut w, "meta")?;
        rmp_serde::encode::write_named(&mut w, meta).map_err(io::Error::other)?;
        rmp::encode::write_str(&mut w, "image")?;
        w.write_all(&[0xc6, 0, 0, 0, 0])?;
        let start = w.stream_position()?;
        image(&mut w)?;
        let end = w.stream_position()?;
        let len = u32::try_from(end - start)
            .map_err(|_| io::Error::other("snapshot image larger than 4 GiB"))?;
        w.seek(SeekFrom::Start(start - 4))?;
        w.write_all(&len.to_be_bytes())?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.file.sync_all()?;
        drop(f);
        self.commit(&tmp, fin)?;
        Ok(end)
    }

    /// Renames a complete, synced temporary file into place, syncs the directory and removes
    /// older snapshots.
    fn commit(&self, tmp: &Path, fin: PathBuf) -> io::Result<PathBuf> {
        fs::rename(tmp, &fin)?;
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

/// Bytes a snapshot file may have unsynced before its writer waits for them to reach the disk.
const PACE_BYTES: u64 = 4 * 1024 * 1024;

/// A file written at the disk's pace: every [`PACE_BYTES`] it waits for its data to be on the
/// disk. A 130 MB snapshot written at memory speed and synced once at the end put its whole
/// write-back in front of every replica's log `fdatasync` on the same disk (40-60 ms stalls
/// of every commit in the cluster, docs/benchmarks.md); paced, the log's syncs wait behind
/// at most a few MiB. Only the snapshot's background thread waits.
pub struct PacedFile {
    file: File,
    unsynced: u64,
    /// Waits so far (for the tests).
    syncs: u64,
}

impl PacedFile {
    fn create(path: &Path) -> io::Result<PacedFile> {
        Ok(PacedFile {
            file: File::create(path)?,
            unsynced: 0,
            syncs: 0,
        })
    }
}

impl Write for PacedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Never more than a pace's worth in one call, so a large buffer is paced too.
        let n = buf.len().min(PACE_BYTES as usize);
        let n = self.file.write(&buf[..n])?;
        self.unsynced += n as u64;
        if self.unsynced >= PACE_BYTES {
            self.file.sync_data()?;
            self.unsynced = 0;
            self.syncs += 1;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for PacedFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_paced_file_waits_for_the_disk_every_few_mib_and_keeps_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..10 * 1024 * 1024 + 1).map(|i| (i % 251) as u8).collect();
        let mut f = super::PacedFile::create(&path).unwrap();
        std::io::Write::write_all(&mut f, &data).unwrap();
        assert_eq!(f.syncs, 2, "one wait per 4 MiB written");
        drop(f);
        assert!(std::fs::read(&path).unwrap() == data);
    }

    use super::*;

    fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: Some(openraft::LogId::new(
                openraft::CommittedLeaderId::new(2, 1),
                index,
            )),
            last_membership: Default::default(),
            snapshot_id: format!("2-{index}-0"),
        }
    }

    /// A streamed file reads back with the borrowing decoder and with the owned one (what a
    /// replica of an older version decodes an installed snapshot with), and replaces the
    /// older snapshot.
    #[test]
    fn a_streamed_snapshot_reads_back_with_both_decoders() {
        let dir = tempfile::tempdir().unwrap();
        let snaps = SnapshotDir::open(dir.path()).unwrap();
        snaps.write(&meta(5), b"older").unwrap();
        let image: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let size = snaps.write_with(&meta(9), |w| w.write_all(&image)).unwrap();
        let bytes = snaps.read_latest().unwrap().unwrap();
        assert_eq!(bytes.len() as u64, size);
        let (m, img) = decode_file(&bytes).unwrap();
        assert_eq!(m, meta(9));
        assert!(matches!(img, Cow::Borrowed(_)));
        assert_eq!(&*img, &image[..]);
        let owned: SnapshotFile = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!((owned.meta, owned.image), (meta(9), image));
        assert_eq!(snaps.list().unwrap().len(), 1, "only the newest is kept");
    }

    /// The first file format held the image as an array of integers: still readable.
    #[test]
    fn a_first_format_snapshot_is_still_decoded() {
        #[derive(Serialize)]
        struct FirstFormat {
            meta: SnapshotMeta,
            image: Vec<u8>,
        }
        let bytes = rmp_serde::to_vec_named(&FirstFormat {
            meta: meta(3),
            image: vec![1, 2, 200],
        })
        .unwrap();
        let (m, img) = decode_file(&bytes).unwrap();
        assert_eq!((m, img.into_owned()), (meta(3), vec![1, 2, 200]));
    }
}
