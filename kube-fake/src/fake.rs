//! [`FakeKube`]: the handle a test holds. It hands out clients, drives the
//! kubelet, injects faults, reads the request log and pokes at storage
//! directly (bypassing the log, for setting up and checking state).

use std::net::SocketAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::time::{sleep, Duration, Instant};

use crate::error::FakeError;
use crate::faults::{Fault, FaultId, Faults, RequestMatch};
use crate::kubelet::{Kubelet, KubeletState};
use crate::log::{RequestLog, RequestRecord};
use crate::resource::{lookup, ApiResource};
use crate::server::FakeServer;
use crate::service::FakeService;
use crate::store::{DeleteOptions, DeleteOutcome, GraceTimer, Store, WatchMsg, WatcherEntry};

/// Settings of a fake.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Revision before the first write (the first object gets this + 1).
    pub initial_revision: u64,
    /// How many changes the watch history keeps; older resourceVersions get 410.
    pub history_window: usize,
    /// Server-side watch timeout when the client sends no `timeoutSeconds`.
    pub watch_timeout: Duration,
    /// Node the simulated scheduler binds pods to.
    pub node_name: String,
    /// Default namespace of clients made by [`FakeKube::client`] and kubeconfigs.
    pub default_namespace: String,
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            initial_revision: 1,
            history_window: 1000,
            watch_timeout: Duration::from_secs(1800),
            node_name: "kube-fake-node-1".into(),
            default_namespace: "default".into(),
        }
    }
}

/// State shared by every handle, transport and background task of one fake.
pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub log: RequestLog,
    pub faults: Mutex<Faults>,
    pub kubelet: Mutex<KubeletState>,
    pub config: FakeConfig,
}

impl Shared {
    /// Runs `f` under the store lock, then arms the grace timers it created
    /// (on the tokio clock, outside the lock).
    pub fn with_store<R>(self: &Arc<Self>, f: impl FnOnce(&mut Store) -> R) -> R {
        let (r, timers) = {
            let mut s = self.store.lock();
            let r = f(&mut s);
            (r, std::mem::take(&mut s.timers))
        };
        self.arm(timers);
        r
    }

    /// Spawns grace timers; each one, when it fires, may arm more (cascades).
    fn arm(self: &Arc<Self>, timers: Vec<GraceTimer>) {
        for timer in timers {
            let weak = Arc::downgrade(self);
            // Outside a runtime (a sync test helper) there is no clock to arm.
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    sleep(timer.after).await;
                    if let Some(shared) = weak.upgrade() {
                        let more = {
                            let mut s = shared.store.lock();
                            s.grace_expired(&timer);
                            std::mem::take(&mut s.timers)
                        };
                        shared.arm(more);
                    }
                });
            }
        }
    }
}

/// Which open watches a watch fault applies to.
#[derive(Debug, Clone, Default)]
pub struct WatchSelect {
    resource: Option<String>,
    client: Option<String>,
}

impl WatchSelect {
    /// Every open watch.
    pub fn all() -> Self {
        Self::default()
    }

    /// Watches on this resource plural.
    pub fn resource(mut self, plural: &str) -> Self {
        self.resource = Some(plural.to_string());
        self
    }

    /// Watches opened by this client.
    pub fn client(mut self, client: &str) -> Self {
        self.client = Some(client.to_string());
        self
    }

    fn accepts(&self, w: &WatcherEntry) -> bool {
        self.resource.as_deref().is_none_or(|r| r == w.plural)
            && self.client.as_deref().is_none_or(|c| c == w.client)
    }
}

/// A fake Kubernetes API server. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct FakeKube {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeKube {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeKube")
            .field("revision", &self.revision())
            .finish_non_exhaustive()
    }
}

impl Default for FakeKube {
    fn default() -> Self {
        Self::new()
    }
}

fn resource(name: &str) -> Result<&'static ApiResource, FakeError> {
    lookup(name).ok_or_else(|| FakeError::UnknownResource(name.to_string()))
}

impl FakeKube {
    /// A fake with default settings.
    pub fn new() -> Self {
        Self::with_config(FakeConfig::default())
    }

    /// A fake with custom settings.
    pub fn with_config(config: FakeConfig) -> Self {
        static INSTANCES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let instance = INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let store = Store::new(
            config.initial_revision,
            config.history_window,
            instance,
            config.node_name.clone(),
        );
        Self {
            shared: Arc::new(Shared {
                store: Mutex::new(store),
                log: RequestLog::default(),
                faults: Mutex::new(Faults::default()),
                kubelet: Mutex::new(KubeletState::default()),
                config,
            }),
        }
    }

    /// Default namespace of clients and kubeconfigs.
    pub fn default_namespace(&self) -> &str {
        &self.shared.config.default_namespace
    }

    /// An in-process transport whose requests are logged as client `client`.
    pub fn service_for(&self, client: &str) -> FakeService {
        FakeService {
            shared: self.shared.clone(),
            client: Some(client.into()),
            peer: None,
        }
    }

    /// An in-process transport that identifies clients from request headers.
    pub fn service(&self) -> FakeService {
        FakeService {
            shared: self.shared.clone(),
            client: None,
            peer: None,
        }
    }

    pub(crate) fn service_at(&self, peer: SocketAddr) -> FakeService {
        FakeService {
            shared: self.shared.clone(),
            client: None,
            peer: Some(peer),
        }
    }

    /// A `kube::Client` talking to this fake in-process, logged as `client`.
    pub fn client(&self, client: &str) -> kube::Client {
        kube::Client::new(self.service_for(client), self.default_namespace())
    }

    /// Serves this fake on `127.0.0.1:0` (see [`FakeServer`]).
    pub async fn start_server(&self) -> std::io::Result<FakeServer> {
        FakeServer::start(self.clone()).await
    }

    /// The simulated scheduler/kubelet.
    pub fn kubelet(&self) -> Kubelet {
        Kubelet {
            shared: self.shared.clone(),
        }
    }

    /// Current global revision.
    pub fn revision(&self) -> u64 {
        self.shared.store.lock().revision()
    }

    /// Reads an object as `resource` (`"pods"`, `"events.events.k8s.io"`) shows it.
    pub fn get(&self, resource_name: &str, ns: &str, name: &str) -> Option<Value> {
        let res = lookup(resource_name)?;
        self.shared
            .store
            .lock()
            .get(res.storage, ns, name)
            .map(|v| crate::convert::to_view(res, v))
    }

    /// All objects of a resource (optionally in one namespace), in key order.
    pub fn list(&self, resource_name: &str, ns: Option<&str>) -> Vec<Value> {
        let Some(res) = lookup(resource_name) else {
            return Vec::new();
        };
        let store = self.shared.store.lock();
        store
            .iter_kind(res.storage, ns)
            .map(|(_, v)| crate::convert::to_view(res, v))
            .collect()
    }

    /// Creates an object with full API semantics, without logging a request.
    pub fn create(&self, resource_name: &str, ns: &str, obj: Value) -> Result<Value, FakeError> {
        let res = resource(resource_name)?;
        let v = self.shared.with_store(|s| s.create(res, ns, obj))?;
        Ok(crate::convert::to_view(res, &v))
    }

    /// Edits a stored object in place (status included, no validation) and
    /// commits it as one MODIFIED change: "something else changed it".
    pub fn modify(
        &self,
        resource_name: &str,
        ns: &str,
        name: &str,
        f: impl FnOnce(&mut Value),
    ) -> Result<Value, FakeError> {
        let res = resource(resource_name)?;
        let kind = res.storage;
        self.shared.with_store(|s| {
            let old = s
                .get(kind, ns, name)
                .ok_or_else(|| crate::error::ApiError::not_found(res, name))?;
            let mut v = (**old).clone();
            f(&mut v);
            let stored = s.put((kind, ns.to_string(), name.to_string()), v);
            Ok(crate::convert::to_view(res, &stored))
        })
    }

    /// Deletes with full API semantics, without logging a request.
    pub fn delete(
        &self,
        resource_name: &str,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<DeleteOutcome, FakeError> {
        let res = resource(resource_name)?;
        Ok(self.shared.with_store(|s| s.delete(res, ns, name, opts))?)
    }

    /// A copy of the request log.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.log.snapshot()
    }

    /// Empties the request log.
    pub fn clear_requests(&self) {
        self.shared.log.clear();
    }

    /// Waits until a logged request satisfies `pred` (tokio clock); `None` on timeout.
    pub async fn wait_for_request(
        &self,
        pred: impl Fn(&RequestRecord) -> bool,
        timeout: Duration,
    ) -> Option<RequestRecord> {
        self.shared.log.wait_for(pred, timeout).await
    }

    /// Injects a request fault; see [`Fault`].
    pub fn inject(&self, m: RequestMatch, f: Fault) -> FaultId {
        self.shared.faults.lock().add(m, f)
    }

    /// Removes one injected fault.
    pub fn remove_fault(&self, id: FaultId) {
        self.shared.faults.lock().remove(id);
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.shared.faults.lock().clear();
    }

    /// Number of open client watches matching `sel`.
    pub fn watch_count(&self, sel: &WatchSelect) -> usize {
        self.shared.store.lock().count_watches(|w| sel.accepts(w))
    }

    /// Waits (polling every 10 ms of tokio time) until at least `n` watches
    /// match `sel`; false on timeout.
    pub async fn wait_for_watches(&self, sel: &WatchSelect, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.watch_count(sel) < n {
            if Instant::now() >= deadline {
                return false;
            }
            sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// Sends a BOOKMARK at the current revision to every watch that allows bookmarks.
    pub fn send_bookmarks(&self) -> usize {
        self.shared.store.lock().bookmark_all()
    }

    /// Ends matching watch streams cleanly (like a server-side timeout).
    pub fn close_watches(&self, sel: &WatchSelect) -> usize {
        self.shared
            .store
            .lock()
            .signal(|w| sel.accepts(w), &WatchMsg::Close)
    }

    /// Breaks matching watch streams mid-body (a dropped connection). kube
    /// treats the unexpected EOF as resumable: it re-watches from its last
    /// resourceVersion without reporting an error or re-listing.
    pub fn abort_watches(&self, sel: &WatchSelect) -> usize {
        self.shared
            .store
            .lock()
            .signal(|w| sel.accepts(w), &WatchMsg::Abort)
    }

    /// Sends `ERROR 410 Expired` to matching watches and ends them; the
    /// history stays, so this models a watch cache that dropped a slow client.
    pub fn expire_watches(&self, sel: &WatchSelect) -> usize {
        let msg = WatchMsg::Expire("The resourceVersion for the provided watch is too old.".into());
        self.shared.store.lock().signal(|w| sel.accepts(w), &msg)
    }

    /// etcd compaction: drops all history. Every open watch gets
    /// `ERROR 410` in its 200 stream, resuming from any earlier
    /// resourceVersion is refused the same way, and continue tokens expire.
    pub fn compact(&self) -> usize {
        self.shared.store.lock().compact()
    }
}
