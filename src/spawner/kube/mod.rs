//! The Kubernetes spawner: a pod (and a PVC, optionally a Service) per server, named and
//! labelled as KubeSpawner 7 does, so zero-to-jupyterhub's user PVCs are reused and its
//! network policies and tools keep working.
//!
//! Adoption across leaders: a pod carries `rafthub/cluster` and `rafthub/generation`
//! annotations, and its name is a pure function of (user, server) that `reserve` hands to the
//! controller, which replicates it before the pod exists. A new leader lists the warm pod
//! cache (no API call per round), sees the pod of the attempt it inherits and `start` waits
//! for that pod instead of creating another. A create whose answer was lost comes back as
//! 409 on retry and is recognised as the same attempt's pod, so it is adopted, not replaced;
//! any other pod under the name (an older attempt, a z2jh pod) is deleted first, as upstream.
//!
//! Layout: `config` (settings), `names` (slugs and templates), `env` and `pod` (the
//! container's environment, manifests), `status`
//! (pure judgements of pods and events), `reflector` (the watches), `start` (the API calls
//! of start and stop).

pub mod config;
pub mod env;
pub mod names;
pub mod pod;
pub mod profiles;
pub mod reflector;
mod start;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

pub use config::KubeConfig;
use names::Slugs;
use pod::Names;
use reflector::Reflectors;

use super::{BoxFuture, Found, Poll, SpawnError, SpawnSpec, Spawner, SpawnerConfig, Started};

pub struct KubeSpawner {
    client: kube::Client,
    cfg: KubeConfig,
    scfg: SpawnerConfig,
    cluster_id: String,
    namespace: String,
    refl: Arc<Reflectors>,
}

impl Drop for KubeSpawner {
    fn drop(&mut self) {
        self.refl.abort();
    }
}

impl KubeSpawner {
    /// Starts the watches at once (every replica keeps them warm). Must run inside a tokio
    /// runtime.
    pub fn new(client: kube::Client, scfg: SpawnerConfig, cluster_id: String) -> KubeSpawner {
        let cfg = scfg.kubernetes.clone();
        let namespace = cfg
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string());
        let refl = Reflectors::start(
            client.clone(),
            &namespace,
            cfg.events_max_age_s,
            cfg.events_cap,
        );
        KubeSpawner {
            client,
            cfg,
            scfg,
            cluster_id,
            namespace,
            refl,
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The warm caches (tests and metrics look at them).
    pub fn reflectors(&self) -> &Arc<Reflectors> {
        &self.refl
    }

    fn names(&self, user: &str, server: &str) -> Names {
        Names::new(&self.cfg, &Slugs::new(user, server), &self.namespace)
    }

    /// `http://host:port`: `pod_connect_ip` if set, the service's DNS name with
    /// `services_enabled`, else the pod IP (upstream's `_get_pod_url`).
    fn target(
        &self,
        cfg: &KubeConfig,
        slugs: &Slugs,
        names: &Names,
        ip: &str,
        port: u16,
    ) -> String {
        let host = match (&cfg.pod_connect_ip, cfg.services_enabled) {
            (Some(h), _) => slugs.expand_fields(h),
            (None, true) => names.dns.clone(),
            (None, false) if ip.contains(':') => format!("[{ip}]"),
            (None, false) => ip.to_string(),
        };
        format!("http://{host}:{port}")
    }

    fn state_names(&self, state: &Value) -> Option<(String, String, Option<String>)> {
        let pod = state.get("pod_name")?.as_str()?.to_string();
        let ns = state
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or(&self.namespace)
            .to_string();
        let uid = state
            .get("pod_uid")
            .and_then(Value::as_str)
            .map(str::to_string);
        Some((ns, pod, uid))
    }

    fn start_timeout(&self) -> Duration {
        Duration::from_secs(self.scfg.start_timeout_s)
    }
}

impl Spawner for KubeSpawner {
    fn kind(&self) -> &'static str {
        "kubernetes"
    }

    fn reserve(&self, user: &str, server: &str, _generation: u64) -> Value {
        self.names(user, server).state()
    }

    fn start(&self, spec: SpawnSpec) -> BoxFuture<'_, Result<Started, SpawnError>> {
        Box::pin(self.start_pod(spec))
    }

    fn poll<'a>(&'a self, state: &'a Value) -> BoxFuture<'a, Poll> {
        Box::pin(async move {
            let Some((ns, pod, uid)) = self.state_names(state) else {
                return Poll::Exited(None);
            };
            let info = if ns == self.namespace {
                self.refl.pod(&pod)
            } else {
                self.get_pod(&ns, &pod).await
            };
            let info = info.filter(|p| uid.as_deref().is_none_or(|u| u == p.uid));
            status::poll(info.as_ref())
        })
    }

    fn stop<'a>(
        &'a self,
        state: &'a Value,
        _grace: Duration,
    ) -> BoxFuture<'a, Result<(), SpawnError>> {
        Box::pin(async move {
            let Some((ns, pod, uid)) = self.state_names(state) else {
                return Ok(());
            };
            self.delete_pod(&ns, &pod, uid.as_deref(), self.cfg.delete_grace_period_s)
                .await?;
            let wait = self
                .start_timeout()
                .max(Duration::from_secs(self.cfg.delete_grace_period_s + 30));
            self.wait_gone(
                &ns,
                &pod,
                uid.as_deref(),
                tokio::time::Instant::now() + wait,
            )
            .await
        })
    }

    fn list_keys(&self) -> BoxFuture<'_, Vec<(String, String, u64)>> {
        Box::pin(async move {
            self.refl.with_pods(|pods| {
                pods.filter(|p| p.live_for(&self.cluster_id))
                    .filter_map(|p| Some((p.user.clone()?, p.server.clone(), p.generation?)))
                    .collect()
            })
        })
    }

    fn list(&self) -> BoxFuture<'_, Vec<Found>> {
        Box::pin(async move {
            self.refl.with_pods(|pods| {
                pods.filter(|p| p.live_for(&self.cluster_id))
                    .filter_map(|p| {
                        let (user, generation) = (p.user.clone()?, p.generation?);
                        let slugs = Slugs::new(&user, &p.server);
                        let names = Names {
                            namespace: self.namespace.clone(),
                            pod: p.name.clone(),
                            pvc: None,
                            dns: format!("{}.{}.svc.cluster.local", p.name, self.namespace),
                        };
                        let target = p.running().then(|| {
                            let ip = p.pod_ip.as_deref().unwrap_or_default();
                            let port = p.port.unwrap_or(self.cfg.port);
                            self.target(&self.cfg, &slugs, &names, ip, port)
                        });
                        let mut state = names.state();
                        state["pod_uid"] = json!(p.uid);
                        Some(Found {
                            user,
                            server: p.server.clone(),
                            generation,
                            state,
                            target,
                        })
                    })
                    .collect()
            })
        })
    }

    fn synced(&self) -> bool {
        self.refl.synced()
    }
}
