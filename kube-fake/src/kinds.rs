//! Per-kind defaulting and validation: the part of each Go registry
//! "strategy" that a spawner can trip over.
//!
//! Only rules that change what a client observes are modelled: required pod
//! containers, pod-spec immutability, service cluster IPs, Secret
//! `stringData`, PVC required fields. Everything else is accepted as sent.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::error::FieldError;
use crate::meta::{check_name, NameRule};
use crate::resource::StorageKind;

/// The naming rule of a kind.
pub fn name_rule(kind: StorageKind) -> NameRule {
    match kind {
        StorageKind::Service => NameRule::Dns1035,
        _ => NameRule::Subdomain,
    }
}

/// Applies defaults (also to update bodies, as the apiserver's decoder does).
pub fn apply_defaults(kind: StorageKind, obj: &mut Value, ip_seq: u64) {
    match kind {
        StorageKind::Pod => default_pod(obj),
        StorageKind::Service => default_service(obj, ip_seq),
        StorageKind::Secret => default_secret(obj),
        StorageKind::PersistentVolumeClaim => {
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                spec.entry("volumeMode").or_insert(json!("Filesystem"));
            }
        }
        StorageKind::ConfigMap | StorageKind::Event | StorageKind::Lease => {}
    }
}

/// The status a freshly created object starts with (clients cannot set it on create).
pub fn initial_status(kind: StorageKind, obj: &Value) -> Option<Value> {
    match kind {
        StorageKind::Pod => Some(json!({"phase": "Pending", "qosClass": qos_class(obj)})),
        StorageKind::PersistentVolumeClaim => Some(json!({"phase": "Pending"})),
        StorageKind::Service => Some(json!({"loadBalancer": {}})),
        _ => None,
    }
}

/// `status.qosClass`: BestEffort without any requests or limits, Guaranteed
/// when every container limits cpu and memory with equal requests, else Burstable.
fn qos_class(pod: &Value) -> &'static str {
    let containers = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let res = |c: &Value, k: &str| {
        c.pointer(&format!("/resources/{k}"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    if containers
        .iter()
        .all(|c| res(c, "requests").is_empty() && res(c, "limits").is_empty())
    {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        let (req, lim) = (res(c, "requests"), res(c, "limits"));
        ["cpu", "memory"]
            .iter()
            .all(|r| lim.get(*r).is_some() && req.get(*r).is_none_or(|q| Some(q) == lim.get(*r)))
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn default_pod(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    spec.entry("restartPolicy").or_insert(json!("Always"));
    spec.entry("terminationGracePeriodSeconds")
        .or_insert(json!(30));
    spec.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    spec.entry("schedulerName")
        .or_insert(json!("default-scheduler"));
    spec.entry("securityContext").or_insert(json!({}));
    for list in ["containers", "initContainers"] {
        let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let tag = image
                .rsplit('/')
                .next()
                .unwrap_or("")
                .split_once(':')
                .map(|(_, t)| t);
            let policy = if tag.is_none_or(|t| t == "latest") {
                "Always"
            } else {
                "IfNotPresent"
            };
            c.entry("imagePullPolicy").or_insert(json!(policy));
            c.entry("terminationMessagePath")
                .or_insert(json!("/dev/termination-log"));
            c.entry("terminationMessagePolicy").or_insert(json!("File"));
            c.entry("resources").or_insert(json!({}));
        }
    }
}

fn default_service(obj: &mut Value, ip_seq: u64) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    spec.entry("type").or_insert(json!("ClusterIP"));
    spec.entry("sessionAffinity").or_insert(json!("None"));
    if spec
        .get("clusterIP")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        let ip = format!("10.96.{}.{}", (ip_seq / 250) % 250, ip_seq % 250 + 1);
        spec.insert("clusterIP".into(), json!(ip));
    }
    let ip = spec["clusterIP"].clone();
    spec.entry("clusterIPs").or_insert(json!([ip]));
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            p.entry("protocol").or_insert(json!("TCP"));
            let port = p.get("port").cloned().unwrap_or(Value::Null);
            p.entry("targetPort").or_insert(port);
        }
    }
}

fn default_secret(obj: &mut Value) {
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    map.entry("type").or_insert(json!("Opaque"));
    // stringData is write-only: merged into data (base64) and never stored.
    if let Some(Value::Object(sd)) = map.remove("stringData") {
        let data = map
            .entry("data")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(data) = data.as_object_mut() {
            for (k, v) in sd {
                let s = v.as_str().unwrap_or_default();
                data.insert(
                    k,
                    json!(base64::engine::general_purpose::STANDARD.encode(s)),
                );
            }
        }
    }
}

/// Validation on create (names are checked by the caller).
pub fn validate_create(kind: StorageKind, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match kind {
        StorageKind::Pod => {
            let containers = obj.pointer("/spec/containers").and_then(Value::as_array);
            match containers {
                None => errs.push(FieldError::required("spec.containers", "")),
                Some(cs) if cs.is_empty() => errs.push(FieldError::required("spec.containers", "")),
                Some(cs) => {
                    for (i, c) in cs.iter().enumerate() {
                        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
                        if name.is_empty() {
                            errs.push(FieldError::required(
                                format!("spec.containers[{i}].name"),
                                "",
                            ));
                        } else if let Some(msg) =
                            check_name(NameRule::Label, name).into_iter().next()
                        {
                            errs.push(FieldError::invalid(
                                format!("spec.containers[{i}].name"),
                                name,
                                msg,
                            ));
                        }
                        if c.get("image")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .is_empty()
                        {
                            errs.push(FieldError::required(
                                format!("spec.containers[{i}].image"),
                                "",
                            ));
                        }
                    }
                }
            }
        }
        StorageKind::PersistentVolumeClaim => {
            if obj
                .pointer("/spec/accessModes")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            {
                errs.push(FieldError::required(
                    "spec.accessModes",
                    "at least 1 access mode is required",
                ));
            }
            if obj.pointer("/spec/resources/requests/storage").is_none() {
                errs.push(FieldError::required("spec.resources[storage]", ""));
            }
        }
        _ => {}
    }
    errs
}

const POD_SPEC_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Blanks the mutable parts of a pod spec so the rest can be compared.
fn pod_spec_frozen(spec: Option<&Value>) -> Value {
    let mut s = spec.cloned().unwrap_or(Value::Null);
    if let Some(m) = s.as_object_mut() {
        m.remove("activeDeadlineSeconds");
        m.remove("tolerations");
        for list in ["containers", "initContainers"] {
            if let Some(cs) = m.get_mut(list).and_then(Value::as_array_mut) {
                for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                    c.remove("image");
                }
            }
        }
    }
    s
}

/// Validation of a main-resource update against the stored object.
pub fn validate_update(kind: StorageKind, old: &Value, new: &mut Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    match kind {
        StorageKind::Pod
            if pod_spec_frozen(old.get("spec")) != pod_spec_frozen(new.get("spec")) =>
        {
            errs.push(FieldError::forbidden("spec", POD_SPEC_FORBIDDEN));
        }
        StorageKind::Service => {
            let old_ip = old.pointer("/spec/clusterIP").cloned();
            let new_ip = new
                .pointer("/spec/clusterIP")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if new_ip.is_empty() {
                // An update that omits the allocated IP keeps it.
                if let (Some(spec), Some(ip)) =
                    (new.get_mut("spec").and_then(Value::as_object_mut), old_ip)
                {
                    spec.insert("clusterIPs".into(), json!([ip.clone()]));
                    spec.insert("clusterIP".into(), ip);
                }
            } else if old_ip.as_ref().and_then(Value::as_str) != Some(new_ip.as_str()) {
                errs.push(FieldError::invalid(
                    "spec.clusterIPs[0]",
                    new_ip,
                    "may not change once set",
                ));
            }
        }
        StorageKind::Secret => {
            let immutable = old
                .get("immutable")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if immutable && old.get("data") != new.get("data") {
                errs.push(FieldError::forbidden(
                    "data",
                    "field is immutable when `immutable` is set",
                ));
            }
        }
        StorageKind::PersistentVolumeClaim => {
            let strip = |v: &Value| {
                let mut s = v.get("spec").cloned().unwrap_or(Value::Null);
                if let Some(r) = s.pointer_mut("/resources").and_then(Value::as_object_mut) {
                    r.remove("requests");
                }
                if let Some(m) = s.as_object_mut() {
                    // The PV controller fills volumeName when binding.
                    m.remove("volumeName");
                }
                s
            };
            if strip(old) != strip(new) {
                errs.push(FieldError::forbidden(
                    "spec",
                    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
                ));
            }
        }
        _ => {}
    }
    errs
}
