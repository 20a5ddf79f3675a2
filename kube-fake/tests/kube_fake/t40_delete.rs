//! Deletion: grace periods on the paused clock, finalizers, preconditions,
//! propagation and the ownerReference cascade.

use either::Either;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use rafthub_kube_fake::{FakeKube, Propagation};
use serde_json::{json, Value};
use tokio::time::{sleep, Duration};

use crate::support::{assert_api_error, event_reasons, pod, pods, NS};

fn exists(fake: &FakeKube, resource: &str, name: &str) -> bool {
    fake.get(resource, NS, name).is_some()
}

/// A running pod `a` with a Service and a Secret owned by it.
fn running_pod_with_dependents(fake: &FakeKube) -> Value {
    fake.create("pods", NS, pod("a")).unwrap();
    let p = fake.kubelet().start_now(NS, "a").unwrap();
    let owner =
        json!([{"apiVersion": "v1", "kind": "Pod", "name": "a", "uid": p["metadata"]["uid"]}]);
    let svc = json!({"metadata": {"name": "a", "ownerReferences": owner}, "spec": {"ports": [{"port": 8888}]}});
    fake.create("services", NS, svc).unwrap();
    fake.create(
        "secrets",
        NS,
        json!({"metadata": {"name": "a", "ownerReferences": owner}}),
    )
    .unwrap();
    p
}

#[tokio::test(start_paused = true)]
async fn graceful_delete_finishes_after_the_grace_period() {
    let fake = FakeKube::new();
    running_pod_with_dependents(&fake);
    let api = pods(&fake, "hub-0");
    let r = api
        .delete(
            "a",
            &DeleteParams {
                grace_period_seconds: Some(30),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    let Either::Left(p) = r else {
        panic!("a terminating pod is returned")
    };
    assert!(p.metadata.deletion_timestamp.is_some());
    assert_eq!(p.metadata.deletion_grace_period_seconds, Some(30));
    assert!(event_reasons(&fake, "a").contains(&"Killing".to_string()));
    sleep(Duration::from_secs(29)).await;
    assert!(exists(&fake, "pods", "a"), "still terminating");
    sleep(Duration::from_secs(2)).await;
    assert!(!exists(&fake, "pods", "a"), "gone after the grace period");
    assert!(
        !exists(&fake, "services", "a") && !exists(&fake, "secrets", "a"),
        "background cascade"
    );
}

#[tokio::test(start_paused = true)]
async fn a_second_delete_can_only_shorten_the_grace_period() {
    let fake = FakeKube::new();
    running_pod_with_dependents(&fake);
    let api = pods(&fake, "hub-0");
    api.delete(
        "a",
        &DeleteParams {
            grace_period_seconds: Some(30),
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    let rv = fake.revision();
    api.delete(
        "a",
        &DeleteParams {
            grace_period_seconds: Some(60),
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(fake.revision(), rv, "a longer grace period changes nothing");
    api.delete(
        "a",
        &DeleteParams {
            grace_period_seconds: Some(5),
            ..DeleteParams::default()
        },
    )
    .await
    .unwrap();
    sleep(Duration::from_secs(6)).await;
    assert!(!exists(&fake, "pods", "a"));
}

#[tokio::test]
async fn immediate_deletes_return_the_pod_but_a_status_for_secrets() {
    let fake = FakeKube::new();
    fake.create("pods", NS, pod("pending")).unwrap();
    let r = pods(&fake, "hub-0")
        .delete("pending", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        matches!(r, Either::Left(_)),
        "unscheduled pods go at once; pods return the object"
    );
    fake.create("secrets", NS, json!({"metadata": {"name": "s"}}))
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(fake.client("hub-0"), NS);
    let Either::Right(status) = secrets.delete("s", &DeleteParams::default()).await.unwrap() else {
        panic!("secrets answer with a Status")
    };
    assert!(status.is_success());
    assert_eq!(status.details.unwrap().name, "s");
    assert_api_error(
        secrets.delete("s", &DeleteParams::default()).await,
        404,
        "NotFound",
    );
}

#[tokio::test]
async fn finalizers_block_removal_until_the_last_one_goes() {
    let fake = FakeKube::new();
    let mut p = pod("a");
    p["metadata"]["finalizers"] = json!(["rafthub.io/cleanup"]);
    fake.create("pods", NS, p).unwrap();
    let api = pods(&fake, "hub-0");
    let Either::Left(p) = api.delete("a", &DeleteParams::default()).await.unwrap() else {
        panic!("still there")
    };
    assert!(p.metadata.deletion_timestamp.is_some());
    let add = json!({"metadata": {"finalizers": ["rafthub.io/cleanup", "late"]}});
    assert_api_error(
        api.patch("a", &PatchParams::default(), &Patch::Merge(&add))
            .await,
        422,
        "Invalid",
    );
    let remove = json!({"metadata": {"finalizers": null}});
    api.patch("a", &PatchParams::default(), &Patch::Merge(&remove))
        .await
        .unwrap();
    assert!(!exists(&fake, "pods", "a"));
}

#[tokio::test(start_paused = true)]
async fn grace_period_then_finalizer() {
    let fake = FakeKube::new();
    fake.create("pods", NS, pod("a")).unwrap();
    fake.kubelet().start_now(NS, "a").unwrap();
    fake.modify("pods", NS, "a", |p| {
        p["metadata"]["finalizers"] = json!(["f"])
    })
    .unwrap();
    pods(&fake, "hub-0")
        .delete("a", &DeleteParams::default())
        .await
        .unwrap();
    sleep(Duration::from_secs(31)).await;
    let p = fake.get("pods", NS, "a").expect("held by the finalizer");
    assert_eq!(p["metadata"]["deletionGracePeriodSeconds"], 0);
    let remove = json!({"metadata": {"finalizers": []}});
    pods(&fake, "hub-0")
        .patch("a", &PatchParams::default(), &Patch::Merge(&remove))
        .await
        .unwrap();
    assert!(!exists(&fake, "pods", "a"));
}

#[tokio::test]
async fn preconditions_conflict() {
    let fake = FakeKube::new();
    fake.create("pods", NS, pod("a")).unwrap();
    let api = pods(&fake, "hub-0");
    let wrong_uid = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("other".into()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let s = assert_api_error(api.delete("a", &wrong_uid).await, 409, "Conflict");
    assert!(
        s.message
            .contains("Precondition failed: UID in precondition: other"),
        "{}",
        s.message
    );
    let wrong_rv = DeleteParams {
        preconditions: Some(Preconditions {
            uid: None,
            resource_version: Some("1".into()),
        }),
        ..DeleteParams::default()
    };
    assert_api_error(api.delete("a", &wrong_rv).await, 409, "Conflict");
    assert!(exists(&fake, "pods", "a"));
}

#[tokio::test]
async fn orphan_keeps_dependents_and_foreground_deletes_them() {
    let fake = FakeKube::new();
    running_pod_with_dependents(&fake);
    let orphan = DeleteParams {
        grace_period_seconds: Some(0),
        propagation_policy: Some(kube::api::PropagationPolicy::Orphan),
        ..DeleteParams::default()
    };
    pods(&fake, "hub-0").delete("a", &orphan).await.unwrap();
    let svc = fake
        .get("services", NS, "a")
        .expect("orphaned, not deleted");
    assert_eq!(svc["metadata"]["ownerReferences"], json!([]));
    fake.delete("secrets", NS, "a", &Default::default())
        .unwrap();
    fake.delete("services", NS, "a", &Default::default())
        .unwrap();
    running_pod_with_dependents(&fake);
    let opts = rafthub_kube_fake::DeleteOptions {
        propagation: Some(Propagation::Foreground),
        ..Default::default()
    };
    fake.delete("pods", NS, "a", &opts).unwrap();
    assert!(!exists(&fake, "services", "a") && !exists(&fake, "secrets", "a"));
}

#[tokio::test]
async fn delete_collection_by_label() {
    let fake = FakeKube::new();
    for (name, app) in [("a", "jupyter"), ("b", "jupyter"), ("c", "other")] {
        let mut p = pod(name);
        p["metadata"]["labels"] = json!({"app": app});
        fake.create("pods", NS, p).unwrap();
    }
    let r = pods(&fake, "hub-0")
        .delete_collection(
            &DeleteParams::default(),
            &kube::api::ListParams::default().labels("app=jupyter"),
        )
        .await
        .unwrap();
    let Either::Left(list) = r else {
        panic!("the deleted objects are listed")
    };
    assert_eq!(list.items.len(), 2);
    let left: Vec<String> = fake
        .list("pods", Some(NS))
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, ["c"]);
}
