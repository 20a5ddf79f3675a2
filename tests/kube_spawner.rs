//! The Kubernetes spawner against kube-fake, in-process with paused time: the life of a
//! pod, the failures a kubelet reports, and claims that outlive their pods.

mod kube_support;

use std::time::Duration;

use kube_support::*;
use rafthub::spawner::kube::KubeConfig;
use rafthub::spawner::{Poll, Spawner};
use rafthub_kube_fake::{FakeKube, Plan, Timings, Verb};
use serde_json::{json, Value};

fn kube_cfg() -> KubeConfig {
    KubeConfig::default()
}

#[tokio::test(start_paused = true)]
async fn pod_lifecycle() {
    let fake = FakeKube::new();
    fake.kubelet().start_auto(Timings::default());
    let sp = spawner(&fake, "hub-0", spawner_config(60, kube_cfg())).await;
    let reserved = sp.reserve("alice", "", 1);
    assert_eq!(
        reserved,
        json!({"pod_name": "jupyter-alice", "namespace": NS,
               "dns_name": "jupyter-alice.default.svc.cluster.local", "pvc_name": "claim-alice"})
    );
    let (spec, mut progress) = new_spec("alice", "", 1);
    let started = sp.start(spec).await.expect("started");
    let pod = fake
        .get("pods", NS, "jupyter-alice")
        .expect("the pod exists");
    let ip = pod
        .pointer("/status/podIP")
        .and_then(Value::as_str)
        .unwrap();
    assert_eq!(started.target, format!("http://{ip}:8888"));
    assert_eq!(started.state, reserved, "state in KubeSpawner 7's keys");
    assert_eq!(
        pod.pointer("/metadata/annotations/rafthub~1generation"),
        Some(&json!("1"))
    );
    assert_eq!(
        pod.pointer("/spec/volumes/0/persistentVolumeClaim/claimName"),
        Some(&json!("claim-alice"))
    );
    let env = pod.pointer("/spec/containers/0/env").unwrap().to_string();
    assert!(env.contains("JUPYTERHUB_API_TOKEN") && env.contains("JUPYTER_IMAGE"));
    // Progress: the kubelet's events, in KubeSpawner's "<time> [<type>] <message>" form.
    let msgs = drain(&mut progress);
    for want in [
        "[Normal] Successfully assigned default/jupyter-alice",
        "[Normal] Pulling image",
        "[Normal] Started container notebook",
    ] {
        assert!(
            msgs.iter().any(|m| m.contains(want)),
            "{want} not in {msgs:?}"
        );
    }
    // list() and poll() read the warm cache: no API request at all.
    let before = fake.requests().len();
    let found = sp.list().await;
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0].user.as_str(),
            found[0].server.as_str(),
            found[0].generation
        ),
        ("alice", "", 1)
    );
    assert_eq!(found[0].target.as_deref(), Some(started.target.as_str()));
    assert_eq!(sp.poll(&started.state).await, Poll::Running);
    assert_eq!(
        fake.requests().len(),
        before,
        "list and poll made API requests"
    );

    sp.stop(&started.state, Duration::from_secs(5))
        .await
        .expect("stopped");
    assert!(fake.get("pods", NS, "jupyter-alice").is_none());
    assert_eq!(sp.poll(&started.state).await, Poll::Exited(None));
    assert!(sp.list().await.is_empty());
    assert!(
        fake.get("persistentvolumeclaims", NS, "claim-alice")
            .is_some(),
        "the claim outlives the pod"
    );
    let deletes: Vec<Value> = writes(&fake)
        .iter()
        .filter(|r| r.verb == Verb::Delete)
        .filter_map(|r| r.body_json())
        .collect();
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0]["gracePeriodSeconds"], 1, "delete_grace_period_s");
    assert_eq!(
        write_log(&fake),
        [
            w(
                "hub-0",
                Verb::Create,
                "persistentvolumeclaims",
                "claim-alice",
                201
            ),
            w("hub-0", Verb::Create, "pods", "jupyter-alice", 201),
            w("hub-0", Verb::Delete, "pods", "jupyter-alice", 200),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn image_pull_failure_times_out_with_the_reason() {
    let fake = FakeKube::new();
    fake.kubelet()
        .set_plan("jupyter-alice", Plan::ImagePullBackOff);
    fake.kubelet().start_auto(Timings::default());
    let sp = spawner(&fake, "hub-0", spawner_config(30, kube_cfg())).await;
    let (spec, mut progress) = new_spec("alice", "", 1);
    let err = sp.start(spec).await.expect_err("cannot run");
    let err = err.to_string();
    assert!(err.contains("did not start in 30 seconds"), "{err}");
    assert!(
        err.contains("ImagePullBackOff: Back-off pulling image"),
        "{err}"
    );
    let msgs = drain(&mut progress);
    assert!(
        msgs.iter()
            .any(|m| m.contains("[Warning] Failed to pull image")),
        "{msgs:?}"
    );
    // The controller stops what a failed start left behind.
    sp.stop(&sp.reserve("alice", "", 1), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(fake.get("pods", NS, "jupyter-alice").is_none());
}

#[tokio::test(start_paused = true)]
async fn unschedulable_times_out_with_the_schedulers_message() {
    let fake = FakeKube::new();
    let why = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.";
    fake.kubelet()
        .set_default_plan(Plan::Unschedulable(why.into()));
    fake.kubelet().start_auto(Timings::default());
    let sp = spawner(&fake, "hub-0", spawner_config(20, kube_cfg())).await;
    let (spec, mut progress) = new_spec("alice", "gpu", 1);
    let err = sp
        .start(spec)
        .await
        .expect_err("cannot schedule")
        .to_string();
    assert!(err.contains(&format!("(Unschedulable: {why})")), "{err}");
    assert!(err.contains("jupyter-alice--gpu"), "{err}");
    let msgs = drain(&mut progress);
    assert!(
        msgs.iter()
            .any(|m| m.ends_with(&format!("[Warning] {why}"))),
        "{msgs:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn evicted_pods_read_as_exited_and_are_not_listed() {
    let fake = FakeKube::new();
    fake.kubelet()
        .set_plan("jupyter-alice", Plan::EvictAfter(Duration::from_secs(60)));
    fake.kubelet().start_auto(Timings::default());
    let sp = spawner(&fake, "hub-0", spawner_config(60, kube_cfg())).await;
    let (spec, _progress) = new_spec("alice", "", 1);
    let started = sp.start(spec).await.unwrap();
    assert_eq!(sp.list().await.len(), 1);
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(sp.poll(&started.state).await, Poll::Exited(Some(137)));
    assert!(
        sp.list().await.is_empty(),
        "an evicted pod is not a running server"
    );
    // The Failed pod object stays until stopped (the controller does on MarkStopped).
    assert!(fake.get("pods", NS, "jupyter-alice").is_some());
    sp.stop(&started.state, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(fake.get("pods", NS, "jupyter-alice").is_none());
}

#[tokio::test(start_paused = true)]
async fn claims_are_reused_across_starts_and_from_before_safe_names() {
    let fake = FakeKube::new();
    fake.kubelet().start_auto(Timings::default());
    // A claim z2jh made for alice, with her files.
    let pvc = |name: &str| {
        json!({"metadata": {"name": name, "labels": {"component": "singleuser-storage"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}})
    };
    let old = fake
        .create("persistentvolumeclaims", NS, pvc("claim-alice"))
        .unwrap();
    let sp = spawner(&fake, "hub-0", spawner_config(60, kube_cfg())).await;
    for generation in 1..=2 {
        let (spec, _p) = new_spec("alice", "", generation);
        let started = sp.start(spec).await.unwrap();
        assert_eq!(started.state["pvc_name"], "claim-alice");
        sp.stop(&started.state, Duration::from_secs(5))
            .await
            .unwrap();
    }
    let now = fake
        .get("persistentvolumeclaims", NS, "claim-alice")
        .unwrap();
    assert_eq!(
        now["metadata"]["uid"], old["metadata"]["uid"],
        "the same claim, never re-made"
    );
    let pvc_writes: Vec<u16> = writes(&fake)
        .iter()
        .filter(|r| r.resource.as_deref() == Some("persistentvolumeclaims"))
        .map(|r| r.status.unwrap_or(0))
        .collect();
    assert_eq!(
        pvc_writes,
        [409, 409],
        "create answered AlreadyExists, which is fine"
    );

    // KubeSpawner < 7 named some_user's claim with the escape scheme: it is found and used.
    fake.create("persistentvolumeclaims", NS, pvc("claim-some-5fuser"))
        .unwrap();
    let (spec, _p) = new_spec("some_user", "", 1);
    let started = sp.start(spec).await.unwrap();
    assert_eq!(started.state["pvc_name"], "claim-some-5fuser");
    assert_eq!(started.state["pod_name"], "jupyter-some-user---7d3a4d4e");
    let pod = fake
        .get("pods", NS, "jupyter-some-user---7d3a4d4e")
        .unwrap();
    assert_eq!(
        pod.pointer("/spec/volumes/0/persistentVolumeClaim/claimName"),
        Some(&json!("claim-some-5fuser"))
    );
    assert!(fake
        .get("persistentvolumeclaims", NS, "claim-some-user---7d3a4d4e")
        .is_none());
}

#[tokio::test(start_paused = true)]
async fn services_and_connect_hosts() {
    let fake = FakeKube::new();
    fake.kubelet().start_auto(Timings::default());
    let cfg = KubeConfig {
        services_enabled: true,
        ..kube_cfg()
    };
    let sp = spawner(&fake, "hub-0", spawner_config(60, cfg)).await;
    let (spec, _p) = new_spec("alice", "", 1);
    let started = sp.start(spec).await.unwrap();
    assert_eq!(
        started.target,
        "http://jupyter-alice.default.svc.cluster.local:8888"
    );
    let pod = fake.get("pods", NS, "jupyter-alice").unwrap();
    let svc = fake
        .get("services", NS, "jupyter-alice")
        .expect("a service");
    assert_eq!(
        svc["metadata"]["ownerReferences"][0]["uid"],
        pod["metadata"]["uid"]
    );
    drop(sp);

    let cfg = KubeConfig {
        pod_connect_ip: Some("{username}.hub-users.{unescaped_username}".into()),
        storage: rafthub::spawner::kube::config::StorageConfig {
            kind: "none".into(),
            ..Default::default()
        },
        ..kube_cfg()
    };
    let sp = spawner(&fake, "hub-1", spawner_config(60, cfg)).await;
    let (spec, _p) = new_spec("bob", "", 1);
    let started = sp.start(spec).await.unwrap();
    assert_eq!(started.target, "http://bob.hub-users.bob:8888");
    assert!(started.state.get("pvc_name").is_none());
    assert!(fake
        .get("persistentvolumeclaims", NS, "claim-bob")
        .is_none());
}

#[tokio::test(start_paused = true)]
async fn the_event_cache_is_bounded_by_age_and_count() {
    let fake = FakeKube::new();
    fake.kubelet().start_auto(Timings::default());
    let cfg = KubeConfig {
        events_max_age_s: 600,
        events_cap: 8,
        ..kube_cfg()
    };
    let sp = spawner(&fake, "hub-0", spawner_config(60, cfg)).await;
    for user in ["a", "b", "c"] {
        let (spec, _p) = new_spec(user, "", 1);
        sp.start(spec).await.unwrap();
        assert!(sp.reflectors().event_count() <= 8, "cap exceeded");
    }
    assert!(
        fake.list("events", Some(NS)).len() > 8,
        "the namespace has more"
    );
    assert!(sp.reflectors().event_count() > 0);
    tokio::time::sleep(Duration::from_secs(700)).await;
    assert_eq!(sp.reflectors().event_count(), 0, "old events were evicted");
}
