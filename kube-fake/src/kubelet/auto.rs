//! Auto mode: an internal watch on pods and PVCs, and one task per new
//! object walking its plan on the tokio clock.
//!
//! Tasks hold only a `Weak` reference to the fake, re-check auto mode and
//! the object's uid before every step, and stop at the first error (the pod
//! was deleted or re-created), so a dropped fake or a deleted pod ends them.

use std::sync::{Arc, Weak};

use serde_json::Value;
use tokio::time::sleep;

use super::{finish, steps, Plan, Timings};
use crate::fake::Shared;
use crate::meta;
use crate::resource::{native, StorageKind};
use crate::store::{ChangeType, Store, WatchMsg};

pub(super) fn spawn_driver(shared: &Arc<Shared>) {
    let (pods, pvcs, pending, unbound) = {
        let mut s = shared.store.lock();
        let (_, pods) = s.register(
            StorageKind::Pod,
            native(StorageKind::Pod).plural,
            "kubelet",
            true,
        );
        let (_, pvcs) = s.register(
            StorageKind::PersistentVolumeClaim,
            "persistentvolumeclaims",
            "kubelet",
            true,
        );
        let pending: Vec<Value> = s
            .iter_kind(StorageKind::Pod, None)
            .filter(|(_, p)| {
                meta::str_at(p, &["spec", "nodeName"])
                    .unwrap_or("")
                    .is_empty()
            })
            .map(|(_, p)| (**p).clone())
            .collect();
        let unbound: Vec<Value> = s
            .iter_kind(StorageKind::PersistentVolumeClaim, None)
            .filter(|(_, p)| meta::str_at(p, &["status", "phase"]) != Some("Bound"))
            .map(|(_, p)| (**p).clone())
            .collect();
        (pods, pvcs, pending, unbound)
    };
    let weak = Arc::downgrade(shared);
    for pod in pending {
        tokio::spawn(drive_pod(weak.clone(), pod));
    }
    for pvc in unbound {
        tokio::spawn(bind_pvc(weak.clone(), pvc));
    }
    tokio::spawn(watch_loop(weak.clone(), pods, drive_pod));
    tokio::spawn(watch_loop(weak, pvcs, bind_pvc));
}

async fn watch_loop<F, Fut>(
    weak: Weak<Shared>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<WatchMsg>,
    on_added: F,
) where
    F: Fn(Weak<Shared>, Value) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    while let Some(msg) = rx.recv().await {
        if let WatchMsg::Change(c) = msg {
            if c.ty == ChangeType::Added {
                tokio::spawn(on_added(weak.clone(), (*c.object).clone()));
            }
        }
    }
}

/// Current timings if auto mode is still on.
fn timings(weak: &Weak<Shared>) -> Option<(Arc<Shared>, Timings)> {
    let shared = weak.upgrade()?;
    let t = shared.kubelet.lock().auto?;
    Some((shared, t))
}

/// Runs one step if auto mode is on; `None` stops the pod's task.
fn step<T>(
    weak: &Weak<Shared>,
    f: impl FnOnce(&mut Store) -> Result<T, crate::error::ApiError>,
) -> Option<T> {
    let (shared, _) = timings(weak)?;
    shared.with_store(f).ok()
}

async fn drive_pod(weak: Weak<Shared>, pod: Value) {
    let (ns, name, uid) = (
        meta::namespace(&pod).to_string(),
        meta::name(&pod).to_string(),
        meta::uid(&pod).to_string(),
    );
    let Some((shared, t)) = timings(&weak) else {
        return;
    };
    let plan = shared.kubelet.lock().plan_for(&name);
    drop(shared);
    let uid = Some(uid.as_str());
    if plan == Plan::Manual {
        return;
    }
    sleep(t.schedule).await;
    if let Plan::Unschedulable(msg) = &plan {
        step(&weak, |s| steps::unschedulable(s, &ns, &name, uid, msg));
        return;
    }
    if step(&weak, |s| steps::schedule(s, &ns, &name, uid)).is_none() {
        return;
    }
    sleep(t.pull).await;
    if step(&weak, |s| steps::container_creating(s, &ns, &name, uid)).is_none() {
        return;
    }
    sleep(t.start).await;
    if plan == Plan::ImagePullBackOff {
        step(&weak, |s| steps::image_pull_backoff(s, &ns, &name, uid));
        return;
    }
    if step(&weak, |s| steps::run(s, &ns, &name, uid)).is_none() {
        return;
    }
    match plan {
        Plan::EvictAfter(after) => {
            sleep(after).await;
            step(&weak, |s| finish::evict(s, &ns, &name, finish::EVICTED_MSG));
        }
        Plan::ExitAfter(after, code) => {
            sleep(after).await;
            step(&weak, |s| finish::exit(s, &ns, &name, code));
        }
        _ => {}
    }
}

async fn bind_pvc(weak: Weak<Shared>, pvc: Value) {
    let Some((_, t)) = timings(&weak) else { return };
    sleep(t.bind).await;
    let (ns, name) = (
        meta::namespace(&pvc).to_string(),
        meta::name(&pvc).to_string(),
    );
    step(&weak, |s| finish::bind_pvc(s, &ns, &name));
}
