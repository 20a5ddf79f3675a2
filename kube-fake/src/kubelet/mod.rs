//! The simulated scheduler + kubelet (+ PV binder): the actor that makes
//! pods progress, driven by the test.
//!
//! Manual mode (the default): nothing happens to a pod until the test calls
//! a step ([`Kubelet::schedule`], [`Kubelet::container_creating`],
//! [`Kubelet::run`], ...). Auto mode ([`Kubelet::start_auto`]): every new pod
//! walks its [`Plan`] with the configured [`Timings`] on the tokio clock, so
//! under `tokio::time::pause()` a whole spawn is deterministic and instant.
//! Steps write straight to the store (no request log entry, no faults),
//! like the real components writing through their own clients.

mod auto;
pub mod finish;
pub mod steps;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::time::Duration;

use crate::error::ApiError;
use crate::fake::Shared;

/// What auto mode does with a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Schedule, pull, start, become Ready.
    Run,
    /// Schedule, then fail the pull forever (waiting `ImagePullBackOff`).
    ImagePullBackOff,
    /// Never schedule: PodScheduled=False + a `FailedScheduling` event with this message.
    Unschedulable(String),
    /// Run, then get evicted after `after`.
    EvictAfter(Duration),
    /// Run, then exit with `code` after `after` (Succeeded for 0, else Failed).
    ExitAfter(Duration, i32),
    /// Leave the pod alone (drive it by hand).
    Manual,
}

/// Delays between the steps of auto mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// Pod created → scheduled (or FailedScheduling).
    pub schedule: Duration,
    /// Scheduled → ContainerCreating (pull started).
    pub pull: Duration,
    /// Pull started → Running and Ready (or ImagePullBackOff).
    pub start: Duration,
    /// PVC created → Bound.
    pub bind: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            schedule: Duration::from_millis(100),
            pull: Duration::from_millis(500),
            start: Duration::from_secs(1),
            bind: Duration::from_millis(100),
        }
    }
}

/// Kubelet settings, shared with the auto driver.
#[derive(Debug, Default)]
pub(crate) struct KubeletState {
    pub auto: Option<Timings>,
    pub default_plan: Option<Plan>,
    pub plans: HashMap<String, Plan>,
    pub driver_running: bool,
}

impl KubeletState {
    pub(crate) fn plan_for(&self, pod: &str) -> Plan {
        self.plans
            .get(pod)
            .or(self.default_plan.as_ref())
            .cloned()
            .unwrap_or(Plan::Run)
    }
}

/// Handle to the simulated node components of one fake.
#[derive(Clone)]
pub struct Kubelet {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet").finish_non_exhaustive()
    }
}

type Step = Result<Value, ApiError>;

impl Kubelet {
    fn step(
        &self,
        f: impl FnOnce(&mut crate::store::Store) -> Result<Arc<Value>, ApiError>,
    ) -> Step {
        self.shared.with_store(f).map(|v| (*v).clone())
    }

    /// Binds the pod to the node + `Scheduled` event.
    pub fn schedule(&self, ns: &str, name: &str) -> Step {
        self.step(|s| steps::schedule(s, ns, name, None))
    }

    /// Reports the pod unschedulable + `FailedScheduling` (Warning) event.
    pub fn unschedulable(&self, ns: &str, name: &str, message: &str) -> Step {
        self.step(|s| steps::unschedulable(s, ns, name, None, message))
    }

    /// Starts pulling: waiting `ContainerCreating`, hostIP, startTime + `Pulling`.
    pub fn container_creating(&self, ns: &str, name: &str) -> Step {
        self.step(|s| steps::container_creating(s, ns, name, None))
    }

    /// Fails the pull: waiting `ImagePullBackOff` + `Failed`/`BackOff` events.
    pub fn image_pull_backoff(&self, ns: &str, name: &str) -> Step {
        self.step(|s| steps::image_pull_backoff(s, ns, name, None))
    }

    /// Running, `podIP`, Ready + `Pulled`/`Created`/`Started` events.
    pub fn run(&self, ns: &str, name: &str) -> Step {
        self.step(|s| steps::run(s, ns, name, None))
    }

    /// Schedule, ContainerCreating and Run in one go.
    pub fn start_now(&self, ns: &str, name: &str) -> Step {
        self.step(|s| {
            steps::schedule(s, ns, name, None)?;
            steps::container_creating(s, ns, name, None)?;
            steps::run(s, ns, name, None)
        })
    }

    /// Flips the Ready condition (a readiness probe result).
    pub fn set_ready(&self, ns: &str, name: &str, ready: bool) -> Step {
        self.step(|s| steps::set_ready(s, ns, name, ready))
    }

    /// All containers exit with `code`: Succeeded for 0, else Failed.
    pub fn exit(&self, ns: &str, name: &str, code: i32) -> Step {
        self.step(|s| finish::exit(s, ns, name, code))
    }

    /// Evicts the pod: phase Failed, reason Evicted + `Evicted` event.
    pub fn evict(&self, ns: &str, name: &str, message: &str) -> Step {
        self.step(|s| finish::evict(s, ns, name, message))
    }

    /// Binds a PVC (phase Bound).
    pub fn bind_pvc(&self, ns: &str, name: &str) -> Step {
        self.step(|s| finish::bind_pvc(s, ns, name))
    }

    /// Sets the plan auto mode follows for the pod called `pod`.
    pub fn set_plan(&self, pod: &str, plan: Plan) {
        self.shared
            .kubelet
            .lock()
            .plans
            .insert(pod.to_string(), plan);
    }

    /// Sets the plan for pods without their own (default [`Plan::Run`]).
    pub fn set_default_plan(&self, plan: Plan) {
        self.shared.kubelet.lock().default_plan = Some(plan);
    }

    /// Switches to auto mode: pods already pending and every new pod follow
    /// their plan; new PVCs get bound. Must be called inside a tokio runtime.
    pub fn start_auto(&self, timings: Timings) {
        let start_driver = {
            let mut k = self.shared.kubelet.lock();
            k.auto = Some(timings);
            !std::mem::replace(&mut k.driver_running, true)
        };
        if start_driver {
            auto::spawn_driver(&self.shared);
        }
    }

    /// Back to manual mode; pods in flight stop at their next step.
    pub fn stop_auto(&self) {
        self.shared.kubelet.lock().auto = None;
    }
}
