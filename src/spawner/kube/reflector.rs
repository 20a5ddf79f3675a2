//! The warm caches: one pod reflector (label `component=singleuser-server`) and one bounded
//! event reflector (field `involvedObject.kind=Pod`) for the namespace, each a kube
//! `watcher` wrapped in the default backoff.
//!
//! They run on every replica, leader or not (DESIGN invariant 4 keeps writes on the leader;
//! reads are free), so a new leader's controller lists from a cache that is already full
//! instead of re-listing thousands of pods at the worst moment. Objects are projected to
//! [`PodInfo`]/[`EventInfo`] as they arrive (kubespawner#424: keeping whole objects was
//! half of the hub's CPU). Re-lists use `resourceVersion=0` (served from the API server's
//! watch cache, kubespawner#755).
//!
//! Waiters (a start waiting for its pod, a stop waiting for it to go) subscribe to one pod
//! name and are woken only by changes to that pod or its events, so a thousand concurrent
//! spawns do not all wake on every change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event as KubeEvent, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::pod::COMPONENT;
use super::status::{EventInfo, EventLog, PodInfo};

/// How often old events are evicted even when nothing arrives.
const EVICT_EVERY: Duration = Duration::from_secs(30);

pub struct Reflectors {
    pods: RwLock<HashMap<String, PodInfo>>,
    events: Mutex<EventLog>,
    waiters: Mutex<HashMap<String, Arc<Notify>>>,
    synced: AtomicBool,
    synced_notify: Notify,
    restart_pods: Notify,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    events_max_age_s: u64,
    events_cap: usize,
    /// Wall time anchored once and advanced by the tokio clock, so event ages agree with
    /// paused-time tests and with the API server's timestamps.
    anchor: (Timestamp, Instant),
}

/// Wakes its holder when one pod (or an event about it) changes.
pub struct Subscription {
    refl: Arc<Reflectors>,
    name: String,
    notify: Arc<Notify>,
}

impl Subscription {
    pub fn notify(&self) -> &Notify {
        &self.notify
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut w = self.refl.waiters.lock();
        // The map's reference and ours: nobody else waits on this name.
        if Arc::strong_count(&self.notify) <= 2 {
            w.remove(&self.name);
        }
    }
}

impl Reflectors {
    /// Starts both watches on `namespace` (must run inside a tokio runtime).
    pub fn start(
        client: kube::Client,
        namespace: &str,
        events_max_age_s: u64,
        events_cap: usize,
    ) -> Arc<Reflectors> {
        let refl = Arc::new(Reflectors {
            pods: RwLock::new(HashMap::new()),
            events: Mutex::new(EventLog::default()),
            waiters: Mutex::new(HashMap::new()),
            synced: AtomicBool::new(false),
            synced_notify: Notify::new(),
            restart_pods: Notify::new(),
            tasks: Mutex::new(Vec::new()),
            events_max_age_s,
            events_cap,
            anchor: (Timestamp::now(), Instant::now()),
        });
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let events: Api<KubeEvent> = Api::namespaced(client, namespace);
        let t1 = tokio::spawn(run_pods(refl.clone(), pods));
        let t2 = tokio::spawn(run_events(refl.clone(), events));
        refl.tasks.lock().extend([t1, t2]);
        refl
    }

    /// Stops both watches (the spawner is going away).
    pub fn abort(&self) {
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
    }

    /// Unix seconds now, on the tokio clock.
    pub fn now(&self) -> i64 {
        let elapsed = Instant::now().duration_since(self.anchor.1).as_secs() as i64;
        self.anchor.0.as_second() + elapsed
    }

    /// Whether the pod cache has completed a full list (before that, "not in the cache"
    /// does not mean "not running").
    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Waits up to `timeout` for the first full list.
    pub async fn wait_synced(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let n = self.synced_notify.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.synced() {
                return true;
            }
            if tokio::time::timeout_at(deadline, n).await.is_err() {
                return self.synced();
            }
        }
    }

    /// Re-creates the pod watch: kubespawner#209's "reflector went deaf" recovery, used
    /// when a pod we created never showed up.
    pub fn restart_pod_watch(&self) {
        self.restart_pods.notify_one();
    }

    pub fn pod(&self, name: &str) -> Option<PodInfo> {
        self.pods.read().get(name).cloned()
    }

    /// Runs `f` over every cached pod (under the read lock: keep `f` cheap).
    pub fn with_pods<R>(&self, f: impl FnOnce(&mut dyn Iterator<Item = &PodInfo>) -> R) -> R {
        let g = self.pods.read();
        f(&mut g.values())
    }

    pub fn pod_count(&self) -> usize {
        self.pods.read().len()
    }

    pub fn event_count(&self) -> usize {
        self.events.lock().len()
    }

    /// Events about pod `uid` after position `after`.
    pub fn events_for(&self, uid: &str, after: u64) -> Vec<(u64, EventInfo)> {
        self.events.lock().for_pod(uid, after)
    }

    pub fn subscribe(self: &Arc<Self>, name: &str) -> Subscription {
        let notify = self
            .waiters
            .lock()
            .entry(name.to_string())
            .or_default()
            .clone();
        Subscription {
            refl: self.clone(),
            name: name.to_string(),
            notify,
        }
    }

    fn wake(&self, name: &str) {
        if let Some(n) = self.waiters.lock().get(name) {
            n.notify_waiters();
        }
    }

    fn wake_all(&self) {
        for n in self.waiters.lock().values() {
            n.notify_waiters();
        }
    }

    fn evict_events(&self) {
        let now = self.now();
        self.events
            .lock()
            .evict(now, self.events_max_age_s, self.events_cap);
    }
}

/// The pod watch, for the life of the spawner (aborted with it); each pass of the outer
/// loop is one watcher, replaced only on a restart request or if its stream ends.
async fn run_pods(refl: Arc<Reflectors>, api: Api<Pod>) {
    let selector = format!("component={COMPONENT}");
    loop {
        let cfg = watcher::Config::default().labels(&selector).any_semantic();
        let mut stream = watcher(api.clone(), cfg).default_backoff().boxed();
        let mut buffer: Option<HashMap<String, PodInfo>> = None;
        loop {
            let ev = tokio::select! {
                ev = stream.next() => ev,
                _ = refl.restart_pods.notified() => {
                    tracing::warn!("restarting the pod watch");
                    break;
                }
            };
            match ev {
                None => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "pod watch error (retrying with backoff)")
                }
                Some(Ok(Event::Init)) => buffer = Some(HashMap::new()),
                Some(Ok(Event::InitApply(p))) => {
                    let info = PodInfo::from_pod(&p);
                    buffer
                        .get_or_insert_with(HashMap::new)
                        .insert(info.name.clone(), info);
                }
                Some(Ok(Event::InitDone)) => {
                    *refl.pods.write() = buffer.take().unwrap_or_default();
                    refl.synced.store(true, Ordering::Release);
                    refl.synced_notify.notify_waiters();
                    refl.wake_all();
                }
                Some(Ok(Event::Apply(p))) => {
                    let info = PodInfo::from_pod(&p);
                    let name = info.name.clone();
                    refl.pods.write().insert(name.clone(), info);
                    refl.wake(&name);
                }
                Some(Ok(Event::Delete(p))) => {
                    let name = p.metadata.name.unwrap_or_default();
                    refl.pods.write().remove(&name);
                    refl.wake(&name);
                }
            }
        }
    }
}

/// The event watch: like the pod watch, plus eviction by age and count.
async fn run_events(refl: Arc<Reflectors>, api: Api<KubeEvent>) {
    let mut tick = tokio::time::interval(EVICT_EVERY);
    loop {
        let cfg = watcher::Config::default()
            .fields("involvedObject.kind=Pod")
            .any_semantic();
        let mut stream = watcher(api.clone(), cfg).default_backoff().boxed();
        let mut buffer: Vec<EventInfo> = Vec::new();
        loop {
            let ev = tokio::select! {
                ev = stream.next() => ev,
                _ = tick.tick() => {
                    refl.evict_events();
                    continue;
                }
            };
            match ev {
                None => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    break;
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "event watch error (retrying with backoff)")
                }
                Some(Ok(Event::Init)) => buffer.clear(),
                Some(Ok(Event::InitApply(e))) => buffer.push(EventInfo::from_event(&e)),
                Some(Ok(Event::InitDone)) => {
                    refl.events.lock().replace_all(std::mem::take(&mut buffer));
                    refl.evict_events();
                    refl.wake_all();
                }
                Some(Ok(Event::Apply(e))) => {
                    let info = EventInfo::from_event(&e);
                    let pod = info.pod.clone();
                    let over = {
                        let mut log = refl.events.lock();
                        log.apply(info);
                        log.len() > refl.events_cap
                    };
                    if over {
                        refl.evict_events();
                    }
                    refl.wake(&pod);
                }
                Some(Ok(Event::Delete(e))) => {
                    refl.events
                        .lock()
                        .remove(e.metadata.name.as_deref().unwrap_or(""));
                }
            }
        }
    }
}
