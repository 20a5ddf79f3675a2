//! PATCH: merge, JSON, strategic merge and server-side apply.

use http::Method;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Patch, PatchParams, PostParams};
use rafthub_kube_fake::FakeKube;
use serde_json::{json, Value};

use crate::support::{assert_api_error, pod, pods, raw, typed_pod, NS};

/// Patches pod `a` through kube and returns the result as JSON.
async fn patch_a(fake: &FakeKube, patch: &Patch<Value>) -> Result<Value, kube::Error> {
    let p: Pod = pods(fake, "hub-0")
        .patch("a", &PatchParams::default(), patch)
        .await?;
    Ok(serde_json::to_value(p).unwrap())
}

fn with_pod_a() -> FakeKube {
    let fake = FakeKube::new();
    let mut p = pod("a");
    p["metadata"]["finalizers"] = json!(["rafthub.io/keep"]);
    p["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "sidecar", "image": "busybox:1"}));
    fake.create("pods", NS, p).unwrap();
    fake
}

#[tokio::test]
async fn merge_patch_sets_and_removes_fields() {
    let fake = with_pod_a();
    let v = patch_a(
        &fake,
        &Patch::Merge(json!({"metadata": {"labels": {"app": null, "x": "1"}}})),
    )
    .await
    .unwrap();
    assert_eq!(
        v["metadata"]["labels"],
        json!({"component": "singleuser-server", "x": "1"})
    );
}

#[tokio::test]
async fn json_patch_is_atomic_and_supports_test() {
    let fake = with_pod_a();
    let ops = json!([
        {"op": "add", "path": "/metadata/annotations", "value": {}},
        {"op": "add", "path": "/metadata/annotations/hub.jupyter.org~1username", "value": "alice"},
        {"op": "replace", "path": "/metadata/labels/app", "value": "hub"},
        {"op": "remove", "path": "/metadata/labels/component"},
    ]);
    let patch = Patch::Json::<Value>(serde_json::from_value(ops).unwrap());
    let v = patch_a(&fake, &patch).await.unwrap();
    assert_eq!(
        v["metadata"]["annotations"]["hub.jupyter.org/username"],
        "alice"
    );
    assert_eq!(v["metadata"]["labels"], json!({"app": "hub"}));
    let before = fake.revision();
    let failing = json!([
        {"op": "add", "path": "/metadata/labels/y", "value": "2"},
        {"op": "test", "path": "/metadata/labels/app", "value": "not-hub"},
    ]);
    let r = patch_a(
        &fake,
        &Patch::Json(serde_json::from_value(failing).unwrap()),
    )
    .await;
    assert_api_error(r, 422, "Invalid");
    assert_eq!(fake.revision(), before, "a failed test op applies nothing");
}

#[tokio::test]
async fn strategic_merge_uses_merge_keys_and_directives() {
    let fake = with_pod_a();
    let patch = json!({
        "metadata": {"finalizers": ["rafthub.io/other"]},
        "spec": {"containers": [{"name": "notebook", "image": "quay.io/jupyter/base-notebook:2026"}]}
    });
    let v = patch_a(&fake, &Patch::Strategic(patch)).await.unwrap();
    let containers: Vec<(&str, &str)> = v["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["image"].as_str().unwrap()))
        .collect();
    assert_eq!(
        containers,
        [
            ("notebook", "quay.io/jupyter/base-notebook:2026"),
            ("sidecar", "busybox:1")
        ]
    );
    assert_eq!(
        v["metadata"]["finalizers"],
        json!(["rafthub.io/keep", "rafthub.io/other"])
    );
    let drop_one = json!({"$deleteFromPrimitiveList/finalizers": ["rafthub.io/keep"]});
    let v = patch_a(&fake, &Patch::Strategic(json!({"metadata": drop_one})))
        .await
        .unwrap();
    assert_eq!(v["metadata"]["finalizers"], json!(["rafthub.io/other"]));
    let cond = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let api = pods(&fake, "hub-0");
    api.patch_status("a", &PatchParams::default(), &Patch::Strategic(cond))
        .await
        .unwrap();
    let cond = json!({"status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}});
    let p = api
        .patch_status("a", &PatchParams::default(), &Patch::Strategic(cond))
        .await
        .unwrap();
    assert_eq!(
        p.status.unwrap().conditions.unwrap().len(),
        2,
        "conditions merge by type"
    );
}

#[tokio::test]
async fn patch_with_stale_resource_version_conflicts() {
    let fake = with_pod_a();
    let rv = fake.get("pods", NS, "a").unwrap()["metadata"]["resourceVersion"].clone();
    patch_a(
        &fake,
        &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}})),
    )
    .await
    .unwrap();
    let stale = json!({"metadata": {"resourceVersion": rv, "labels": {"x": "2"}}});
    assert_api_error(patch_a(&fake, &Patch::Merge(stale)).await, 409, "Conflict");
}

#[tokio::test]
async fn patch_errors() {
    let fake = with_pod_a();
    let (code, _, body) = raw(
        &fake,
        Method::PATCH,
        "/api/v1/namespaces/ns/pods/a",
        Some("application/xml"),
        "{}",
    )
    .await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (415, Some("UnsupportedMediaType"))
    );
    let (code, _, _) = raw(
        &fake,
        Method::PATCH,
        "/api/v1/namespaces/ns/pods/zz",
        Some("application/merge-patch+json"),
        "{}",
    )
    .await;
    assert_eq!(code, 404);
    let (code, _, _) = raw(
        &fake,
        Method::PATCH,
        "/api/v1/namespaces/ns/pods/a",
        Some("application/merge-patch+json"),
        "{nope",
    )
    .await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn server_side_apply_creates_then_merges() {
    let fake = FakeKube::new();
    let api = pods(&fake, "hub-0");
    let r = api
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Apply(typed_pod(pod("a"))),
        )
        .await;
    assert_api_error(r, 422, "Invalid");
    let pp = PatchParams::apply("rafthub").force();
    let created = api
        .patch("a", &pp, &Patch::Apply(typed_pod(pod("a"))))
        .await
        .unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    let mut again = pod("a");
    again["metadata"]["labels"] = json!({"extra": "1"});
    let merged = api
        .patch("a", &pp, &Patch::Apply(typed_pod(again)))
        .await
        .unwrap();
    let labels = merged.metadata.labels.unwrap();
    assert_eq!(
        (
            labels.get("extra").map(String::as_str),
            labels.get("app").map(String::as_str)
        ),
        (Some("1"), Some("jupyter"))
    );
    let creates: Vec<u16> = fake.requests().iter().filter_map(|r| r.status).collect();
    assert_eq!(creates, [422, 201, 200]);
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\n    yaml: \"yes\"\n";
    let (code, _, body) = raw(
        &fake,
        Method::PATCH,
        "/api/v1/namespaces/ns/pods/a?fieldManager=kubectl",
        Some("application/apply-patch+yaml"),
        yaml,
    )
    .await;
    assert_eq!(
        (code, body["metadata"]["labels"]["yaml"].as_str()),
        (200, Some("yes"))
    );
    let _ = api
        .create(&PostParams::default(), &typed_pod(pod("b")))
        .await
        .unwrap();
}

#[tokio::test]
async fn strategic_patch_directives_delete_and_replace() {
    let fake = with_pod_a();
    let delete_sidecar = json!({"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}});
    let (code, _, body) = raw(
        &fake,
        Method::PATCH,
        "/api/v1/namespaces/ns/pods/a/status",
        Some("application/strategic-merge-patch+json"),
        &json!({"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "X", "status": "True"}]}}).to_string(),
    )
    .await;
    assert_eq!(
        (code, body["status"]["conditions"].as_array().map(Vec::len)),
        (200, Some(2))
    );
    let remove_x = json!({"status": {"conditions": [{"type": "X", "$patch": "delete"}]}});
    let p = pods(&fake, "hub-0")
        .patch_status("a", &PatchParams::default(), &Patch::Strategic(remove_x))
        .await
        .unwrap();
    let types: Vec<String> = p
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| c.type_)
        .collect();
    assert_eq!(types, ["Ready"]);
    let replace_labels = json!({"metadata": {"labels": {"$patch": "replace", "only": "this"}}});
    let v = patch_a(&fake, &Patch::Strategic(replace_labels))
        .await
        .unwrap();
    assert_eq!(v["metadata"]["labels"], json!({"only": "this"}));
    // Removing a container is a pod spec change the server refuses (422), so
    // the directive is checked on a list it may change: ownerReferences.
    let refs = json!({"metadata": {"ownerReferences": [
        {"apiVersion": "v1", "kind": "Secret", "name": "s1", "uid": "u1"},
        {"apiVersion": "v1", "kind": "Secret", "name": "s2", "uid": "u2"}]}});
    patch_a(&fake, &Patch::Strategic(refs)).await.unwrap();
    let drop_u1 = json!({"metadata": {"ownerReferences": [{"uid": "u1", "$patch": "delete"}]}});
    let v = patch_a(&fake, &Patch::Strategic(drop_u1)).await.unwrap();
    assert_eq!(
        v["metadata"]["ownerReferences"].as_array().unwrap().len(),
        1
    );
    assert_api_error(
        patch_a(&fake, &Patch::Strategic(delete_sidecar)).await,
        422,
        "Invalid",
    );
}
