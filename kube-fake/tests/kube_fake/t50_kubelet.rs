//! The simulated scheduler/kubelet: manual steps, auto mode on the paused
//! clock, failure plans, and the events each transition emits.

use kube::api::{DeleteParams, PostParams};
use rafthub_kube_fake::{FakeKube, Plan, Timings};
use serde_json::{json, Value};
use tokio::time::{sleep, Duration};

use crate::support::{event_reasons, pod, pods, typed_pod, NS};

fn phase(fake: &FakeKube, name: &str) -> String {
    fake.get("pods", NS, name).unwrap()["status"]["phase"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn condition(p: &Value, ty: &str) -> Value {
    p["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty).cloned())
        .unwrap_or(Value::Null)
}

fn waiting_reason(p: &Value) -> &str {
    p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
        .as_str()
        .unwrap_or("")
}

#[tokio::test]
async fn manual_steps_walk_pending_to_running_with_events() {
    let fake = FakeKube::new();
    fake.create("pods", NS, pod("a")).unwrap();
    let k = fake.kubelet();
    let p = k.schedule(NS, "a").unwrap();
    assert_eq!(p["spec"]["nodeName"], "kube-fake-node-1");
    assert_eq!(condition(&p, "PodScheduled")["status"], "True");
    let p = k.container_creating(NS, "a").unwrap();
    assert_eq!(
        (p["status"]["phase"].as_str(), waiting_reason(&p)),
        (Some("Pending"), "ContainerCreating")
    );
    assert_eq!(condition(&p, "Ready")["reason"], "ContainersNotReady");
    let p = k.run(NS, "a").unwrap();
    assert_eq!(p["status"]["phase"], "Running");
    assert!(p["status"]["podIP"]
        .as_str()
        .unwrap()
        .starts_with("10.244."));
    assert_eq!(condition(&p, "Ready")["status"], "True");
    assert_eq!(p["status"]["containerStatuses"][0]["ready"], true);
    assert!(p["status"]["containerStatuses"][0]["state"]["running"]["startedAt"].is_string());
    assert_eq!(
        event_reasons(&fake, "a"),
        ["Scheduled", "Pulling", "Pulled", "Created", "Started"]
    );
    let scheduled = &fake.list("events", Some(NS))[0];
    assert_eq!(scheduled["source"]["component"], "default-scheduler");
    assert_eq!(scheduled["involvedObject"]["kind"], "Pod");
    assert_eq!(scheduled["involvedObject"]["uid"], p["metadata"]["uid"]);
    let p = k.set_ready(NS, "a", false).unwrap();
    assert_eq!(condition(&p, "Ready")["status"], "False");
    assert!(fake.requests().is_empty(), "the kubelet is not a client");
}

#[tokio::test(start_paused = true)]
async fn auto_mode_runs_pods_on_the_tokio_clock() {
    let fake = FakeKube::new();
    let t = Timings {
        schedule: Duration::from_secs(1),
        pull: Duration::from_secs(2),
        start: Duration::from_secs(3),
        bind: Duration::from_secs(1),
    };
    fake.kubelet().start_auto(t);
    pods(&fake, "hub-0")
        .create(&PostParams::default(), &typed_pod(pod("a")))
        .await
        .unwrap();
    let pvc = json!({"metadata": {"name": "claim-a"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
    fake.create("persistentvolumeclaims", NS, pvc).unwrap();
    sleep(Duration::from_millis(5900)).await;
    assert_eq!(
        waiting_reason(&fake.get("pods", NS, "a").unwrap()),
        "ContainerCreating"
    );
    sleep(Duration::from_millis(200)).await;
    assert_eq!(phase(&fake, "a"), "Running");
    let claim = fake.get("persistentvolumeclaims", NS, "claim-a").unwrap();
    assert_eq!(claim["status"]["phase"], "Bound");
}

#[tokio::test(start_paused = true)]
async fn failure_plans() {
    let fake = FakeKube::new();
    let k = fake.kubelet();
    k.set_plan("pull", Plan::ImagePullBackOff);
    k.set_plan(
        "full",
        Plan::Unschedulable("0/3 nodes are available: 3 Insufficient cpu.".into()),
    );
    k.set_plan("evicted", Plan::EvictAfter(Duration::from_secs(10)));
    k.set_plan("done", Plan::ExitAfter(Duration::from_secs(10), 0));
    k.start_auto(Timings::default());
    for n in ["pull", "full", "evicted", "done"] {
        fake.create("pods", NS, pod(n)).unwrap();
    }
    sleep(Duration::from_secs(30)).await;
    let pull = fake.get("pods", NS, "pull").unwrap();
    assert_eq!(
        (phase(&fake, "pull").as_str(), waiting_reason(&pull)),
        ("Pending", "ImagePullBackOff")
    );
    assert_eq!(
        event_reasons(&fake, "pull"),
        [
            "Scheduled",
            "Pulling",
            "Failed",
            "Failed",
            "BackOff",
            "Failed"
        ]
    );
    let full = fake.get("pods", NS, "full").unwrap();
    assert_eq!(condition(&full, "PodScheduled")["reason"], "Unschedulable");
    assert!(full["spec"]["nodeName"].is_null());
    let failed = fake
        .list("events", Some(NS))
        .into_iter()
        .find(|e| e["reason"] == "FailedScheduling")
        .unwrap();
    assert_eq!(
        (failed["type"].as_str(), failed["message"].as_str()),
        (
            Some("Warning"),
            Some("0/3 nodes are available: 3 Insufficient cpu.")
        )
    );
    let evicted = fake.get("pods", NS, "evicted").unwrap();
    assert_eq!(
        (
            evicted["status"]["phase"].as_str(),
            evicted["status"]["reason"].as_str()
        ),
        (Some("Failed"), Some("Evicted"))
    );
    assert_eq!(phase(&fake, "done"), "Succeeded");
    // Finished pods are deleted at once, whatever the grace period.
    pods(&fake, "hub-0")
        .delete(
            "done",
            &DeleteParams {
                grace_period_seconds: Some(30),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    assert!(fake.get("pods", NS, "done").is_none());
}

#[tokio::test(start_paused = true)]
async fn stop_auto_leaves_pods_where_they_are() {
    let fake = FakeKube::new();
    let k = fake.kubelet();
    k.start_auto(Timings::default());
    fake.create("pods", NS, pod("a")).unwrap();
    sleep(Duration::from_millis(150)).await;
    k.stop_auto();
    sleep(Duration::from_secs(10)).await;
    let p = fake.get("pods", NS, "a").unwrap();
    assert_eq!(
        p["spec"]["nodeName"], "kube-fake-node-1",
        "scheduled before stop"
    );
    assert!(
        p["status"]["containerStatuses"].is_null(),
        "nothing after stop"
    );
}
