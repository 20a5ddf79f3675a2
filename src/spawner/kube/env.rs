//! The environment of a server's container: the hub's (§3.1) adapted for a pod the way
//! KubeSpawner adapts it, and ordered so `$(NAME)` references resolve. Pure.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::EnvVar;

use super::config::{parse_bytes, KubeConfig};
use super::names::Slugs;
use crate::spawner::SpawnerConfig;

/// Python's `str(float)`: `1.0`, `0.5`.
fn py_float(f: f64) -> String {
    if f.fract() == 0.0 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// The pod's environment: the hub's (§3.1) minus the hub's own `env_keep` variables (pods
/// run another image, so KubeSpawner keeps none), plus what KubeSpawner and the base
/// Spawner add for pods, with `[spawner] environment` applied last and expanded with the
/// slug fields as KubeSpawner does.
pub fn pod_env(
    hub_env: &BTreeMap<String, String>,
    scfg: &SpawnerConfig,
    cfg: &KubeConfig,
    slugs: &Slugs,
    prefix: &str,
) -> BTreeMap<String, String> {
    let mut env = hub_env.clone();
    for k in &scfg.env_keep {
        env.remove(k);
    }
    env.insert(
        "JUPYTERHUB_SERVICE_URL".into(),
        format!("http://0.0.0.0:{}{prefix}", cfg.port),
    );
    if let Some(m) = cfg.mem_limit.as_deref().and_then(|m| parse_bytes(m).ok()) {
        env.insert("MEM_LIMIT".into(), m.to_string());
    }
    if let Some(m) = cfg
        .mem_guarantee
        .as_deref()
        .and_then(|m| parse_bytes(m).ok())
    {
        env.insert("MEM_GUARANTEE".into(), m.to_string());
    }
    if let Some(c) = cfg.cpu_limit {
        env.insert("CPU_LIMIT".into(), py_float(c));
    }
    if let Some(c) = cfg.cpu_guarantee {
        env.insert("CPU_GUARANTEE".into(), py_float(c));
    }
    env.insert("JUPYTER_IMAGE_SPEC".into(), cfg.image.clone());
    env.insert("JUPYTER_IMAGE".into(), cfg.image.clone());
    for (k, v) in &scfg.environment {
        env.insert(k.clone(), slugs.expand_fields(v));
    }
    env
}

/// Upstream's env ordering: by name, except that a variable referring to others with
/// `$(NAME)` comes after them, so Kubernetes can expand the reference.
pub fn sorted_env(env: &BTreeMap<String, String>) -> Vec<EnvVar> {
    let deps = |name: &str, v: &str| -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut rest = v;
        while let Some(i) = rest.find("$(") {
            let after = &rest[i + 2..];
            match after.find(')') {
                Some(j) => {
                    if j > 0 && &after[..j] != name {
                        out.insert(after[..j].to_string());
                    }
                    rest = &after[j + 1..];
                }
                None => break,
            }
        }
        out
    };
    let mut pending: BTreeMap<&String, BTreeSet<String>> =
        env.iter().map(|(k, v)| (k, deps(k, v))).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order: Vec<&String> = Vec::new();
    // Each pass takes at least one variable or ends: at most `env.len()` passes.
    for _ in 0..=env.len() {
        let ready: Vec<&String> = pending
            .iter()
            .filter(|(_, d)| d.is_subset(&done))
            .map(|(k, _)| *k)
            .collect();
        if ready.is_empty() {
            break;
        }
        for k in ready {
            pending.remove(k);
            done.insert(k.clone());
            order.push(k);
        }
    }
    // Circular references: whatever is left, by name.
    order.extend(pending.keys().copied());
    order
        .into_iter()
        .map(|k| EnvVar {
            name: k.clone(),
            value: Some(env[k].clone()),
            ..EnvVar::default()
        })
        .collect()
}
