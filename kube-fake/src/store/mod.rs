//! The object store: an etcd-like keyspace with one global revision, a
//! bounded change history (the "watch cache"), and the registry of open watches.
//!
//! Invariants:
//! - every committed change gets `rev + 1`; `metadata.resourceVersion` of the
//!   stored object (or of the final object of a deletion) is that revision;
//! - `history` holds every change with `rev > oldest`, so a watch or a paged
//!   list can resume from any `rv >= oldest` and must be told "410 Expired"
//!   below it;
//! - a change is pushed to the open watches while the store lock is held,
//!   so a watch registered under the same lock sees no gap and no duplicate.

mod delete;
mod write;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use crate::meta::{self, Clock};
use crate::resource::StorageKind;

pub use delete::{DeleteOptions, DeleteOutcome, Propagation};

/// Storage key: kind, namespace, name (the order of etcd's `/registry/<kind>/<ns>/<name>`).
pub type Key = (StorageKind, String, String);

/// What a change did to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    /// The key did not exist before.
    Added,
    /// The key existed before and still does.
    Modified,
    /// The key is gone; `object` is its final state, stamped with the new revision.
    Deleted,
}

/// One committed change, as kept in the history.
#[derive(Debug)]
pub struct Change {
    /// Revision of the change.
    pub rev: u64,
    /// Keyspace it happened in.
    pub kind: StorageKind,
    /// Added / Modified / Deleted.
    pub ty: ChangeType,
    /// The object after the change (the final object for a deletion).
    pub object: Arc<Value>,
    /// The object before the change; watches need it to turn a change that
    /// leaves their selector into DELETED (and one that enters it into ADDED).
    pub prev: Option<Arc<Value>>,
}

/// Messages to an open watch.
#[derive(Debug, Clone)]
pub enum WatchMsg {
    /// A committed change (the watch filters it).
    Change(Arc<Change>),
    /// Send a BOOKMARK at this revision (if the watch allows bookmarks).
    Bookmark(u64),
    /// Send `ERROR 410 Expired` with this message, then end the stream.
    Expire(String),
    /// End the stream cleanly, as a server-side timeout does.
    Close,
    /// Break the stream mid-body, as a dropped connection does (kube reads
    /// an unexpected EOF and resumes from its last resourceVersion).
    Abort,
}

/// An open watch, as seen by the store.
#[derive(Debug)]
pub struct WatcherEntry {
    /// Keyspace it watches.
    pub kind: StorageKind,
    /// Resource plural it was opened on (for selecting watches in fault injection).
    pub plural: &'static str,
    /// Client identity of the request that opened it.
    pub client: String,
    /// The simulated kubelet's own watch: immune to injected watch faults.
    pub internal: bool,
    tx: mpsc::UnboundedSender<WatchMsg>,
}

/// A graceful-deletion deadline to schedule on the tokio clock.
#[derive(Debug, Clone)]
pub struct GraceTimer {
    /// Object being deleted.
    pub key: Key,
    /// Its uid, so a timer never deletes a re-created object of the same name.
    pub uid: String,
    /// The `deletionTimestamp` the timer was armed for; a shortened grace
    /// period re-arms with a new one and the stale timer does nothing.
    pub deletion_timestamp: String,
    /// How long to wait.
    pub after: Duration,
}

/// The store proper; always used under the fake's mutex.
#[derive(Debug)]
pub struct Store {
    rev: u64,
    objects: BTreeMap<Key, Arc<Value>>,
    history: VecDeque<Arc<Change>>,
    window: usize,
    oldest: u64,
    watchers: BTreeMap<u64, WatcherEntry>,
    next_watcher: u64,
    seq: u64,
    instance: u32,
    /// Shared time base for timestamps.
    pub clock: Clock,
    /// Grace timers armed by the last operation; drained by the caller after unlocking.
    pub timers: Vec<GraceTimer>,
    /// Node name the simulated scheduler assigns.
    pub node_name: String,
}

impl Store {
    /// A store whose next write gets revision `initial_revision + 1`.
    pub fn new(initial_revision: u64, window: usize, instance: u32, node_name: String) -> Self {
        Self {
            rev: initial_revision,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            window: window.max(1),
            oldest: initial_revision,
            watchers: BTreeMap::new(),
            next_watcher: 0,
            seq: 0,
            instance,
            clock: Clock::new(),
            timers: Vec::new(),
            node_name,
        }
    }

    /// Current revision (what a consistent list returns as its resourceVersion).
    pub fn revision(&self) -> u64 {
        self.rev
    }

    /// Oldest revision a watch or continue token can resume from.
    pub fn oldest_resumable(&self) -> u64 {
        self.oldest
    }

    /// A fresh sequence number (uids, generated names, event names).
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A fresh uid.
    pub fn new_uid(&mut self) -> String {
        let seq = self.next_seq();
        meta::make_uid(self.instance, seq)
    }

    /// The object at a key.
    pub fn get(&self, kind: StorageKind, ns: &str, name: &str) -> Option<&Arc<Value>> {
        self.objects.get(&(kind, ns.to_string(), name.to_string()))
    }

    /// Current objects of a kind, in key order, optionally in one namespace.
    pub fn iter_kind<'a>(
        &'a self,
        kind: StorageKind,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a Key, &'a Arc<Value>)> + 'a {
        let start = (kind, ns.unwrap_or("").to_string(), String::new());
        self.objects
            .range(start..)
            .take_while(move |(k, _)| k.0 == kind && ns.is_none_or(|ns| k.1 == ns))
    }

    /// Stores `obj` at `key` with a new revision, recording Added or Modified.
    pub fn put(&mut self, key: Key, mut obj: Value) -> Arc<Value> {
        self.rev += 1;
        meta::meta_mut(&mut obj).insert(
            "resourceVersion".into(),
            Value::String(self.rev.to_string()),
        );
        let obj = Arc::new(obj);
        let prev = self.objects.insert(key.clone(), obj.clone());
        let ty = if prev.is_some() {
            ChangeType::Modified
        } else {
            ChangeType::Added
        };
        self.record(Change {
            rev: self.rev,
            kind: key.0,
            ty,
            object: obj.clone(),
            prev,
        });
        obj
    }

    /// Inserts a server-made object (events from the simulated components),
    /// filling uid and creationTimestamp; bypasses validation.
    pub fn insert_new(&mut self, kind: StorageKind, mut obj: Value) -> Arc<Value> {
        let uid = self.new_uid();
        let created = self.clock.timestamp(0);
        let m = meta::meta_mut(&mut obj);
        m.insert("uid".into(), Value::String(uid));
        m.insert("creationTimestamp".into(), Value::String(created));
        let key = (
            kind,
            meta::namespace(&obj).to_string(),
            meta::name(&obj).to_string(),
        );
        self.put(key, obj)
    }

    /// Removes `key`; `last` is the final object, stamped with the deletion's revision.
    pub fn remove(&mut self, key: &Key, mut last: Value) -> Arc<Value> {
        self.rev += 1;
        meta::meta_mut(&mut last).insert(
            "resourceVersion".into(),
            Value::String(self.rev.to_string()),
        );
        let last = Arc::new(last);
        let prev = self.objects.remove(key);
        self.record(Change {
            rev: self.rev,
            kind: key.0,
            ty: ChangeType::Deleted,
            object: last.clone(),
            prev,
        });
        last
    }

    fn record(&mut self, change: Change) {
        let change = Arc::new(change);
        self.history.push_back(change.clone());
        while self.history.len() > self.window {
            if let Some(old) = self.history.pop_front() {
                self.oldest = old.rev;
            }
        }
        let kind = change.kind;
        self.watchers
            .retain(|_, w| w.kind != kind || w.tx.send(WatchMsg::Change(change.clone())).is_ok());
    }

    /// Changes of `kind` after `rv`, or `Err(oldest)` if `rv` fell out of the window.
    pub fn changes_after(&self, kind: StorageKind, rv: u64) -> Result<Vec<Arc<Change>>, u64> {
        if rv < self.oldest {
            return Err(self.oldest);
        }
        Ok(self
            .history
            .iter()
            .filter(|c| c.rev > rv && c.kind == kind)
            .cloned()
            .collect())
    }

    /// The objects of `kind` as they were at revision `rv` (MVCC read), by
    /// undoing newer changes; `Err(oldest)` if `rv` fell out of the window.
    pub fn snapshot(
        &self,
        kind: StorageKind,
        ns: Option<&str>,
        rv: u64,
    ) -> Result<BTreeMap<(String, String), Arc<Value>>, u64> {
        if rv < self.oldest {
            return Err(self.oldest);
        }
        let mut state: BTreeMap<(String, String), Arc<Value>> = self
            .iter_kind(kind, ns)
            .map(|(k, v)| ((k.1.clone(), k.2.clone()), v.clone()))
            .collect();
        for c in self.history.iter().rev().take_while(|c| c.rev > rv) {
            let k = (
                meta::namespace(&c.object).to_string(),
                meta::name(&c.object).to_string(),
            );
            if c.kind != kind || ns.is_some_and(|ns| ns != k.0) {
                continue;
            }
            match &c.prev {
                Some(p) => state.insert(k, p.clone()),
                None => state.remove(&k),
            };
        }
        Ok(state)
    }

    /// Registers a watch; changes committed from now on are delivered to the receiver.
    pub fn register(
        &mut self,
        kind: StorageKind,
        plural: &'static str,
        client: &str,
        internal: bool,
    ) -> (u64, mpsc::UnboundedReceiver<WatchMsg>) {
        let (tx, rx) = mpsc::unbounded_channel();
        self.next_watcher += 1;
        let id = self.next_watcher;
        self.watchers.insert(
            id,
            WatcherEntry {
                kind,
                plural,
                client: client.to_string(),
                internal,
                tx,
            },
        );
        (id, rx)
    }

    /// Forgets a watch (its stream ended or was dropped).
    pub fn unregister(&mut self, id: u64) {
        self.watchers.remove(&id);
    }

    /// Sends `msg` to every non-internal watch accepted by `select`; returns how many.
    /// Terminal messages also unregister the watch, as the server forgets it at once.
    pub fn signal(&mut self, select: impl Fn(&WatcherEntry) -> bool, msg: &WatchMsg) -> usize {
        let terminal = !matches!(msg, WatchMsg::Bookmark(_) | WatchMsg::Change(_));
        let mut n = 0;
        self.watchers.retain(|_, w| {
            if w.internal || !select(w) {
                return true;
            }
            n += usize::from(w.tx.send(msg.clone()).is_ok());
            !terminal
        });
        n
    }

    /// Number of open, non-internal watches accepted by `select`.
    pub fn count_watches(&self, select: impl Fn(&WatcherEntry) -> bool) -> usize {
        self.watchers
            .values()
            .filter(|w| !w.internal && select(w))
            .count()
    }

    /// Sends a BOOKMARK at the current revision to every watch.
    pub fn bookmark_all(&mut self) -> usize {
        let rev = self.rev;
        self.signal(|_| true, &WatchMsg::Bookmark(rev))
    }

    /// etcd compaction: forget all history, so every open watch gets
    /// `ERROR 410` and every outstanding continue token expires.
    pub fn compact(&mut self) -> usize {
        self.history.clear();
        self.oldest = self.rev;
        self.signal(
            |_| true,
            &WatchMsg::Expire("The resourceVersion for the provided watch is too old.".into()),
        )
    }
}
