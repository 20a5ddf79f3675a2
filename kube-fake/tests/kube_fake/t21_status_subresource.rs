//! The status subresource: `/status` writes change only `.status`; main
//! resource writes ignore `.status`.

use http::Method;
use kube::api::{Patch, PatchParams, PostParams};
use rafthub_kube_fake::FakeKube;
use serde_json::json;

use crate::support::{pod, pods, raw, typed_pod, NS};

#[tokio::test]
async fn main_resource_writes_ignore_status() {
    let fake = FakeKube::new();
    let api = pods(&fake, "hub-0");
    let a = api
        .create(&PostParams::default(), &typed_pod(pod("a")))
        .await
        .unwrap();
    let mut running = a.clone();
    running.status.as_mut().unwrap().phase = Some("Running".into());
    let after = api
        .replace("a", &PostParams::default(), &running)
        .await
        .unwrap();
    assert_eq!(after.status.unwrap().phase.as_deref(), Some("Pending"));
    assert_eq!(
        after.metadata.resource_version, a.metadata.resource_version,
        "nothing changed"
    );
    let patch = json!({"status": {"phase": "Failed"}, "metadata": {"labels": {"x": "1"}}});
    let after = api
        .patch("a", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(after.status.unwrap().phase.as_deref(), Some("Pending"));
    assert_eq!(after.metadata.labels.unwrap()["x"], "1");
}

#[tokio::test]
async fn status_writes_change_only_status() {
    let fake = FakeKube::new();
    let api = pods(&fake, "hub-0");
    api.create(&PostParams::default(), &typed_pod(pod("a")))
        .await
        .unwrap();
    let patch = json!({"status": {"phase": "Running"}, "metadata": {"labels": {"x": "1"}},
                       "spec": {"containers": [{"name": "notebook", "image": "other"}]}});
    let after = api
        .patch_status("a", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    assert_eq!(
        after.status.as_ref().unwrap().phase.as_deref(),
        Some("Running")
    );
    assert!(!after.metadata.labels.as_ref().unwrap().contains_key("x"));
    assert_ne!(
        after.spec.as_ref().unwrap().containers[0].image.as_deref(),
        Some("other")
    );
    assert_eq!(
        after.metadata.generation,
        Some(1),
        "status writes never bump generation"
    );
    let mut replaced = after.clone();
    replaced.status.as_mut().unwrap().phase = Some("Succeeded".into());
    let done = api
        .replace_status("a", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(done.status.unwrap().phase.as_deref(), Some("Succeeded"));
}

#[tokio::test]
async fn status_of_kinds_without_status_is_404() {
    let fake = FakeKube::new();
    fake.create("secrets", NS, json!({"metadata": {"name": "s"}}))
        .unwrap();
    let (code, _, _) = raw(
        &fake,
        Method::GET,
        "/api/v1/namespaces/ns/secrets/s/status",
        None,
        "",
    )
    .await;
    assert_eq!(code, 404);
    let (code, _, body) = raw(
        &fake,
        Method::GET,
        "/api/v1/namespaces/ns/secrets/s",
        None,
        "",
    )
    .await;
    assert_eq!((code, body["metadata"]["name"].as_str()), (200, Some("s")));
}
