//! The route table: an immutable trie snapshot behind `arc-swap`, so lookups
//! on the data path never wait for writers (writers serialise on a mutex,
//! copy only the trie nodes they touch and publish a new snapshot).
//!
//! Each route carries a cancellation token. Removing a route or changing its
//! target cancels it, which closes that route's live websocket tunnels; when
//! no route points at a target authority any more, the authority's token is
//! cancelled too, which closes its pooled upstream connections (the CHP#557
//! socket leak: sockets to stopped servers were never released).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use crate::activity::{format_iso, from_ms, to_ms, ActivityCell, ActivityRecord};
use crate::path::{host_key, request_segments, spec_segments, trim_spec};
use crate::route::Route;
use crate::trie::Trie;

#[derive(Debug)]
pub(crate) struct RouteEntry {
    pub route: Route,
    pub activity: Arc<ActivityCell>,
    /// Cancelled when this route is removed or re-targeted.
    pub cancel: CancellationToken,
}

/// Read-only view of one route in the table (cheap to clone).
#[derive(Debug, Clone)]
pub struct RouteInfo(pub(crate) Arc<RouteEntry>);

impl RouteInfo {
    pub fn route(&self) -> &Route {
        &self.0.route
    }
    pub fn spec(&self) -> &str {
        self.0.route.spec()
    }
    pub fn target(&self) -> &str {
        self.0.route.target()
    }
    pub fn data(&self) -> Map<String, Value> {
        self.0.route.data()
    }
    pub fn last_activity(&self) -> SystemTime {
        from_ms(self.0.activity.last_ms())
    }
    /// [`RouteInfo::to_chp_json`] written straight out as JSON text, splicing the route's
    /// data text in (it never holds `target` or `last_activity`): listing 10,000 routes
    /// through `Value`s built and freed ~10 MiB per request.
    pub fn write_chp_json(&self, out: &mut Vec<u8>) {
        let data = self.0.route.data_json();
        let fields = data.trim_end().strip_suffix('}').unwrap_or("{").trim_end();
        out.extend_from_slice(fields.as_bytes());
        if fields != "{" {
            out.push(b',');
        }
        out.extend_from_slice(b"\"target\":");
        write_json_str(out, self.target());
        out.extend_from_slice(b",\"last_activity\":");
        write_json_str(out, &format_iso(self.last_activity()));
        out.push(b'}');
    }

    /// The CHP listing form: `{target, ...data, last_activity}`.
    pub fn to_chp_json(&self) -> Value {
        let mut m = self.data();
        m.insert("target".into(), Value::String(self.target().to_owned()));
        m.insert(
            "last_activity".into(),
            Value::String(format_iso(self.last_activity())),
        );
        Value::Object(m)
    }
}

/// `s` as a JSON string literal.
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

type Snapshot = Trie<Arc<RouteEntry>>;

/// Handle to the route table; clones share the same table.
#[derive(Clone)]
pub struct RouteTable {
    inner: Arc<Inner>,
}

struct Inner {
    host_routing: bool,
    snapshot: ArcSwap<Snapshot>,
    /// Writers' lock; also guards the per-authority refcounts and tokens.
    targets: Mutex<HashMap<String, (usize, CancellationToken)>>,
    /// Unreported activity of routes that were removed or re-targeted.
    orphaned: Mutex<Vec<ActivityRecord>>,
}

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTable")
            .field("host_routing", &self.inner.host_routing)
            .field("routes", &self.len())
            .finish()
    }
}

fn owned_segments(spec: &str) -> Vec<String> {
    spec_segments(spec).into_iter().map(str::to_owned).collect()
}

impl RouteTable {
    /// An empty table. With `host_routing` (CHP `--host-routing`) the
    /// request's host becomes the first path segment on lookup.
    pub fn new(host_routing: bool) -> Self {
        RouteTable {
            inner: Arc::new(Inner {
                host_routing,
                snapshot: ArcSwap::from_pointee(Trie::new()),
                targets: Mutex::new(HashMap::new()),
                orphaned: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn host_routing(&self) -> bool {
        self.inner.host_routing
    }

    pub fn len(&self) -> usize {
        self.inner.snapshot.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Longest-prefix match for a request. `path` is the normalised raw path
    /// (see [`crate::path::normalize_path`]); it is decoded per segment here.
    pub fn lookup(&self, host: Option<&str>, path: &str) -> Option<RouteInfo> {
        let snap = self.inner.snapshot.load();
        let mut segs: Vec<Cow<'_, str>> = Vec::with_capacity(8);
        if self.inner.host_routing {
            if let Some(h) = host {
                segs.push(Cow::Owned(host_key(h)));
            }
        }
        segs.extend(request_segments(path));
        snap.longest_prefix(&segs)
            .map(|(_, e)| RouteInfo(Arc::clone(e)))
    }

    /// The route stored at exactly `spec` (canonical form; slashes ignored).
    pub fn get(&self, spec: &str) -> Option<RouteInfo> {
        let spec = trim_spec(spec);
        let snap = self.inner.snapshot.load();
        snap.get(&spec_segments(&spec))
            .map(|e| RouteInfo(Arc::clone(e)))
    }

    /// Every route, sorted by spec.
    pub fn get_all(&self) -> Vec<RouteInfo> {
        let snap = self.inner.snapshot.load();
        let mut all: Vec<RouteInfo> = snap
            .values()
            .into_iter()
            .map(|e| RouteInfo(Arc::clone(e)))
            .collect();
        all.sort_by(|a, b| a.spec().cmp(b.spec()));
        all
    }

    /// Add or replace one route. Same target: data is updated, activity and
    /// open connections are kept. New target: the old route's websockets are
    /// closed and its activity restarts at now, as a CHP re-POST does.
    pub fn upsert(&self, route: Route) {
        let mut targets = self.inner.targets.lock();
        let mut trie = Snapshot::clone(&self.inner.snapshot.load());
        let segs = owned_segments(route.spec());
        let mut retired = Vec::new();
        let old = trie.get(&segs).cloned();
        let entry = entry_for(route, old.as_ref(), &mut targets, &mut retired);
        trie.insert(&segs, entry);
        self.inner.snapshot.store(Arc::new(trie));
        self.retire(retired, &mut targets);
    }

    /// Several changes as one new snapshot, each as `upsert` or `remove` would make it: one
    /// copy of the trie however many routes change.
    pub fn update(&self, upserts: Vec<Route>, removes: &[String]) {
        if upserts.is_empty() && removes.is_empty() {
            return;
        }
        let mut targets = self.inner.targets.lock();
        let mut trie = Snapshot::clone(&self.inner.snapshot.load());
        let mut retired = Vec::new();
        for spec in removes {
            if let Some(old) = trie.remove(&spec_segments(&trim_spec(spec))) {
                retired.push(old);
            }
        }
        for route in upserts {
            let segs = owned_segments(route.spec());
            let old = trie.get(&segs).cloned();
            let entry = entry_for(route, old.as_ref(), &mut targets, &mut retired);
            trie.insert(&segs, entry);
        }
        self.inner.snapshot.store(Arc::new(trie));
        self.retire(retired, &mut targets);
    }

    /// Remove the route at exactly `spec`; returns whether it existed.
    pub fn remove(&self, spec: &str) -> bool {
        let mut targets = self.inner.targets.lock();
        let mut trie = Snapshot::clone(&self.inner.snapshot.load());
        let Some(old) = trie.remove(&spec_segments(&trim_spec(spec))) else {
            return false;
        };
        self.inner.snapshot.store(Arc::new(trie));
        self.retire(vec![old], &mut targets);
        true
    }

    /// Make the table exactly `routes` (e.g. after a Raft snapshot install).
    /// Unchanged routes keep their activity and connections.
    pub fn replace_all(&self, routes: impl IntoIterator<Item = Route>) {
        let mut targets = self.inner.targets.lock();
        let old = self.inner.snapshot.load_full();
        let mut dedup: HashMap<Vec<String>, Route> = HashMap::new();
        for r in routes {
            dedup.insert(owned_segments(r.spec()), r);
        }
        let mut trie = Snapshot::new();
        let mut retired = Vec::new();
        for (segs, route) in dedup {
            let entry = entry_for(route, old.get(&segs), &mut targets, &mut retired);
            trie.insert(&segs, entry);
        }
        for e in old.values() {
            if trie.get(&spec_segments(e.route.spec())).is_none() {
                retired.push(Arc::clone(e));
            }
        }
        self.inner.snapshot.store(Arc::new(trie));
        self.retire(retired, &mut targets);
    }

    /// Drain routes whose activity moved since the last drain (including
    /// routes removed meanwhile). The binary calls this every few seconds,
    /// merges with max() and replicates; cost is O(routes), not O(requests).
    pub fn take_activity(&self) -> Vec<ActivityRecord> {
        let mut out = std::mem::take(&mut *self.inner.orphaned.lock());
        let snap = self.inner.snapshot.load();
        for e in snap.values() {
            if let Some(ms) = e.activity.take() {
                out.push(ActivityRecord {
                    spec: e.route.spec().to_owned(),
                    last_activity: from_ms(ms),
                });
            }
        }
        out
    }

    /// Raise a route's `last_activity` to a cluster-merged value (max), so
    /// every replica lists the same time. Not reported back by `take_activity`.
    pub fn merge_activity(&self, spec: &str, t: SystemTime) {
        if let Some(r) = self.get(spec) {
            r.0.activity.merge(to_ms(t));
        }
    }

    /// Token that closes pooled upstream connections to `authority` once no
    /// route targets it. Unknown authorities get a fresh, unshared token
    /// (such connections are still bounded by the pool's idle timeout).
    pub(crate) fn target_token(&self, authority: &str) -> CancellationToken {
        let targets = self.inner.targets.lock();
        targets
            .get(authority)
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    }

    fn retire(
        &self,
        retired: Vec<Arc<RouteEntry>>,
        targets: &mut HashMap<String, (usize, CancellationToken)>,
    ) {
        let mut orphaned = Vec::new();
        for e in retired {
            e.cancel.cancel();
            let key = e.route.parsed_target().authority.as_str();
            if let Some((count, token)) = targets.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    token.cancel();
                    targets.remove(key);
                }
            }
            if let Some(ms) = e.activity.take() {
                orphaned.push(ActivityRecord {
                    spec: e.route.spec().to_owned(),
                    last_activity: from_ms(ms),
                });
            }
        }
        if !orphaned.is_empty() {
            self.inner.orphaned.lock().extend(orphaned);
        }
    }
}

/// Entry for `route` replacing `old` at the same spec: reuse activity and
/// token when the target is unchanged, else take a new target reference and
/// queue `old` for retirement (after the new snapshot is published, so no
/// reader can pick up an already-cancelled entry).
fn entry_for(
    route: Route,
    old: Option<&Arc<RouteEntry>>,
    targets: &mut HashMap<String, (usize, CancellationToken)>,
    retired: &mut Vec<Arc<RouteEntry>>,
) -> Arc<RouteEntry> {
    if let Some(old) = old {
        if old.route.target() == route.target() {
            return Arc::new(RouteEntry {
                route,
                activity: Arc::clone(&old.activity),
                cancel: old.cancel.clone(),
            });
        }
        retired.push(Arc::clone(old));
    }
    let key = route.parsed_target().authority.as_str().to_owned();
    targets
        .entry(key)
        .or_insert_with(|| (0, CancellationToken::new()))
        .0 += 1;
    Arc::new(RouteEntry {
        route,
        activity: Arc::new(ActivityCell::new_now()),
        cancel: CancellationToken::new(),
    })
}
