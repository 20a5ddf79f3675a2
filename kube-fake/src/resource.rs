//! The resources the fake serves and how a URL path maps onto them.
//!
//! Storage and API are kept apart on purpose: core/v1 `events` and
//! `events.k8s.io/v1` `events` are two *views* of one stored object, exactly
//! as in kube-apiserver. `kube::runtime::events::Recorder` writes the new
//! group while KubeSpawner-style progress reads the old one, and a fake that
//! stored them separately would let that mismatch pass unnoticed.

use crate::error::ApiError;

/// What is stored; one keyspace (and one etcd prefix) each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StorageKind {
    /// core/v1 Pod.
    Pod,
    /// core/v1 PersistentVolumeClaim.
    PersistentVolumeClaim,
    /// core/v1 Service.
    Service,
    /// core/v1 Secret.
    Secret,
    /// core/v1 ConfigMap.
    ConfigMap,
    /// Events, stored in core/v1 shape and served in both groups.
    Event,
    /// coordination.k8s.io/v1 Lease (for Lease-based leadership experiments).
    Lease,
}

/// How stored objects are shown through one API resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// As stored.
    Native,
    /// core/v1 Event converted to events.k8s.io/v1 (`regarding`, `note`, ...).
    EventsV1,
}

/// One served API resource (a group/version/plural triple).
#[derive(Debug, PartialEq, Eq)]
pub struct ApiResource {
    /// API group; empty for core.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// URL plural, e.g. `pods`.
    pub plural: &'static str,
    /// `kind` of single objects.
    pub kind: &'static str,
    /// The keyspace it reads and writes.
    pub storage: StorageKind,
    /// Conversion applied on the way in and out.
    pub view: View,
    /// Whether a `/status` subresource exists (and the main resource ignores `.status`).
    pub has_status: bool,
    /// Whether `metadata.generation` is maintained (bumped on spec changes).
    pub tracks_generation: bool,
    /// Whether DELETE answers with the deleted object instead of a `Status`
    /// (`ReturnDeletedObject` in the Go registry: true for pods and services).
    pub return_deleted_object: bool,
}

impl ApiResource {
    /// `apiVersion` of objects of this resource.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

const fn core(
    plural: &'static str,
    kind: &'static str,
    storage: StorageKind,
    status: bool,
) -> ApiResource {
    ApiResource {
        group: "",
        version: "v1",
        plural,
        kind,
        storage,
        view: View::Native,
        has_status: status,
        // Since 1.33 pods carry metadata.generation; core services and claims do not.
        tracks_generation: matches!(storage, StorageKind::Pod),
        return_deleted_object: matches!(storage, StorageKind::Pod | StorageKind::Service),
    }
}

/// Every resource the fake serves.
pub static RESOURCES: &[ApiResource] = &[
    core("pods", "Pod", StorageKind::Pod, true),
    core(
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        StorageKind::PersistentVolumeClaim,
        true,
    ),
    core("services", "Service", StorageKind::Service, true),
    core("secrets", "Secret", StorageKind::Secret, false),
    core("configmaps", "ConfigMap", StorageKind::ConfigMap, false),
    core("events", "Event", StorageKind::Event, false),
    ApiResource {
        group: "events.k8s.io",
        version: "v1",
        plural: "events",
        kind: "Event",
        storage: StorageKind::Event,
        view: View::EventsV1,
        has_status: false,
        tracks_generation: false,
        return_deleted_object: false,
    },
    ApiResource {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        kind: "Lease",
        storage: StorageKind::Lease,
        view: View::Native,
        has_status: false,
        tracks_generation: false,
        return_deleted_object: false,
    },
];

/// The core/v1 resource of a storage kind (the canonical, stored shape).
pub fn native(kind: StorageKind) -> &'static ApiResource {
    RESOURCES
        .iter()
        .find(|r| r.storage == kind && r.view == View::Native)
        .expect("every kind has a native view")
}

/// Looks up a resource by plural and optional group (`""` = core); used by the test-side API.
pub fn by_plural(group: &str, plural: &str) -> Option<&'static ApiResource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

/// Looks a resource up from a test-facing name: `pods` or `events.events.k8s.io`.
pub fn lookup(name: &str) -> Option<&'static ApiResource> {
    match name.split_once('.') {
        Some((plural, group)) => by_plural(group, plural),
        None => by_plural("", name),
    }
}

/// A parsed resource URL.
#[derive(Debug, Clone)]
pub struct Route {
    /// Which resource.
    pub resource: &'static ApiResource,
    /// Namespace from the path; `None` for all-namespaces requests.
    pub namespace: Option<String>,
    /// Object name; `None` for collection requests.
    pub name: Option<String>,
    /// `Some("status")` for the status subresource.
    pub subresource: Option<String>,
}

/// Parses `/api/v1/...` and `/apis/{group}/{version}/...` paths.
pub fn parse_path(path: &str) -> Result<Route, ApiError> {
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(not_found()),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_string()), rest),
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some((*name).to_string()), None),
        [plural, name, sub] => (*plural, Some((*name).to_string()), Some((*sub).to_string())),
        _ => return Err(not_found()),
    };
    let resource = RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
        .ok_or_else(not_found)?;
    if name.is_some() && namespace.is_none() {
        // Every served resource is namespaced; `/api/v1/pods/x` does not exist.
        return Err(not_found());
    }
    match sub.as_deref() {
        None => {}
        Some("status") if resource.has_status => {}
        Some(_) => return Err(not_found()),
    }
    Ok(Route {
        resource,
        namespace,
        name,
        subresource: sub,
    })
}
