//! The API calls of a start (PVC, pod with upstream's 409 handling, Service, waiting for
//! the pod) and of a stop (delete with a grace period, wait for it to go). Every loop ends
//! at a deadline or after a fixed number of tries; decisions come from `status`.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::Api;
use tokio::time::{sleep, sleep_until, timeout, Instant};

use super::names::Slugs;
use super::pod::{build_pod, build_pvc, build_service, pod_env, Names, PodInputs};
use super::status::{self, on_conflict, startup, Conflict, PodInfo, Startup};
use super::KubeSpawner;
use crate::spawner::{Progress, SpawnError, SpawnSpec, Started};

/// One API call may take this long (upstream: `k8s_api_request_timeout`, 3 s; more here
/// because a hub under a spawn storm shares its API server with thousands of watches).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Retries of transient failures give up after this (`k8s_api_request_retry_timeout`).
const RETRY_FOR: Duration = Duration::from_secs(30);
/// Creates answered 409 are retried this often before giving up (upstream: 4).
const CREATE_TRIES: usize = 4;

fn failed(m: impl Into<String>) -> SpawnError {
    SpawnError::Failed(m.into())
}

/// Throttling, server errors and transport errors are worth retrying; other answers are not.
fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || s.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

fn api_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// Runs `call` with a per-call timeout, retrying transient failures with exponential
/// backoff (0.1 s doubling to 5 s) until `RETRY_FOR` has passed.
async fn with_retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let give_up = Instant::now() + RETRY_FOR;
    let mut delay = Duration::from_millis(100);
    loop {
        let r = match timeout(CALL_TIMEOUT, call()).await {
            Ok(r) => r,
            Err(_) => Err(kube::Error::Service(format!("{what}: timed out").into())),
        };
        match r {
            Err(e) if transient(&e) && Instant::now() + delay < give_up => {
                tracing::debug!(error = %e, "{what}: retrying");
                sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            r => return r,
        }
    }
}

impl KubeSpawner {
    pub(super) async fn start_pod(&self, spec: SpawnSpec) -> Result<Started, SpawnError> {
        // Finish (with the reason) a little before the controller's own start_timeout.
        let budget = self.start_timeout();
        let deadline = Instant::now() + budget - (budget / 20).min(Duration::from_secs(2));
        let slugs = Slugs::new(&spec.user, &spec.server);
        let cfg = self.cfg.effective(&spec.user_options).map_err(failed)?;
        let mut names = Names::new(&cfg, &slugs, &self.namespace);
        let adopted = self
            .refl
            .pod(&names.pod)
            .filter(|p| on_conflict(p, &self.cluster_id, spec.generation) == Conflict::Adopt);
        let uid = match adopted {
            Some(p) => {
                tracing::info!(pod = %names.pod, generation = spec.generation, "adopting the pod of this attempt");
                p.uid
            }
            // The controller adopts without a token: nothing to create a pod with.
            None if spec.env.is_empty() => {
                return Err(failed(format!("pod {} to adopt is gone", names.pod)))
            }
            None => {
                if let Some(pvc) = names.pvc.clone() {
                    names.pvc = Some(self.ensure_pvc(&cfg, &slugs, &pvc, &spec).await?);
                }
                let mut argv = self.scfg.cmd.clone();
                argv.extend(self.scfg.args.iter().cloned());
                let inputs = PodInputs {
                    cfg: &cfg,
                    slugs: &slugs,
                    names: &names,
                    user: &spec.user,
                    server: &spec.server,
                    cluster_id: &self.cluster_id,
                    generation: spec.generation,
                    cmd: argv,
                    env: pod_env(&spec.env, &self.scfg, &cfg, &slugs, &spec.prefix),
                };
                let uid = self
                    .create_pod(&build_pod(&inputs), spec.generation, deadline)
                    .await?;
                if cfg.services_enabled {
                    self.ensure_service(&build_service(&inputs, &uid), &uid)
                        .await?;
                }
                uid
            }
        };
        let ip = self
            .wait_running(&names, &uid, spec.progress.as_ref(), deadline)
            .await?;
        let port = self
            .refl
            .pod(&names.pod)
            .and_then(|p| p.port)
            .unwrap_or(cfg.port);
        Ok(Started {
            target: self.target(&cfg, &slugs, &names, &ip, port),
            state: names.state(),
        })
    }

    /// Creates the claim unless it exists. Like KubeSpawner 7, a claim made before the
    /// "safe" names under the legacy escaped name is reused instead of a new empty one.
    async fn ensure_pvc(
        &self,
        cfg: &super::KubeConfig,
        slugs: &Slugs,
        name: &str,
        spec: &SpawnSpec,
    ) -> Result<String, SpawnError> {
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &self.namespace);
        let get = |n: String| {
            let api = api.clone();
            async move { with_retry("get pvc", || api.get_opt(&n)).await }
        };
        let legacy = slugs.legacy().expand(&cfg.storage.pvc_name_template);
        if legacy != name && get(name.to_string()).await.ok().flatten().is_none() {
            if let Ok(Some(_)) = get(legacy.clone()).await {
                tracing::info!(pvc = %legacy, user = %spec.user, "using the legacy-named PVC");
                return Ok(legacy);
            }
        }
        let pvc = build_pvc(cfg, name, &spec.user, &spec.server, slugs);
        let pp = PostParams::default();
        match with_retry("create pvc", || api.create(&pp, &pvc)).await {
            Ok(_) => Ok(name.to_string()),
            Err(e) if api_code(&e) == Some(409) => Ok(name.to_string()),
            // Quota is checked before existence: a 403 may hide an existing claim.
            Err(e) if api_code(&e) == Some(403) => match get(name.to_string()).await {
                Ok(Some(_)) => Ok(name.to_string()),
                _ => Err(failed(format!("could not create PVC {name}: {e}"))),
            },
            Err(e) => Err(failed(format!("could not create PVC {name}: {e}"))),
        }
    }

    /// Creates the pod; on 409 decides (`status::on_conflict`) between adopting it (this
    /// attempt's, from a create whose answer was lost) and replacing it (upstream: stop
    /// the old pod now, wait for it to go, create again). Returns the pod's uid.
    async fn create_pod(
        &self,
        pod: &Pod,
        generation: u64,
        deadline: Instant,
    ) -> Result<String, SpawnError> {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let pp = PostParams::default();
        for _ in 0..CREATE_TRIES {
            match with_retry("create pod", || api.create(&pp, pod)).await {
                Ok(p) => return Ok(p.metadata.uid.unwrap_or_default()),
                Err(e) if api_code(&e) == Some(409) => {
                    let Some(old) = self.get_pod(&self.namespace, &name).await else {
                        continue; // gone meanwhile: create again
                    };
                    if on_conflict(&old, &self.cluster_id, generation) == Conflict::Adopt {
                        return Ok(old.uid);
                    }
                    tracing::info!(pod = %name, "found an existing pod, deleting it before creating again");
                    self.delete_pod(&self.namespace, &name, Some(&old.uid), 0)
                        .await?;
                    self.wait_gone(&self.namespace, &name, Some(&old.uid), deadline)
                        .await?;
                }
                Err(e) => {
                    return Err(failed(format!(
                        "could not create pod {}/{name}: {e}",
                        self.namespace
                    )))
                }
            }
        }
        Err(failed(format!(
            "could not create pod {}/{name}: it kept existing",
            self.namespace
        )))
    }

    /// Creates the Service owned by the pod; one left by another pod is replaced.
    async fn ensure_service(&self, svc: &Service, pod_uid: &str) -> Result<(), SpawnError> {
        let name = svc.metadata.name.clone().unwrap_or_default();
        let api: Api<Service> = Api::namespaced(self.client.clone(), &self.namespace);
        let pp = PostParams::default();
        for _ in 0..CREATE_TRIES {
            match with_retry("create service", || api.create(&pp, svc)).await {
                Ok(_) => return Ok(()),
                Err(e) if api_code(&e) == Some(409) => {
                    let old = with_retry("get service", || api.get_opt(&name))
                        .await
                        .ok()
                        .flatten();
                    let owned = old
                        .as_ref()
                        .and_then(|s| s.metadata.owner_references.as_ref());
                    if owned.is_some_and(|o| o.iter().any(|r| r.uid == pod_uid)) {
                        return Ok(());
                    }
                    let dp = DeleteParams::default();
                    let _ = with_retry("delete service", || api.delete(&name, &dp)).await;
                }
                Err(e) => return Err(failed(format!("could not create service {name}: {e}"))),
            }
        }
        Err(failed(format!("could not create service {name}")))
    }

    /// Waits in the pod cache for pod `uid` to run, passing its events on as progress.
    async fn wait_running(
        &self,
        names: &Names,
        uid: &str,
        progress: Option<&tokio::sync::mpsc::Sender<Progress>>,
        deadline: Instant,
    ) -> Result<String, SpawnError> {
        let sub = self.refl.subscribe(&names.pod);
        let (mut seen, mut after, mut pct) = (false, 0u64, 0.0f64);
        loop {
            let changed = sub.notify().notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let pod = self.refl.pod(&names.pod);
            seen |= pod.as_ref().is_some_and(|p| p.uid == uid);
            for (pos, ev) in self.refl.events_for(uid, after) {
                after = pos;
                pct = status::next_progress(pct);
                if let Some(tx) = progress {
                    let _ = tx.try_send(Progress {
                        progress: Some(pct as u8),
                        message: ev.progress_message(),
                    });
                }
            }
            match startup(pod.as_ref(), uid, seen) {
                Startup::Running { ip } => return Ok(ip),
                Startup::Failed(m) => {
                    return Err(failed(format!(
                        "pod {}/{}: {m}",
                        names.namespace, names.pod
                    )))
                }
                Startup::Waiting => {}
            }
            let now = Instant::now();
            if now >= deadline {
                if !seen {
                    self.refl.restart_pod_watch();
                }
                let secs = self.scfg.start_timeout_s;
                let shown = pod.filter(|p| p.uid == uid);
                return Err(failed(status::timeout_message(
                    &names.namespace,
                    &names.pod,
                    secs,
                    shown.as_ref(),
                )));
            }
            tokio::select! {
                _ = changed => {}
                _ = sleep_until(deadline.min(now + Duration::from_secs(1))) => {}
            }
        }
    }

    /// Reads one pod from the API (outside the cached namespace, or to be sure).
    pub(super) async fn get_pod(&self, ns: &str, name: &str) -> Option<PodInfo> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        with_retry("get pod", || api.get_opt(name))
            .await
            .ok()
            .flatten()
            .map(|p| PodInfo::from_pod(&p))
    }

    /// Deletes a pod (only the one with `uid`, if given). Gone already is fine, and so is a
    /// failed uid precondition: the name then belongs to another pod, not ours to delete.
    pub(super) async fn delete_pod(
        &self,
        ns: &str,
        name: &str,
        uid: Option<&str>,
        grace_s: u64,
    ) -> Result<(), SpawnError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(grace_s as u32),
            preconditions: uid.map(|u| Preconditions {
                uid: Some(u.to_string()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match with_retry("delete pod", || api.delete(name, &dp)).await {
            Ok(_) => Ok(()),
            Err(e) if matches!(api_code(&e), Some(404 | 409)) => Ok(()),
            Err(e) => Err(failed(format!("could not delete pod {ns}/{name}: {e}"))),
        }
    }

    /// Waits until the pod (`uid`, if given) is gone: the cache says so first (no API
    /// traffic while it terminates), then one read confirms it.
    pub(super) async fn wait_gone(
        &self,
        ns: &str,
        name: &str,
        uid: Option<&str>,
        deadline: Instant,
    ) -> Result<(), SpawnError> {
        let cached = ns == self.namespace;
        let sub = self.refl.subscribe(name);
        let is_it = |p: &PodInfo| uid.is_none_or(|u| u == p.uid);
        loop {
            let changed = sub.notify().notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let in_cache = cached && self.refl.pod(name).is_some_and(|p| is_it(&p));
            if !in_cache && !self.get_pod(ns, name).await.is_some_and(|p| is_it(&p)) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(failed(format!("pod {ns}/{name} did not go away")));
            }
            tokio::select! {
                _ = changed => {}
                _ = sleep_until(deadline.min(now + Duration::from_secs(1))) => {}
            }
        }
    }
}
