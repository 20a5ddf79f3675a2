//! Single pod transitions of the simulated scheduler and kubelet, applied
//! directly to the store (as the scheduler's binding and the kubelet's
//! status updates are), each with the events the real components emit.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::events::{container_names, Component, EventSpec};
use crate::meta;
use crate::resource::{native, StorageKind};
use crate::store::Store;

/// Default FailedScheduling message (what a full cluster says).
pub const UNSCHEDULABLE_MSG: &str = "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.";

pub(super) fn load(
    store: &Store,
    ns: &str,
    name: &str,
    uid: Option<&str>,
) -> Result<Value, ApiError> {
    let res = native(StorageKind::Pod);
    let pod = store
        .get(StorageKind::Pod, ns, name)
        .ok_or_else(|| ApiError::not_found(res, name))?;
    if uid.is_some_and(|u| u != meta::uid(pod)) {
        return Err(ApiError::not_found(res, name));
    }
    Ok((**pod).clone())
}

pub(super) fn save(store: &mut Store, pod: Value) -> Arc<Value> {
    let key = (
        StorageKind::Pod,
        meta::namespace(&pod).to_string(),
        meta::name(&pod).to_string(),
    );
    store.put(key, pod)
}

pub(super) fn set_condition(
    pod: &mut Value,
    ty: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<&str>,
    now: &str,
) {
    let status = pod
        .as_object_mut()
        .expect("pods are objects")
        .entry("status")
        .or_insert_with(|| json!({}));
    let conds = status
        .as_object_mut()
        .expect("status is an object")
        .entry("conditions")
        .or_insert_with(|| json!([]));
    let list = conds.as_array_mut().expect("conditions is a list");
    let mut c = json!({"type": ty, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    match list.iter_mut().find(|x| x["type"] == ty) {
        Some(old) if old["status"] == c["status"] => {
            // Same status: keep the transition time, update reason/message.
            c["lastTransitionTime"] = old["lastTransitionTime"].clone();
            *old = c;
        }
        Some(old) => *old = c,
        None => list.push(c),
    }
}

fn containers(pod: &Value) -> Vec<(String, String)> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    (s("name"), s("image"))
                })
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn container_statuses(
    pod: &Value,
    state: impl Fn(&str, &str) -> (Value, bool),
) -> Value {
    Value::Array(
        containers(pod)
            .iter()
            .map(|(name, image)| {
                let (st, ready) = state(name, image);
                let running = st.get("running").is_some();
                json!({"name": name, "image": image, "imageID": "", "ready": ready, "restartCount": 0,
                       "started": running, "state": st})
            })
            .collect(),
    )
}

fn not_ready_message(pod: &Value) -> String {
    format!(
        "containers with unready status: [{}]",
        container_names(pod).join(" ")
    )
}

/// Scheduler: binds the pod to the fake node (`spec.nodeName`, PodScheduled) + `Scheduled`.
pub fn schedule(
    store: &mut Store,
    ns: &str,
    name: &str,
    uid: Option<&str>,
) -> Result<Arc<Value>, ApiError> {
    let mut pod = load(store, ns, name, uid)?;
    let now = store.clock.timestamp(0);
    let node = store.node_name.clone();
    pod["spec"]["nodeName"] = json!(node);
    set_condition(&mut pod, "PodScheduled", true, None, None, &now);
    let pod = save(store, pod);
    let msg = format!("Successfully assigned {ns}/{name} to {node}");
    store.record_event(
        &pod,
        EventSpec::normal(Component::Scheduler, "Scheduled", msg),
    );
    Ok(pod)
}

/// Scheduler: cannot place the pod (PodScheduled=False/Unschedulable) + `FailedScheduling`.
pub fn unschedulable(
    store: &mut Store,
    ns: &str,
    name: &str,
    uid: Option<&str>,
    message: &str,
) -> Result<Arc<Value>, ApiError> {
    let mut pod = load(store, ns, name, uid)?;
    let now = store.clock.timestamp(0);
    set_condition(
        &mut pod,
        "PodScheduled",
        false,
        Some("Unschedulable"),
        Some(message),
        &now,
    );
    let pod = save(store, pod);
    store.record_event(
        &pod,
        EventSpec::warning(Component::Scheduler, "FailedScheduling", message),
    );
    Ok(pod)
}

/// Kubelet: admits the pod and starts pulling (ContainerCreating) + `Pulling`.
pub fn container_creating(
    store: &mut Store,
    ns: &str,
    name: &str,
    uid: Option<&str>,
) -> Result<Arc<Value>, ApiError> {
    let mut pod = load(store, ns, name, uid)?;
    let now = store.clock.timestamp(0);
    let waiting = |_: &str, _: &str| (json!({"waiting": {"reason": "ContainerCreating"}}), false);
    let msg = not_ready_message(&pod);
    pod["status"]["hostIP"] = json!("10.0.0.10");
    pod["status"]["hostIPs"] = json!([{"ip": "10.0.0.10"}]);
    pod["status"]["startTime"] = json!(now);
    pod["status"]["containerStatuses"] = container_statuses(&pod, waiting);
    set_condition(
        &mut pod,
        "PodReadyToStartContainers",
        false,
        None,
        None,
        &now,
    );
    set_condition(&mut pod, "Initialized", true, None, None, &now);
    set_condition(
        &mut pod,
        "Ready",
        false,
        Some("ContainersNotReady"),
        Some(&msg),
        &now,
    );
    set_condition(
        &mut pod,
        "ContainersReady",
        false,
        Some("ContainersNotReady"),
        Some(&msg),
        &now,
    );
    let pod = save(store, pod);
    for (c, image) in containers(&pod) {
        let ev = EventSpec::normal(
            Component::Kubelet,
            "Pulling",
            format!("Pulling image {image:?}"),
        )
        .container(&c);
        store.record_event(&pod, ev);
    }
    Ok(pod)
}

/// Kubelet: the image cannot be pulled (waiting `ImagePullBackOff`) + `Failed`/`BackOff`.
pub fn image_pull_backoff(
    store: &mut Store,
    ns: &str,
    name: &str,
    uid: Option<&str>,
) -> Result<Arc<Value>, ApiError> {
    let mut pod = load(store, ns, name, uid)?;
    let backoff = |_: &str, image: &str| {
        let msg = format!("Back-off pulling image {image:?}");
        (
            json!({"waiting": {"reason": "ImagePullBackOff", "message": msg}}),
            false,
        )
    };
    pod["status"]["containerStatuses"] = container_statuses(&pod, backoff);
    let pod = save(store, pod);
    for (c, image) in containers(&pod) {
        let err = format!("Failed to pull image {image:?}: rpc error: code = NotFound desc = failed to pull and unpack image {image:?}: not found");
        for ev in [
            EventSpec::warning(Component::Kubelet, "Failed", err),
            EventSpec::warning(Component::Kubelet, "Failed", "Error: ErrImagePull"),
            EventSpec::normal(
                Component::Kubelet,
                "BackOff",
                format!("Back-off pulling image {image:?}"),
            ),
            EventSpec::warning(Component::Kubelet, "Failed", "Error: ImagePullBackOff"),
        ] {
            store.record_event(&pod, ev.container(&c));
        }
    }
    Ok(pod)
}

/// Kubelet: pulled, created and started every container; Running with a pod IP and Ready.
pub fn run(
    store: &mut Store,
    ns: &str,
    name: &str,
    uid: Option<&str>,
) -> Result<Arc<Value>, ApiError> {
    let mut pod = load(store, ns, name, uid)?;
    let now = store.clock.timestamp(0);
    let seq = store.next_seq();
    let ip = format!("10.244.{}.{}", (seq / 250) % 250, seq % 250 + 2);
    let running = |_: &str, _: &str| (json!({"running": {"startedAt": now}}), true);
    pod["status"]["phase"] = json!("Running");
    pod["status"]["podIP"] = json!(ip);
    pod["status"]["podIPs"] = json!([{"ip": ip}]);
    pod["status"]["containerStatuses"] = container_statuses(&pod, running);
    for ty in [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ] {
        set_condition(&mut pod, ty, true, None, None, &now);
    }
    let pod = save(store, pod);
    for (c, image) in containers(&pod) {
        let pulled = format!("Successfully pulled image {image:?} in 1.2s (1.2s including waiting). Image size: 1048576 bytes.");
        for ev in [
            EventSpec::normal(Component::Kubelet, "Pulled", pulled),
            EventSpec::normal(
                Component::Kubelet,
                "Created",
                format!("Created container: {c}"),
            ),
            EventSpec::normal(
                Component::Kubelet,
                "Started",
                format!("Started container {c}"),
            ),
        ] {
            store.record_event(&pod, ev.container(&c));
        }
    }
    Ok(pod)
}

/// Kubelet: readiness probe result changed.
pub fn set_ready(
    store: &mut Store,
    ns: &str,
    name: &str,
    ready: bool,
) -> Result<Arc<Value>, ApiError> {
    let mut pod = load(store, ns, name, None)?;
    let now = store.clock.timestamp(0);
    let msg = (!ready).then(|| not_ready_message(&pod));
    let reason = (!ready).then_some("ContainersNotReady");
    set_condition(&mut pod, "Ready", ready, reason, msg.as_deref(), &now);
    set_condition(
        &mut pod,
        "ContainersReady",
        ready,
        reason,
        msg.as_deref(),
        &now,
    );
    if let Some(cs) = pod
        .pointer_mut("/status/containerStatuses")
        .and_then(Value::as_array_mut)
    {
        for c in cs {
            c["ready"] = json!(ready);
        }
    }
    Ok(save(store, pod))
}
