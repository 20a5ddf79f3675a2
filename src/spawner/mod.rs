//! Spawners: the backends that run single-user servers (local processes, Kubernetes pods).
//!
//! A spawner is driven only by the leader's controller (DESIGN invariant 4). Its objects are
//! named deterministically from (cluster, user, server, generation), so a new leader finds
//! the servers the old one started (`list`) and adopts them instead of starting duplicates.

pub mod env;
pub mod kube;
pub mod local;
pub mod ports;
mod proc_scan;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Everything a spawner needs to start one server attempt.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub user: String,
    pub server: String,
    pub generation: u64,
    /// `/user/alice/` or `/user/alice/gpu/`.
    pub prefix: String,
    /// The full environment of §3.1 (without the spawner's own additions).
    pub env: BTreeMap<String, String>,
    pub user_options: Value,
    /// State recorded before the start (e.g. the port chosen for a local process), so an
    /// adopting leader knows where to look.
    pub reserved: Value,
    /// The attempt was begun before this call (its first progress event is recorded, which
    /// precedes every start): the backend may already run it, so a spawner looks for it
    /// before starting another. A fresh attempt cannot exist yet, and the local spawner
    /// then skips its scan of every process on the host.
    pub resumed: bool,
    /// Where `start` reports progress (upstream's `Spawner.progress()`), if anyone listens.
    /// Spawners send with `try_send`: a slow listener loses messages, never stalls a start.
    pub progress: Option<tokio::sync::mpsc::Sender<Progress>>,
}

/// One progress message from a starting spawner (e.g. a Kubernetes event about the pod).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub progress: Option<u8>,
    pub message: String,
}

/// Identity of a backend object, recovered from the backend itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub user: String,
    pub server: String,
    pub generation: u64,
    /// Backend state as `start` would have returned it (pid, port, pod name, ...).
    pub state: Value,
    pub target: Option<String>,
}

/// What `start` reports: where the server listens and the state to persist.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub target: String,
    pub state: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    Running,
    /// Exited (with a status if known) or gone.
    Exited(Option<i32>),
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SpawnError {
    #[error("{0}")]
    Failed(String),
    #[error("the spawner command {0:?} was not found")]
    CommandNotFound(String),
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A backend. Object-safe so the controller holds `Arc<dyn Spawner>`.
pub trait Spawner: Send + Sync + 'static {
    /// Short name for `GET /hub/api/info` and logs.
    fn kind(&self) -> &'static str;

    /// State to record before starting (chosen ports, pod names), in the proposer's hands so
    /// that it is replicated before any object exists.
    fn reserve(&self, user: &str, server: &str, generation: u64) -> Value;

    /// Starts the server (or finds the one already started for this attempt).
    fn start(&self, spec: SpawnSpec) -> BoxFuture<'_, Result<Started, SpawnError>>;

    /// Whether the server described by `state` is still running.
    fn poll<'a>(&'a self, state: &'a Value) -> BoxFuture<'a, Poll>;

    /// Stops the server; `grace` before it is killed. Idempotent.
    fn stop<'a>(
        &'a self,
        state: &'a Value,
        grace: Duration,
    ) -> BoxFuture<'a, Result<(), SpawnError>>;

    /// Every server object this backend runs for this cluster (adoption, orphan cleanup).
    fn list(&self) -> BoxFuture<'_, Vec<Found>>;

    /// `(user, server, generation)` of every object `list` would return. The controller
    /// asks every round (about every 100 ms while state changes), so a backend with a cheap
    /// way to name its objects (the pod cache's labels) skips building their states.
    fn list_keys(&self) -> BoxFuture<'_, Vec<(String, String, u64)>> {
        Box::pin(async move {
            self.list()
                .await
                .into_iter()
                .map(|f| (f.user, f.server, f.generation))
                .collect()
        })
    }

    /// Whether `list` reflects the backend. A watch cache that has not finished its first
    /// list answers "nothing runs", which must not be taken as "every server exited".
    fn synced(&self) -> bool {
        true
    }
}

/// Spawner settings shared by every backend (`[spawner]`), named after upstream's traitlets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpawnerConfig {
    /// `local` (processes on this host) or `kubernetes` (a pod per server).
    pub kind: String,
    /// `Spawner.cmd`.
    pub cmd: Vec<String>,
    /// `Spawner.args`.
    pub args: Vec<String>,
    /// `Spawner.environment`: applied last, overrides everything.
    pub environment: BTreeMap<String, String>,
    /// `Spawner.env_keep`: copied from the hub's own environment.
    pub env_keep: Vec<String>,
    pub default_url: Option<String>,
    pub notebook_dir: Option<String>,
    pub start_timeout_s: u64,
    pub http_timeout_s: u64,
    pub poll_interval_s: u64,
    pub slow_spawn_timeout_s: u64,
    pub slow_stop_timeout_s: u64,
    /// Seconds between SIGTERM and SIGKILL on stop.
    pub stop_grace_s: u64,
    pub local: local::LocalConfig,
    /// `[spawner.kubernetes]` (docs/kubernetes-spawner.md), used with `kind = "kubernetes"`.
    #[serde(default)]
    pub kubernetes: self::kube::KubeConfig,
}

impl Default for SpawnerConfig {
    fn default() -> Self {
        SpawnerConfig {
            kind: "local".into(),
            cmd: vec!["jupyterhub-singleuser".into()],
            args: Vec::new(),
            environment: BTreeMap::new(),
            env_keep: [
                "PATH",
                "PYTHONPATH",
                "CONDA_ROOT",
                "CONDA_DEFAULT_ENV",
                "VIRTUAL_ENV",
                "LANG",
                "LC_ALL",
                "JUPYTERHUB_SINGLEUSER_APP",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            default_url: None,
            notebook_dir: None,
            start_timeout_s: 60,
            http_timeout_s: 30,
            poll_interval_s: 30,
            slow_spawn_timeout_s: 10,
            slow_stop_timeout_s: 10,
            stop_grace_s: 5,
            local: local::LocalConfig::default(),
            kubernetes: self::kube::KubeConfig::default(),
        }
    }
}

impl SpawnerConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.kind != "local" && self.kind != "kubernetes" {
            return Err(format!(
                "spawner.kind {:?} is not supported (use \"local\" or \"kubernetes\")",
                self.kind
            ));
        }
        if self.cmd.is_empty() {
            return Err("spawner.cmd must not be empty".into());
        }
        if self.start_timeout_s == 0 || self.http_timeout_s == 0 {
            return Err("spawner.start_timeout_s and http_timeout_s must be positive".into());
        }
        if self.kind == "kubernetes" {
            self.kubernetes.validate()?;
        }
        self.local.validate()
    }
}
