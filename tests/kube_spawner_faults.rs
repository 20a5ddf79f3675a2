//! The Kubernetes spawner against kube-fake's faults, in-process with paused time: 409 on
//! create, a create whose answer is lost, watches dropped or expired mid-spawn, and a 410
//! compaction while a standby replica takes over a spawn.

mod kube_support;

use std::time::Duration;

use kube_support::*;
use rafthub::spawner::kube::KubeConfig;
use rafthub::spawner::Spawner;
use rafthub_kube_fake::{FakeKube, Fault, Plan, RequestMatch, Timings, Verb, WatchSelect};
use serde_json::json;
use tokio::time::sleep;

fn pod_creates_matcher() -> RequestMatch {
    RequestMatch::any().verb(Verb::Create).resource("pods")
}

/// Waits (tokio clock) until `f` holds; false after `secs`.
async fn eventually(secs: u64, f: impl Fn() -> bool) -> bool {
    for _ in 0..secs * 10 {
        if f() {
            return true;
        }
        sleep(Duration::from_millis(100)).await;
    }
    f()
}

#[tokio::test(start_paused = true)]
async fn conflict_on_create_replaces_the_old_pod_as_upstream() {
    let fake = FakeKube::new();
    // A running z2jh pod under alice's name, made by another hub: not ours, no generation.
    let old = json!({"metadata": {"name": "jupyter-alice",
            "labels": {"component": "singleuser-server", "app": "jupyterhub"},
            "annotations": {"hub.jupyter.org/username": "alice"}},
        "spec": {"containers": [{"name": "notebook", "image": "old"}]}});
    let old_uid = fake.create("pods", NS, old).unwrap()["metadata"]["uid"].clone();
    fake.kubelet().start_now(NS, "jupyter-alice").unwrap();
    fake.kubelet().start_auto(Timings::default());
    let sp = spawner(&fake, "hub-0", spawner_config(60, KubeConfig::default())).await;
    assert!(
        sp.list().await.is_empty(),
        "a foreign pod is not listed as ours"
    );
    let (spec, _p) = new_spec("alice", "", 1);
    sp.start(spec).await.expect("started after replacing");
    let pod = fake.get("pods", NS, "jupyter-alice").unwrap();
    assert_ne!(pod["metadata"]["uid"], old_uid);
    assert_eq!(
        pod.pointer("/metadata/annotations/rafthub~1cluster"),
        Some(&json!(CLUSTER))
    );
    let pods: Vec<_> = write_log(&fake)
        .into_iter()
        .filter(|x| x.2 == "pods")
        .collect();
    assert_eq!(
        pods,
        [
            w("hub-0", Verb::Create, "pods", "jupyter-alice", 409),
            w("hub-0", Verb::Delete, "pods", "jupyter-alice", 200),
            w("hub-0", Verb::Create, "pods", "jupyter-alice", 201),
        ]
    );
    let delete = writes(&fake)
        .into_iter()
        .find(|r| r.verb == Verb::Delete)
        .unwrap();
    let body = delete.body_json().unwrap();
    assert_eq!(body["gracePeriodSeconds"], 0, "stop(now=True)");
    assert_eq!(
        body["preconditions"]["uid"], old_uid,
        "only the pod that was looked at"
    );
}

#[tokio::test(start_paused = true)]
async fn a_create_whose_answer_was_lost_is_adopted_not_replaced() {
    let fake = FakeKube::new();
    fake.kubelet().start_auto(Timings::default());
    // The pod is created but the answer never comes: the call times out, and the retried
    // create's 409 finds this attempt's own pod.
    let (fault, gate) = Fault::stall_after_commit();
    fake.inject(pod_creates_matcher(), fault.times(1));
    let sp = spawner(&fake, "hub-0", spawner_config(60, KubeConfig::default())).await;
    let (spec, _p) = new_spec("alice", "", 7);
    sp.start(spec).await.expect("started");
    let pods: Vec<_> = write_log(&fake)
        .into_iter()
        .filter(|x| x.2 == "pods")
        .collect();
    assert_eq!(
        pods.iter().filter(|x| x.4 == 201).count(),
        1,
        "one pod: {pods:?}"
    );
    assert!(
        pods.iter().all(|x| x.1 == Verb::Create),
        "nothing deleted: {pods:?}"
    );
    assert_eq!(pods.last().map(|x| x.4), Some(409));
    drop(gate);
}

#[tokio::test(start_paused = true)]
async fn watches_dropped_or_expired_mid_spawn() {
    let fake = FakeKube::new();
    fake.kubelet().set_default_plan(Plan::Manual);
    fake.kubelet().start_auto(Timings::default());
    let sp = std::sync::Arc::new(
        spawner(&fake, "hub-0", spawner_config(60, KubeConfig::default())).await,
    );
    for (generation, user) in [(1, "alice"), (1, "bob")] {
        let (spec, mut progress) = new_spec(user, "", generation);
        let pod = format!("jupyter-{user}");
        let task = tokio::spawn({
            let sp = sp.clone();
            async move { sp.start(spec).await }
        });
        assert!(eventually(10, || fake.get("pods", NS, &pod).is_some()).await);
        fake.kubelet().schedule(NS, &pod).unwrap();
        sleep(Duration::from_secs(1)).await;
        let open = WatchSelect::all().client("hub-0");
        if user == "alice" {
            // A dropped connection: kube resumes from its last resourceVersion.
            assert_eq!(fake.abort_watches(&open), 2);
        } else {
            // The watch cache dropped us: ERROR 410 in the stream, then a re-list.
            assert_eq!(fake.expire_watches(&open), 2);
        }
        fake.kubelet().container_creating(NS, &pod).unwrap();
        fake.kubelet().run(NS, &pod).unwrap();
        let started = tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the start saw the pod run")
            .unwrap()
            .expect("started");
        assert!(
            started.target.starts_with("http://10."),
            "{}",
            started.target
        );
        let msgs = drain(&mut progress);
        let scheduled = msgs
            .iter()
            .filter(|m| m.contains("Successfully assigned"))
            .count();
        // Reported once: the re-list after the 410 does not replay what was shown.
        assert_eq!(scheduled, 1, "{msgs:?}");
    }
    let relists = fake
        .requests()
        .iter()
        .filter(|r| {
            r.client == "hub-0" && r.verb == Verb::List && r.resource.as_deref() == Some("pods")
        })
        .count();
    assert_eq!(
        relists, 2,
        "one initial list, one after the 410 (none after the drop)"
    );
}

#[tokio::test(start_paused = true)]
async fn compaction_during_failover_the_standby_adopts_the_pod() {
    let fake = FakeKube::new();
    fake.kubelet().set_default_plan(Plan::Manual);
    fake.kubelet().start_auto(Timings::default());
    let cfg = spawner_config(60, KubeConfig::default());
    // Both replicas keep their caches warm; only the leader (hub-0) acts.
    let leader = std::sync::Arc::new(spawner(&fake, "hub-0", cfg.clone()).await);
    let standby = spawner(&fake, "hub-1", cfg).await;
    let reserved = leader.reserve("alice", "", 3);
    let (spec, _p) = new_spec("alice", "", 3);
    let attempt = tokio::spawn({
        let l = leader.clone();
        async move { l.start(spec).await }
    });
    assert!(eventually(10, || fake.get("pods", NS, "jupyter-alice").is_some()).await);
    // The leader dies after the create, before anything is recorded as ready.
    attempt.abort();
    drop(leader);
    let mark = fake.requests().last().map(|r| r.seq).unwrap_or(0);
    // etcd compacts as the new leader takes over: every open watch gets 410.
    assert!(fake.compact() >= 2);
    fake.kubelet().start_now(NS, "jupyter-alice").unwrap();
    assert!(
        eventually(30, || standby
            .reflectors()
            .pod("jupyter-alice")
            .is_some_and(|p| p.running()))
        .await,
        "the standby's cache recovered from the 410"
    );
    let found = standby.list().await;
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].user.as_str(), found[0].generation), ("alice", 3));
    let started = standby
        .start(adopt_spec("alice", "", 3, reserved.clone()))
        .await
        .expect("adopted");
    assert_eq!(started.state, reserved);
    assert_eq!(pod_creates(&fake, "jupyter-alice"), 1, "no second pod");
    let after: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.seq > mark)
        .collect();
    assert!(
        after.iter().all(|r| !r.verb.is_write()),
        "the standby adopted without writing: {:?}",
        after
            .iter()
            .filter(|r| r.verb.is_write())
            .map(|r| r.uri())
            .collect::<Vec<_>>()
    );
    assert!(
        after.iter().any(|r| r.client == "hub-1"
            && r.verb == Verb::List
            && r.resource.as_deref() == Some("pods")),
        "it re-listed after the compaction"
    );
    let all_writers: Vec<String> = writes(&fake).into_iter().map(|r| r.client).collect();
    assert!(all_writers.iter().all(|c| c == "hub-0"), "{all_writers:?}");
}
