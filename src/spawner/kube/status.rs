//! What the watches say about a server, and the spawner's decisions on it, as pure
//! functions (the "L0" layer of the testing note): pods and events are projected to the few
//! fields the spawner reads, then judged. Unit-tested by asserting outputs.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Event, Pod};

use super::pod::{ANN_CLUSTER, ANN_GENERATION, ANN_SERVERNAME, ANN_USERNAME, CONTAINER};
use crate::spawner::Poll;

/// The fields of a pod the spawner reads (kept per pod in the warm store).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodInfo {
    pub name: String,
    pub uid: String,
    /// `rafthub/cluster`: `None` for pods rafthub did not make (z2jh, another hub).
    pub cluster: Option<String>,
    pub generation: Option<u64>,
    /// Raw names from `hub.jupyter.org/username` / `servername`.
    pub user: Option<String>,
    pub server: String,
    pub phase: String,
    pub pod_ip: Option<String>,
    pub deleting: bool,
    /// All containers ready; `None` without `containerStatuses`.
    pub ready: Option<bool>,
    /// Exit code of a terminated `notebook` container.
    pub exit_code: Option<i32>,
    /// Why the notebook container waits (`ImagePullBackOff: Back-off pulling image ...`).
    pub waiting: Option<String>,
    /// PodScheduled=False: the scheduler's message.
    pub unschedulable: Option<String>,
    /// Pod-level `reason: message` (e.g. `Evicted: The node was low on memory`).
    pub reason: Option<String>,
    pub port: Option<u16>,
}

impl PodInfo {
    pub fn from_pod(p: &Pod) -> PodInfo {
        let meta = &p.metadata;
        let ann = meta.annotations.as_ref();
        let get = |k: &str| ann.and_then(|a| a.get(k)).cloned();
        let status = p.status.as_ref();
        let statuses = status.and_then(|s| s.container_statuses.as_ref());
        let notebook = statuses.and_then(|cs| cs.iter().find(|c| c.name == CONTAINER));
        let state = notebook.and_then(|c| c.state.as_ref());
        let waiting = state.and_then(|s| s.waiting.as_ref()).and_then(|w| {
            let reason = w.reason.clone()?;
            Some(match &w.message {
                Some(m) => format!("{reason}: {m}"),
                None => reason,
            })
        });
        let unschedulable = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.type_ == "PodScheduled" && c.status == "False")
            })
            .map(|c| c.message.clone().or(c.reason.clone()).unwrap_or_default());
        let reason = status.and_then(|s| s.reason.clone()).map(|r| {
            match status.and_then(|s| s.message.as_ref()) {
                Some(m) => format!("{r}: {m}"),
                None => r,
            }
        });
        let port = p
            .spec
            .as_ref()
            .and_then(|s| s.containers.iter().find(|c| c.name == CONTAINER))
            .and_then(|c| c.ports.as_ref())
            .and_then(|ps| ps.first())
            .and_then(|cp| u16::try_from(cp.container_port).ok());
        PodInfo {
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            cluster: get(ANN_CLUSTER),
            generation: get(ANN_GENERATION).and_then(|g| g.parse().ok()),
            user: get(ANN_USERNAME),
            server: get(ANN_SERVERNAME).unwrap_or_default(),
            phase: status
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Pending".into()),
            pod_ip: status
                .and_then(|s| s.pod_ip.clone())
                .filter(|ip| !ip.is_empty()),
            deleting: meta.deletion_timestamp.is_some(),
            ready: statuses.map(|cs| !cs.is_empty() && cs.iter().all(|c| c.ready)),
            exit_code: state
                .and_then(|s| s.terminated.as_ref())
                .map(|t| t.exit_code),
            waiting,
            unschedulable,
            reason,
            port,
        }
    }

    /// Terminated for good: `Succeeded` or `Failed` (exited, evicted).
    pub fn finished(&self) -> bool {
        matches!(self.phase.as_str(), "Succeeded" | "Failed")
    }

    /// A live server of this cluster: listed, adopted, polled as running.
    pub fn live_for(&self, cluster: &str) -> bool {
        self.cluster.as_deref() == Some(cluster) && !self.deleting && !self.finished()
    }

    /// Upstream's `is_pod_running`.
    pub fn running(&self) -> bool {
        self.phase == "Running"
            && self.pod_ip.is_some()
            && !self.deleting
            && self.ready == Some(true)
    }

    /// The most telling reason it is not running yet, for messages.
    pub fn why_not_running(&self) -> Option<String> {
        self.unschedulable
            .clone()
            .map(|m| format!("Unschedulable: {m}"))
            .or_else(|| self.waiting.clone())
            .or_else(|| self.reason.clone())
    }
}

/// Where a starting pod is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    Waiting,
    Running { ip: String },
    Failed(String),
}

/// Judges the pod a start is waiting for (`uid` is the pod it created or adopted); `seen`
/// says whether the store has shown that pod before (so an absence means it is gone, not
/// that the watch lags).
pub fn startup(pod: Option<&PodInfo>, uid: &str, seen: bool) -> Startup {
    let Some(p) = pod.filter(|p| uid.is_empty() || p.uid == uid) else {
        return if seen {
            Startup::Failed("the pod was deleted before it started".into())
        } else {
            Startup::Waiting
        };
    };
    if p.deleting {
        return Startup::Failed("the pod is being deleted".into());
    }
    if p.finished() {
        let why = p
            .reason
            .clone()
            .or(p.exit_code.map(|c| format!("exit code {c}")))
            .unwrap_or_else(|| p.phase.clone());
        return Startup::Failed(format!("the pod stopped before it was ready ({why})"));
    }
    match (&p.pod_ip, p.running()) {
        (Some(ip), true) => Startup::Running { ip: ip.clone() },
        _ => Startup::Waiting,
    }
}

/// The error when `start_timeout` passes.
pub fn timeout_message(ns: &str, name: &str, secs: u64, pod: Option<&PodInfo>) -> String {
    let mut m = format!("pod {ns}/{name} did not start in {secs} seconds!");
    match pod {
        None => m.push_str(" (it never appeared in the pod watch)"),
        Some(p) => {
            if let Some(why) = p.why_not_running() {
                m.push_str(&format!(" ({why})"));
            }
        }
    }
    m
}

/// What a create that answered 409 AlreadyExists found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// The pod of this very attempt (an earlier create whose answer was lost, or a
    /// deposed leader's): use it.
    Adopt,
    /// Someone else's or an older attempt's pod: delete it, wait, create again (upstream).
    Replace,
}

pub fn on_conflict(existing: &PodInfo, cluster: &str, generation: u64) -> Conflict {
    if existing.live_for(cluster) && existing.generation == Some(generation) {
        Conflict::Adopt
    } else {
        Conflict::Replace
    }
}

/// `poll()` as upstream: pending counts as running; without container statuses the pod has
/// exited with 1; a terminated notebook container gives its exit code.
pub fn poll(pod: Option<&PodInfo>) -> Poll {
    let Some(p) = pod else {
        return Poll::Exited(None);
    };
    if p.phase == "Pending" {
        return Poll::Running;
    }
    if p.ready.is_none() {
        return Poll::Exited(Some(1));
    }
    match p.exit_code {
        Some(c) => Poll::Exited(Some(c)),
        None if p.finished() => Poll::Exited(Some(1)),
        None => Poll::Running,
    }
}

/// One core/v1 Event about a pod, as progress needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInfo {
    pub name: String,
    pub pod: String,
    pub pod_uid: String,
    /// `lastTimestamp`, else `eventTime`, else `firstTimestamp`, else creation (RFC 3339).
    pub ts: String,
    /// The same instant in Unix seconds (for age eviction); `None` if the event has no time.
    pub unix: Option<i64>,
    pub type_: String,
    pub message: String,
}

impl EventInfo {
    pub fn from_event(e: &Event) -> EventInfo {
        let t = e
            .last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or(e.event_time.as_ref().map(|t| t.0))
            .or(e.first_timestamp.as_ref().map(|t| t.0))
            .or(e.metadata.creation_timestamp.as_ref().map(|t| t.0));
        EventInfo {
            name: e.metadata.name.clone().unwrap_or_default(),
            pod: e.involved_object.name.clone().unwrap_or_default(),
            pod_uid: e.involved_object.uid.clone().unwrap_or_default(),
            ts: t.map(|t| t.to_string()).unwrap_or_default(),
            unix: t.map(|t| t.as_second()),
            type_: e.type_.clone().unwrap_or_default(),
            message: e.message.clone().unwrap_or_default(),
        }
    }

    /// KubeSpawner's progress message: `<time> [<type>] <message>`.
    pub fn progress_message(&self) -> String {
        format!("{} [{}] {}", self.ts, self.type_, self.message)
    }
}

/// KubeSpawner's progress for the n-th event: each takes a third of the way left to 90 %.
pub fn next_progress(prev: f64) -> f64 {
    prev + (90.0 - prev) / 3.0
}

/// The bounded event cache of one namespace (kubespawner#913: an unbounded one OOMs the
/// hub): events older than `max_age_s` go, and at most `cap` stay, oldest evicted first.
#[derive(Debug, Default)]
pub struct EventLog {
    events: HashMap<String, (u64, EventInfo)>,
    next: u64,
}

impl EventLog {
    /// Adds or updates an event; an update keeps its place (it is not shown again).
    pub fn apply(&mut self, e: EventInfo) {
        match self.events.get_mut(&e.name) {
            Some(slot) => slot.1 = e,
            None => {
                self.next += 1;
                self.events.insert(e.name.clone(), (self.next, e));
            }
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.events.remove(name);
    }

    /// A fresh list (after a restart or a 410): events still there keep their places, so
    /// a running start does not report them twice.
    pub fn replace_all(&mut self, events: Vec<EventInfo>) {
        let names: std::collections::HashSet<String> =
            events.iter().map(|e| e.name.clone()).collect();
        self.events.retain(|k, _| names.contains(k));
        for e in events {
            self.apply(e);
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Drops events older than `max_age_s` (by their own time; `now` in Unix seconds);
    /// above `cap`, drops the oldest arrivals down to 90 % of `cap`, so a namespace at the
    /// cap pays for one trim per `cap / 10` events, not a sort per event.
    pub fn evict(&mut self, now: i64, max_age_s: u64, cap: usize) {
        let horizon = now.saturating_sub(max_age_s as i64);
        self.events
            .retain(|_, (_, e)| e.unix.is_none_or(|t| t >= horizon));
        if self.events.len() > cap {
            let keep = (cap - cap / 10).max(1);
            let mut seqs: Vec<u64> = self.events.values().map(|(s, _)| *s).collect();
            seqs.sort_unstable();
            let cut = seqs[seqs.len() - keep - 1];
            self.events.retain(|_, (s, _)| *s > cut);
        }
    }

    /// Events about pod `uid` that arrived after position `after`, oldest first, with
    /// their positions.
    pub fn for_pod(&self, uid: &str, after: u64) -> Vec<(u64, EventInfo)> {
        let mut v: Vec<(u64, EventInfo)> = self
            .events
            .values()
            .filter(|(s, e)| *s > after && e.pod_uid == uid)
            .cloned()
            .collect();
        v.sort_by_key(|(s, _)| *s);
        v
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
