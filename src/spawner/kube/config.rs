//! `[spawner.kubernetes]`: the pod settings of the Kubernetes spawner, named after
//! KubeSpawner's traitlets (docs/kubernetes-spawner.md is the contract; the Helm chart writes
//! exactly these keys). Values Kubernetes defines as objects are typed with k8s-openapi, so a
//! malformed toleration or volume is rejected when the config is loaded, not at spawn time.

use std::collections::BTreeMap;

pub use super::profiles::{Choice, Profile, ProfileOption, UnlistedChoice};
use k8s_openapi::api::core::v1::{Affinity, Container, Lifecycle, Toleration, Volume, VolumeMount};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KubeConfig {
    /// Namespace of the pods; default: the client's (in-cluster: the hub pod's namespace;
    /// with a kubeconfig: its context's), else `default`.
    pub namespace: Option<String>,
    pub pod_name_template: String,
    pub image: String,
    pub image_pull_policy: String,
    pub image_pull_secrets: Vec<String>,
    pub port: u16,
    /// Host the hub connects to instead of the pod IP (KubeSpawner's `pod_connect_ip`;
    /// templates allowed), e.g. a per-pod DNS name behind a headless service.
    pub pod_connect_ip: Option<String>,
    pub cpu_limit: Option<f64>,
    pub cpu_guarantee: Option<f64>,
    pub mem_limit: Option<String>,
    pub mem_guarantee: Option<String>,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub affinity: Option<Affinity>,
    pub extra_labels: BTreeMap<String, String>,
    pub extra_annotations: BTreeMap<String, String>,
    pub uid: Option<i64>,
    pub gid: Option<i64>,
    pub fs_gid: Option<i64>,
    pub service_account: Option<String>,
    pub automount_service_account_token: bool,
    pub lifecycle_hooks: Option<Lifecycle>,
    pub init_containers: Vec<Container>,
    pub extra_containers: Vec<Container>,
    pub volumes: Vec<Volume>,
    pub volume_mounts: Vec<VolumeMount>,
    pub services_enabled: bool,
    pub storage: StorageConfig,
    pub profile_list: Vec<Profile>,
    pub delete_grace_period_s: u64,
    pub events_max_age_s: u64,
    pub events_cap: usize,
}

impl Default for KubeConfig {
    fn default() -> Self {
        KubeConfig {
            namespace: None,
            pod_name_template: "jupyter-{user_server}".into(),
            image: "quay.io/jupyterhub/k8s-singleuser-sample:4.2.0".into(),
            image_pull_policy: "IfNotPresent".into(),
            image_pull_secrets: Vec::new(),
            port: 8888,
            pod_connect_ip: None,
            cpu_limit: None,
            cpu_guarantee: None,
            mem_limit: None,
            mem_guarantee: None,
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            affinity: None,
            extra_labels: BTreeMap::new(),
            extra_annotations: BTreeMap::new(),
            uid: Some(1000),
            gid: None,
            fs_gid: Some(100),
            service_account: None,
            automount_service_account_token: false,
            lifecycle_hooks: None,
            init_containers: Vec::new(),
            extra_containers: Vec::new(),
            volumes: Vec::new(),
            volume_mounts: Vec::new(),
            services_enabled: false,
            storage: StorageConfig::default(),
            profile_list: Vec::new(),
            delete_grace_period_s: 1,
            events_max_age_s: 3600,
            events_cap: 10_000,
        }
    }
}

/// `singleuser.storage`: one PVC per server, kept across stops.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// `dynamic` (a PVC per server) or `none`.
    #[serde(rename = "type")]
    pub kind: String,
    pub capacity: String,
    pub storage_class: Option<String>,
    pub access_modes: Vec<String>,
    pub pvc_name_template: String,
    pub home_mount_path: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            kind: "dynamic".into(),
            capacity: "10Gi".into(),
            storage_class: None,
            access_modes: vec!["ReadWriteOnce".into()],
            pvc_name_template: "claim-{user_server}".into(),
            home_mount_path: "/home/jovyan".into(),
        }
    }
}

impl StorageConfig {
    pub fn dynamic(&self) -> bool {
        self.kind == "dynamic"
    }
}

/// `ByteSpecification`: a number of bytes with an optional K/M/G/T suffix (powers of 1024),
/// as upstream parses `mem_limit`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let bad = || format!("{s:?} is not a byte size like 512M or 2G");
    let (num, mult) = match s.chars().last() {
        Some('K') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M') => (&s[..s.len() - 1], 1 << 20),
        Some('G') => (&s[..s.len() - 1], 1 << 30),
        Some('T') => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: f64 = num.parse().map_err(|_| bad())?;
    if !n.is_finite() || n < 0.0 {
        return Err(bad());
    }
    Ok((n * mult as f64) as u64)
}

impl KubeConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.image.is_empty() {
            return Err("spawner.kubernetes.image must not be empty".into());
        }
        if self.port == 0 {
            return Err("spawner.kubernetes.port must be positive".into());
        }
        if !self.pod_name_template.contains("{user")
            || !self.storage.pvc_name_template.contains("{user")
        {
            return Err(
                "spawner.kubernetes.pod_name_template and storage.pvc_name_template must name the user ({user_server} or {username})".into(),
            );
        }
        if !matches!(self.storage.kind.as_str(), "dynamic" | "none") {
            return Err(format!(
                "spawner.kubernetes.storage.type {:?} is not supported (use \"dynamic\" or \"none\")",
                self.storage.kind
            ));
        }
        for m in [&self.mem_limit, &self.mem_guarantee].into_iter().flatten() {
            parse_bytes(m).map_err(|e| format!("spawner.kubernetes: {e}"))?;
        }
        for c in [self.cpu_limit, self.cpu_guarantee].into_iter().flatten() {
            if !c.is_finite() || c <= 0.0 {
                return Err("spawner.kubernetes.cpu_limit/cpu_guarantee must be positive".into());
            }
        }
        if self.events_cap == 0 {
            return Err("spawner.kubernetes.events_cap must be positive".into());
        }
        let mut slugs: Vec<String> = self.profile_list.iter().map(Profile::slug).collect();
        slugs.sort();
        if slugs.windows(2).any(|w| w[0] == w[1]) {
            return Err("spawner.kubernetes.profile_list has two profiles with one slug".into());
        }
        self.check_profiles()
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
