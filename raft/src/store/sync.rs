//! Durability for sled: `flush()` plus a real `fdatasync`, and the group-commit thread.
//!
//! sled 0.34's `flush()` ends in `sync_file_range`, which does not flush the device cache or
//! file metadata (sled#1452), and its blob files are never synced. Raft must not acknowledge a
//! log entry or a vote before it is on disk, so every "durable" point here is
//! `db.flush()` + `fdatasync(<dir>/db)` + an fsync of any new blob file and of the blob dir.
//!
//! Group commit: `append` hands its completion callback to one flusher thread, which waits for
//! the first callback, drains every other queued callback, syncs once and then completes them
//! all in order. Under load one fsync covers many appends; alone, a write waits for one fsync.

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use parking_lot::Mutex;

/// Makes everything written to the sled database so far durable.
pub struct Syncer {
    db: sled::Db,
    db_file: File,
    blobs_dir: PathBuf,
    synced_blobs: Mutex<HashSet<std::ffi::OsString>>,
    /// Set after a failed fsync: a failed fsync cannot be retried safely (the kernel may have
    /// dropped the dirty pages), so the node refuses every later write.
    failed: AtomicBool,
}

impl Syncer {
    pub fn new(db: sled::Db, dir: &Path) -> io::Result<Syncer> {
        let db_file = File::options()
            .read(true)
            .write(true)
            .open(dir.join("db"))?;
        Ok(Syncer {
            db,
            db_file,
            blobs_dir: dir.join("blobs"),
            synced_blobs: Mutex::new(HashSet::new()),
            failed: AtomicBool::new(false),
        })
    }

    pub fn sync(&self) -> io::Result<()> {
        if self.failed.load(Ordering::Acquire) {
            return Err(io::Error::other(
                "an earlier fsync failed; the store is read-only",
            ));
        }
        let r = self.sync_inner();
        if r.is_err() {
            self.failed.store(true, Ordering::Release);
        }
        r
    }

    fn sync_inner(&self) -> io::Result<()> {
        self.db.flush().map_err(io::Error::other)?;
        self.db_file.sync_data()?;
        self.sync_new_blobs()
    }

    /// Entries are capped well below sled's blob threshold, so this is normally a single empty
    /// directory read; it exists so a blob can never be acknowledged unsynced.
    fn sync_new_blobs(&self) -> io::Result<()> {
        let rd = match std::fs::read_dir(&self.blobs_dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut synced = self.synced_blobs.lock();
        let mut any = false;
        let mut present = HashSet::new();
        for ent in rd {
            let ent = ent?;
            let name = ent.file_name();
            present.insert(name.clone());
            if !synced.contains(&name) {
                match File::open(ent.path()) {
                    Ok(f) => f.sync_data()?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                synced.insert(name);
                any = true;
            }
        }
        synced.retain(|n| present.contains(n));
        if any {
            File::open(&self.blobs_dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// Something to complete once the data written before it is durable.
pub trait Completion: Send + 'static {
    fn complete(self: Box<Self>, result: io::Result<()>);
}

impl<F: FnOnce(io::Result<()>) + Send + 'static> Completion for F {
    fn complete(self: Box<Self>, result: io::Result<()>) {
        (*self)(result)
    }
}

/// Handle to the group-commit thread.
#[derive(Clone)]
pub struct Flusher {
    tx: mpsc::Sender<Box<dyn Completion>>,
}

impl Flusher {
    pub fn start(syncer: Arc<Syncer>) -> Flusher {
        let (tx, rx) = mpsc::channel::<Box<dyn Completion>>();
        std::thread::Builder::new()
            .name("raft-log-flusher".into())
            .spawn(move || flusher_loop(syncer, rx))
            .expect("spawning the log flusher thread");
        Flusher { tx }
    }

    /// Queues `c` to run after the next sync. If the thread is gone, completes with an error.
    pub fn after_sync(&self, c: Box<dyn Completion>) {
        if let Err(mpsc::SendError(c)) = self.tx.send(c) {
            c.complete(Err(io::Error::other("log flusher stopped")));
        }
    }
}

fn flusher_loop(syncer: Arc<Syncer>, rx: mpsc::Receiver<Box<dyn Completion>>) {
    let mut batch: Vec<Box<dyn Completion>> = Vec::new();
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let result = syncer.sync();
        for c in batch.drain(..) {
            let r = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            };
            c.complete(r);
        }
    }
}
