//! core/v1 Events written by the simulated scheduler and kubelet.
//!
//! They are what KubeSpawner shows as spawn progress ("Pulling image ...")
//! and what a stuck spawn is diagnosed from (FailedScheduling), so they carry
//! the same reasons, types, sources and `involvedObject` as the real ones.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::meta;
use crate::resource::StorageKind;
use crate::store::Store;

/// Which component reports an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// `default-scheduler` (Scheduled, FailedScheduling).
    Scheduler,
    /// `kubelet` on the fake node (Pulling, Started, Killing, ...).
    Kubelet,
}

/// One event to record against a pod.
#[derive(Debug, Clone)]
pub struct EventSpec {
    /// `Normal` or `Warning`.
    pub warning: bool,
    /// Machine-readable reason, e.g. `Pulling`.
    pub reason: &'static str,
    /// Human message.
    pub message: String,
    /// Reporter.
    pub component: Component,
    /// `involvedObject.fieldPath`, e.g. `spec.containers{notebook}`.
    pub field_path: Option<String>,
}

impl EventSpec {
    /// A Normal event.
    pub fn normal(component: Component, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            warning: false,
            reason,
            message: message.into(),
            component,
            field_path: None,
        }
    }

    /// A Warning event.
    pub fn warning(component: Component, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            warning: true,
            reason,
            message: message.into(),
            component,
            field_path: None,
        }
    }

    /// Points the event at one container of the pod.
    pub fn container(mut self, name: &str) -> Self {
        self.field_path = Some(format!("spec.containers{{{name}}}"));
        self
    }
}

impl Store {
    /// Records a core/v1 Event about `pod`.
    pub fn record_event(&mut self, pod: &Value, spec: EventSpec) -> Arc<Value> {
        let seq = self.next_seq();
        let now = self.clock.timestamp(0);
        let ns = meta::namespace(pod);
        let name = format!(
            "{}.{:016x}",
            meta::name(pod),
            0x1800_0000_0000_0000u64 + seq
        );
        let mut involved = json!({
            "kind": "Pod",
            "namespace": ns,
            "name": meta::name(pod),
            "uid": meta::uid(pod),
            "apiVersion": "v1",
            "resourceVersion": meta::resource_version(pod),
        });
        if let Some(fp) = &spec.field_path {
            involved["fieldPath"] = json!(fp);
        }
        let (component, host) = match spec.component {
            Component::Scheduler => ("default-scheduler", None),
            Component::Kubelet => ("kubelet", Some(self.node_name.clone())),
        };
        let mut source = json!({"component": component});
        if let Some(h) = &host {
            source["host"] = json!(h);
        }
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": involved,
            "reason": spec.reason,
            "message": spec.message,
            "type": if spec.warning { "Warning" } else { "Normal" },
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "eventTime": null,
            "reportingComponent": component,
            "reportingInstance": host.unwrap_or_default(),
        });
        self.insert_new(StorageKind::Event, event)
    }

    /// `Killing` events when a scheduled pod starts graceful termination.
    pub fn record_killing(&mut self, pod: &Value) {
        if meta::str_at(pod, &["spec", "nodeName"])
            .unwrap_or("")
            .is_empty()
        {
            return;
        }
        for c in container_names(pod) {
            let spec = EventSpec::normal(
                Component::Kubelet,
                "Killing",
                format!("Stopping container {c}"),
            )
            .container(&c);
            self.record_event(pod, spec);
        }
    }
}

/// Names of the pod's (regular) containers.
pub fn container_names(pod: &Value) -> Vec<String> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
