//! Manifests (pod, PVC, service) from the settings and one spawn, as KubeSpawner 7's
//! `make_pod`/`make_pvc`/`make_service` build them. Pure: no client, no clock.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, LocalObjectReference, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Pod, PodSecurityContext, PodSpec,
    ResourceRequirements, SecurityContext, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::config::{parse_bytes, KubeConfig};
pub use super::env::{pod_env, sorted_env};
use super::names::{label_value, Slugs};

/// Annotation naming the rafthub cluster that owns a pod (pods of other hubs are left alone).
pub const ANN_CLUSTER: &str = "rafthub/cluster";
/// Annotation naming the spawn attempt (the server's generation) a pod belongs to.
pub const ANN_GENERATION: &str = "rafthub/generation";
pub const ANN_USERNAME: &str = "hub.jupyter.org/username";
pub const ANN_SERVERNAME: &str = "hub.jupyter.org/servername";
/// Upstream's `component_label`; the pod reflector selects on `component=` this.
pub const COMPONENT: &str = "singleuser-server";
pub const CONTAINER: &str = "notebook";

/// Where one server's objects live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    pub namespace: String,
    pub pod: String,
    /// `None` without dynamic storage.
    pub pvc: Option<String>,
    /// `{pod}.{namespace}.svc.cluster.local` (KubeSpawner's `dns_name_template`).
    pub dns: String,
}

impl Names {
    pub fn new(cfg: &KubeConfig, slugs: &Slugs, namespace: &str) -> Names {
        let pod = slugs.expand(&cfg.pod_name_template);
        Names {
            namespace: namespace.to_string(),
            dns: format!("{pod}.{namespace}.svc.cluster.local"),
            pvc: cfg
                .storage
                .dynamic()
                .then(|| slugs.expand(&cfg.storage.pvc_name_template)),
            pod,
        }
    }

    /// Spawner state in KubeSpawner 7's keys.
    pub fn state(&self) -> Value {
        let mut s = serde_json::json!({
            "pod_name": self.pod,
            "namespace": self.namespace,
            "dns_name": self.dns,
        });
        if let Some(p) = &self.pvc {
            s["pvc_name"] = Value::String(p.clone());
        }
        s
    }
}

/// Everything one pod is built from.
#[derive(Debug, Clone)]
pub struct PodInputs<'a> {
    /// The settings with the user's profile applied.
    pub cfg: &'a KubeConfig,
    pub slugs: &'a Slugs,
    pub names: &'a Names,
    pub user: &'a str,
    pub server: &'a str,
    pub cluster_id: &'a str,
    pub generation: u64,
    /// `Spawner.cmd + Spawner.args`, passed as the container's `args` (the image's
    /// entrypoint, e.g. tini, stays in front as upstream).
    pub cmd: Vec<String>,
    /// The final environment (see [`pod_env`]).
    pub env: BTreeMap<String, String>,
}

/// Kubernetes quantity of a core count: `1`, `0.5`.
fn cpu_quantity(f: f64) -> Quantity {
    Quantity(format!("{f}"))
}

/// Expands the template fields in every string of a Kubernetes object (KubeSpawner's
/// `_expand_all`), including `{pod_name}`, `{pvc_name}` and `{namespace}`.
fn expand_all<T: Serialize + DeserializeOwned + Clone>(obj: &T, slugs: &Slugs, names: &Names) -> T {
    fn walk(v: &mut Value, f: &dyn Fn(&str) -> String) {
        match v {
            Value::String(s) => *s = f(s),
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, f)),
            Value::Object(o) => o.values_mut().for_each(|x| walk(x, f)),
            _ => {}
        }
    }
    let Ok(mut v) = serde_json::to_value(obj) else {
        return obj.clone();
    };
    let f = |s: &str| {
        let s = s
            .replace("{pod_name}", &names.pod)
            .replace("{pvc_name}", names.pvc.as_deref().unwrap_or(""))
            .replace("{namespace}", &names.namespace);
        slugs.expand(&s)
    };
    walk(&mut v, &f);
    serde_json::from_value(v).unwrap_or_else(|_| obj.clone())
}

/// Labels shared by every object of a server (`_build_common_labels`).
fn common_labels(cfg: &KubeConfig, user: &str, slugs: &Slugs) -> BTreeMap<String, String> {
    let mut l = BTreeMap::new();
    l.insert("hub.jupyter.org/username".to_string(), label_value(user));
    for (k, v) in &cfg.extra_labels {
        l.insert(k.clone(), slugs.expand(v));
    }
    for (k, v) in [
        ("app.kubernetes.io/name", "jupyterhub"),
        ("app.kubernetes.io/managed-by", "rafthub"),
        ("app", "jupyterhub"),
        ("heritage", "jupyterhub"),
    ] {
        l.insert(k.to_string(), v.to_string());
    }
    l
}

/// Pod labels (`_build_pod_labels`): what z2jh's network policies and the culler select on.
pub fn pod_labels(
    cfg: &KubeConfig,
    user: &str,
    server: &str,
    slugs: &Slugs,
) -> BTreeMap<String, String> {
    let mut l = common_labels(cfg, user, slugs);
    l.insert("app.kubernetes.io/component".into(), COMPONENT.into());
    l.insert("component".into(), COMPONENT.into());
    l.insert("hub.jupyter.org/servername".into(), label_value(server));
    l
}

fn annotations(
    cfg: &KubeConfig,
    user: &str,
    server: &str,
    slugs: &Slugs,
) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert(ANN_USERNAME.to_string(), user.to_string());
    if !server.is_empty() {
        a.insert(ANN_SERVERNAME.to_string(), server.to_string());
    }
    a.insert(
        "hub.jupyter.org/jupyterhub-version".into(),
        crate::JUPYTERHUB_VERSION.into(),
    );
    for (k, v) in &cfg.extra_annotations {
        a.insert(k.clone(), slugs.expand(v));
    }
    a
}

/// The pod of one spawn attempt.
pub fn build_pod(i: &PodInputs<'_>) -> Pod {
    let cfg = i.cfg;
    let mut ann = annotations(cfg, i.user, i.server, i.slugs);
    ann.insert(ANN_CLUSTER.into(), i.cluster_id.into());
    ann.insert(ANN_GENERATION.into(), i.generation.to_string());

    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    if let Some(c) = cfg.cpu_guarantee {
        requests.insert("cpu".to_string(), cpu_quantity(c));
    }
    if let Some(m) = cfg
        .mem_guarantee
        .as_deref()
        .and_then(|m| parse_bytes(m).ok())
    {
        requests.insert("memory".to_string(), Quantity(m.to_string()));
    }
    if let Some(c) = cfg.cpu_limit {
        limits.insert("cpu".to_string(), cpu_quantity(c));
    }
    if let Some(m) = cfg.mem_limit.as_deref().and_then(|m| parse_bytes(m).ok()) {
        limits.insert("memory".to_string(), Quantity(m.to_string()));
    }

    let mut volumes: Vec<Volume> = Vec::new();
    let mut mounts: Vec<VolumeMount> = Vec::new();
    if let Some(pvc) = &i.names.pvc {
        // z2jh's home volume: `volume-{user_server}` from the server's claim.
        let name = i.slugs.expand("volume-{user_server}");
        volumes.push(Volume {
            name: name.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: pvc.clone(),
                read_only: None,
            }),
            ..Volume::default()
        });
        mounts.push(VolumeMount {
            name,
            mount_path: cfg.storage.home_mount_path.clone(),
            ..VolumeMount::default()
        });
    }
    volumes.extend(cfg.volumes.iter().map(|v| expand_all(v, i.slugs, i.names)));
    mounts.extend(
        cfg.volume_mounts
            .iter()
            .map(|v| expand_all(v, i.slugs, i.names)),
    );

    let csc = SecurityContext {
        run_as_user: cfg.uid,
        run_as_group: cfg.gid,
        allow_privilege_escalation: Some(false),
        ..SecurityContext::default()
    };
    let notebook = Container {
        name: CONTAINER.into(),
        image: Some(cfg.image.clone()),
        image_pull_policy: Some(cfg.image_pull_policy.clone()),
        args: Some(i.cmd.clone()),
        ports: Some(vec![ContainerPort {
            name: Some("notebook-port".into()),
            container_port: i32::from(cfg.port),
            ..ContainerPort::default()
        }]),
        env: Some(sorted_env(&i.env)),
        lifecycle: cfg.lifecycle_hooks.clone(),
        resources: Some(ResourceRequirements {
            requests: Some(requests),
            limits: Some(limits),
            ..ResourceRequirements::default()
        }),
        volume_mounts: Some(mounts),
        security_context: Some(csc),
        ..Container::default()
    };
    let mut containers = vec![notebook];
    containers.extend(
        cfg.extra_containers
            .iter()
            .map(|c| expand_all(c, i.slugs, i.names)),
    );

    let spec = PodSpec {
        restart_policy: Some("OnFailure".into()),
        containers,
        init_containers: (!cfg.init_containers.is_empty()).then(|| {
            cfg.init_containers
                .iter()
                .map(|c| expand_all(c, i.slugs, i.names))
                .collect()
        }),
        image_pull_secrets: (!cfg.image_pull_secrets.is_empty()).then(|| {
            cfg.image_pull_secrets
                .iter()
                .map(|n| LocalObjectReference { name: n.clone() })
                .collect()
        }),
        node_selector: (!cfg.node_selector.is_empty()).then(|| cfg.node_selector.clone()),
        tolerations: (!cfg.tolerations.is_empty()).then(|| cfg.tolerations.clone()),
        affinity: cfg.affinity.clone().filter(|a| {
            a.node_affinity.is_some() || a.pod_affinity.is_some() || a.pod_anti_affinity.is_some()
        }),
        security_context: cfg.fs_gid.map(|g| PodSecurityContext {
            fs_group: Some(g),
            ..PodSecurityContext::default()
        }),
        service_account_name: cfg.service_account.as_deref().map(|s| i.slugs.expand(s)),
        automount_service_account_token: Some(cfg.automount_service_account_token),
        volumes: Some(volumes),
        ..PodSpec::default()
    };
    Pod {
        metadata: ObjectMeta {
            name: Some(i.names.pod.clone()),
            namespace: Some(i.names.namespace.clone()),
            labels: Some(pod_labels(cfg, i.user, i.server, i.slugs)),
            annotations: Some(ann),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// The server's claim (`make_pvc`); labelled `component=singleuser-storage`.
pub fn build_pvc(
    cfg: &KubeConfig,
    name: &str,
    user: &str,
    server: &str,
    slugs: &Slugs,
) -> PersistentVolumeClaim {
    let mut labels = common_labels(cfg, user, slugs);
    labels.insert("app.kubernetes.io/component".into(), COMPONENT.into());
    labels.insert("component".into(), "singleuser-storage".into());
    let mut ann = annotations(cfg, user, server, slugs);
    if let Some(sc) = &cfg.storage.storage_class {
        ann.insert("volume.beta.kubernetes.io/storage-class".into(), sc.clone());
    }
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(labels),
            annotations: Some(ann),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(cfg.storage.access_modes.clone()),
            storage_class_name: cfg.storage.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(
                    [(
                        "storage".to_string(),
                        Quantity(cfg.storage.capacity.clone()),
                    )]
                    .into(),
                ),
                limits: None,
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        status: None,
    }
}

/// The optional per-server Service (`services_enabled`), owned by the pod so Kubernetes
/// removes it with the pod.
pub fn build_service(i: &PodInputs<'_>, pod_uid: &str) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(i.names.pod.clone()),
            labels: Some(common_labels(i.cfg, i.user, i.slugs)),
            annotations: Some(annotations(i.cfg, i.user, i.server, i.slugs)),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Pod".into(),
                name: i.names.pod.clone(),
                uid: pod_uid.to_string(),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: i32::from(i.cfg.port),
                target_port: Some(IntOrString::Int(i32::from(i.cfg.port))),
                ..ServicePort::default()
            }]),
            selector: Some(pod_labels(i.cfg, i.user, i.server, i.slugs)),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

#[cfg(test)]
#[path = "pod_tests.rs"]
mod tests;
