//! Tables for the pure judgements: pod projections from the pod shapes the kubelet writes
//! (the same shapes kube-fake's simulated kubelet produces), start/poll/conflict decisions,
//! progress numbers and the bounded event cache.

use serde_json::{json, Value};

use super::*;

fn pod(status: Value, deleting: bool) -> PodInfo {
    let mut meta = json!({
        "name": "jupyter-alice", "uid": "u1",
        "annotations": {"rafthub/cluster": "c1", "rafthub/generation": "4", "hub.jupyter.org/username": "alice"}
    });
    if deleting {
        meta["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
    }
    let p: Pod = serde_json::from_value(json!({
        "metadata": meta,
        "spec": {"containers": [{"name": "notebook", "image": "img", "ports": [{"containerPort": 8888}]}]},
        "status": status,
    }))
    .unwrap();
    PodInfo::from_pod(&p)
}

fn pending() -> PodInfo {
    pod(json!({"phase": "Pending"}), false)
}

fn running() -> PodInfo {
    pod(
        json!({"phase": "Running", "podIP": "10.0.0.5",
               "containerStatuses": [{"name": "notebook", "image": "img", "imageID": "", "ready": true, "restartCount": 0,
                                      "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}]}),
        false,
    )
}

fn pull_backoff() -> PodInfo {
    pod(
        json!({"phase": "Pending",
               "containerStatuses": [{"name": "notebook", "image": "img", "imageID": "", "ready": false, "restartCount": 0,
                                      "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"img\""}}}]}),
        false,
    )
}

fn unschedulable() -> PodInfo {
    pod(
        json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                                   "message": "0/1 nodes are available: 1 Insufficient memory."}]}),
        false,
    )
}

fn terminated(phase: &str, code: i32, reason: Option<&str>) -> PodInfo {
    let mut s = json!({"phase": phase, "podIP": "10.0.0.5",
        "containerStatuses": [{"name": "notebook", "image": "img", "imageID": "", "ready": false, "restartCount": 0,
                               "state": {"terminated": {"exitCode": code}}}]});
    if let Some(r) = reason {
        s["reason"] = json!(r);
        s["message"] = json!("The node was low on resource: memory.");
    }
    pod(s, false)
}

#[test]
fn pods_are_projected() {
    let p = running();
    assert_eq!(
        (
            p.cluster.as_deref(),
            p.generation,
            p.user.as_deref(),
            p.server.as_str()
        ),
        (Some("c1"), Some(4), Some("alice"), "")
    );
    assert_eq!(
        (p.port, p.ready, p.running()),
        (Some(8888), Some(true), true)
    );
    assert_eq!(pending().ready, None);
    assert_eq!(
        pull_backoff().why_not_running().as_deref(),
        Some("ImagePullBackOff: Back-off pulling image \"img\"")
    );
    assert_eq!(
        unschedulable().why_not_running().as_deref(),
        Some("Unschedulable: 0/1 nodes are available: 1 Insufficient memory.")
    );
    let evicted = terminated("Failed", 137, Some("Evicted"));
    assert_eq!(
        (
            evicted.finished(),
            evicted.exit_code,
            evicted.reason.as_deref()
        ),
        (
            true,
            Some(137),
            Some("Evicted: The node was low on resource: memory.")
        )
    );
    assert!(running().live_for("c1"));
    assert!(!running().live_for("c2"), "another hub's pod");
    assert!(
        !evicted.live_for("c1"),
        "a finished pod is not a live server"
    );
    assert!(
        !pod(json!({"phase": "Running"}), true).live_for("c1"),
        "a terminating pod is not"
    );
}

#[test]
fn startup_decisions() {
    let ok = Startup::Running {
        ip: "10.0.0.5".into(),
    };
    let table: Vec<(Option<PodInfo>, &str, bool, Startup)> = vec![
        (None, "u1", false, Startup::Waiting), // the watch has not shown it yet
        (None, "u1", true, Startup::Failed("the pod was deleted before it started".into())),
        (Some(running()), "other", true, Startup::Failed("the pod was deleted before it started".into())),
        (Some(pending()), "u1", true, Startup::Waiting),
        (Some(pull_backoff()), "u1", true, Startup::Waiting), // upstream keeps waiting
        (Some(unschedulable()), "u1", true, Startup::Waiting),
        (Some(running()), "u1", true, ok.clone()),
        (Some(running()), "", true, ok),
        (
            Some(pod(json!({"phase": "Running", "podIP": "10.0.0.5", "containerStatuses": [{"name": "notebook", "image": "img", "imageID": "", "ready": false, "restartCount": 0}]}), false)),
            "u1",
            true,
            Startup::Waiting,
        ),
        (Some(pod(json!({"phase": "Running", "podIP": "10.0.0.5"}), true)), "u1", true, Startup::Failed("the pod is being deleted".into())),
        (
            Some(terminated("Failed", 137, Some("Evicted"))),
            "u1",
            true,
            Startup::Failed("the pod stopped before it was ready (Evicted: The node was low on resource: memory.)".into()),
        ),
        (Some(terminated("Failed", 3, None)), "u1", true, Startup::Failed("the pod stopped before it was ready (exit code 3)".into())),
    ];
    for (i, (p, uid, seen, want)) in table.into_iter().enumerate() {
        assert_eq!(startup(p.as_ref(), uid, seen), want, "row {i}");
    }
}

#[test]
fn poll_decisions_match_upstream() {
    let table: Vec<(Option<PodInfo>, Poll)> = vec![
        (None, Poll::Exited(None)),
        (Some(pending()), Poll::Running),
        (Some(running()), Poll::Running),
        (
            Some(pod(json!({"phase": "Running"}), false)),
            Poll::Exited(Some(1)),
        ),
        (
            Some(terminated("Failed", 137, Some("Evicted"))),
            Poll::Exited(Some(137)),
        ),
        (
            Some(terminated("Succeeded", 0, None)),
            Poll::Exited(Some(0)),
        ),
    ];
    for (i, (p, want)) in table.into_iter().enumerate() {
        assert_eq!(poll(p.as_ref()), want, "row {i}");
    }
}

#[test]
fn conflicts_adopt_only_this_attempts_live_pod() {
    let mut other_gen = running();
    other_gen.generation = Some(3);
    let mut foreign = running();
    foreign.cluster = None;
    let table = [
        (running(), "c1", 4, Conflict::Adopt),
        (other_gen, "c1", 4, Conflict::Replace),
        (running(), "c2", 4, Conflict::Replace),
        (foreign, "c1", 4, Conflict::Replace),
        (
            terminated("Failed", 137, Some("Evicted")),
            "c1",
            4,
            Conflict::Replace,
        ),
        (
            pod(json!({"phase": "Running"}), true),
            "c1",
            4,
            Conflict::Replace,
        ),
    ];
    for (i, (p, cluster, generation, want)) in table.into_iter().enumerate() {
        assert_eq!(on_conflict(&p, cluster, generation), want, "row {i}");
    }
}

#[test]
fn timeouts_say_why() {
    assert_eq!(
        timeout_message("ns", "jupyter-alice", 60, Some(&pull_backoff())),
        "pod ns/jupyter-alice did not start in 60 seconds! (ImagePullBackOff: Back-off pulling image \"img\")"
    );
    assert_eq!(
        timeout_message("ns", "jupyter-alice", 60, None),
        "pod ns/jupyter-alice did not start in 60 seconds! (it never appeared in the pod watch)"
    );
}

#[test]
fn progress_approaches_ninety_like_kubespawner() {
    let mut p = 0.0;
    let got: Vec<u8> = (0..8)
        .map(|_| {
            p = next_progress(p);
            p as u8
        })
        .collect();
    assert_eq!(got, [30, 50, 63, 72, 78, 82, 84, 86]);
}

fn ev(name: &str, uid: &str, unix: Option<i64>) -> EventInfo {
    EventInfo {
        name: name.into(),
        pod: "jupyter-alice".into(),
        pod_uid: uid.into(),
        ts: "2025-01-01T00:00:00Z".into(),
        unix,
        type_: "Normal".into(),
        message: format!("msg {name}"),
    }
}

#[test]
fn events_are_bounded_by_age_and_count() {
    let mut log = EventLog::default();
    for i in 0..10 {
        log.apply(ev(&format!("e{i}"), "u1", Some(1000 + i)));
    }
    // Age: at t=4603 with a max age of 3600 s the horizon is 1003.
    log.evict(4603, 3600, 100);
    let names = |log: &EventLog| -> Vec<String> {
        log.for_pod("u1", 0)
            .into_iter()
            .map(|(_, e)| e.name)
            .collect()
    };
    assert_eq!(names(&log), ["e3", "e4", "e5", "e6", "e7", "e8", "e9"]);
    // Count: above the cap, trimmed to 90 % of it, oldest arrivals first.
    let mut big = EventLog::default();
    for i in 0..21 {
        big.apply(ev(&format!("e{i}"), "u1", None));
    }
    big.evict(0, 3600, 20);
    assert_eq!(big.len(), 18);
    assert_eq!(names(&big)[0], "e3");
    // Events without a time are never too old.
    big.evict(i64::MAX, 1, 20);
    assert_eq!(big.len(), 18);
}

#[test]
fn events_keep_their_place_across_updates_and_relists() {
    let mut log = EventLog::default();
    log.apply(ev("a", "u1", Some(1)));
    log.apply(ev("b", "u2", Some(2)));
    log.apply(ev("c", "u1", Some(3)));
    let seen = log.for_pod("u1", 0);
    assert_eq!(
        seen.iter()
            .map(|(_, e)| e.name.as_str())
            .collect::<Vec<_>>(),
        ["a", "c"]
    );
    let last = seen.last().unwrap().0;
    // An update (count++) of an event already shown is not shown again.
    let mut again = ev("a", "u1", Some(9));
    again.message = "repeated".into();
    log.apply(again);
    assert!(log.for_pod("u1", last).is_empty());
    // A re-list after a 410: known events keep their positions, vanished ones go.
    log.replace_all(vec![
        ev("a", "u1", Some(1)),
        ev("c", "u1", Some(3)),
        ev("d", "u1", Some(4)),
    ]);
    assert_eq!(
        log.for_pod("u1", last)
            .into_iter()
            .map(|(_, e)| e.name)
            .collect::<Vec<_>>(),
        ["d"]
    );
    assert!(log.for_pod("u2", 0).is_empty());
    assert_eq!(
        ev("a", "u1", None).progress_message(),
        "2025-01-01T00:00:00Z [Normal] msg a"
    );
}
