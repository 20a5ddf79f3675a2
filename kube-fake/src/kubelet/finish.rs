//! Terminal pod transitions of the simulated kubelet (exit, eviction) and
//! the PV controller's claim binding.

use std::sync::Arc;

use serde_json::{json, Value};

use super::steps::{container_statuses, load, save, set_condition};
use crate::error::ApiError;
use crate::events::{Component, EventSpec};
use crate::meta;
use crate::resource::{native, StorageKind};
use crate::store::Store;

/// Default eviction message.
pub const EVICTED_MSG: &str =
    "The node was low on resource: memory. Threshold quantity: 100Mi, available: 12Mi.";

/// Kubelet: every container exited with `code` (as with `restartPolicy: Never`):
/// Succeeded for 0, Failed otherwise.
pub fn exit(store: &mut Store, ns: &str, name: &str, code: i32) -> Result<Arc<Value>, ApiError> {
    terminate(store, ns, name, code, None)
}

/// Kubelet: evicted under node pressure (phase Failed, reason Evicted) + `Evicted`.
pub fn evict(
    store: &mut Store,
    ns: &str,
    name: &str,
    message: &str,
) -> Result<Arc<Value>, ApiError> {
    let pod = terminate(store, ns, name, 137, Some(message))?;
    store.record_event(
        &pod,
        EventSpec::warning(Component::Kubelet, "Evicted", message),
    );
    Ok(pod)
}

fn terminate(
    store: &mut Store,
    ns: &str,
    name: &str,
    code: i32,
    evicted: Option<&str>,
) -> Result<Arc<Value>, ApiError> {
    let mut pod = load(store, ns, name, None)?;
    let now = store.clock.timestamp(0);
    let started = pod
        .pointer("/status/startTime")
        .cloned()
        .unwrap_or(json!(now));
    let reason = match (code, evicted) {
        (_, Some(_)) => "ContainerStatusUnknown",
        (0, None) => "Completed",
        _ => "Error",
    };
    let terminated = |_: &str, _: &str| {
        (
            json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": now}}),
            false,
        )
    };
    pod["status"]["phase"] = json!(if code == 0 && evicted.is_none() {
        "Succeeded"
    } else {
        "Failed"
    });
    pod["status"]["containerStatuses"] = container_statuses(&pod, terminated);
    let pod_reason = if code == 0 {
        "PodCompleted"
    } else {
        "PodFailed"
    };
    set_condition(&mut pod, "Ready", false, Some(pod_reason), None, &now);
    set_condition(
        &mut pod,
        "ContainersReady",
        false,
        Some(pod_reason),
        None,
        &now,
    );
    if let Some(msg) = evicted {
        pod["status"]["reason"] = json!("Evicted");
        pod["status"]["message"] = json!(msg);
        set_condition(
            &mut pod,
            "DisruptionTarget",
            true,
            Some("TerminationByKubelet"),
            Some(msg),
            &now,
        );
    }
    Ok(save(store, pod))
}

/// PV controller: binds a claim (phase Bound, volumeName, capacity).
pub fn bind_pvc(store: &mut Store, ns: &str, name: &str) -> Result<Arc<Value>, ApiError> {
    let res = native(StorageKind::PersistentVolumeClaim);
    let mut pvc = (**store
        .get(StorageKind::PersistentVolumeClaim, ns, name)
        .ok_or_else(|| ApiError::not_found(res, name))?)
    .clone();
    let volume = format!("pvc-{}", meta::uid(&pvc));
    pvc["spec"]["volumeName"] = json!(volume);
    let size = pvc
        .pointer("/spec/resources/requests/storage")
        .cloned()
        .unwrap_or(json!("1Gi"));
    let modes = pvc
        .pointer("/spec/accessModes")
        .cloned()
        .unwrap_or(json!(["ReadWriteOnce"]));
    pvc["status"] = json!({"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}});
    let key = (
        StorageKind::PersistentVolumeClaim,
        ns.to_string(),
        name.to_string(),
    );
    Ok(store.put(key, pvc))
}
