//! LIST: paging with consistent snapshots, expired continue tokens,
//! selectors, resourceVersion semantics and all-namespaces lists.

use http::Method;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, VersionMatch};
use kube::ResourceExt;
use rafthub_kube_fake::FakeKube;
use serde_json::{json, Value};

use crate::support::{assert_api_error, pod, pods, raw, NS};

fn labelled(name: &str, labels: Value) -> Value {
    let mut p = pod(name);
    p["metadata"]["labels"] = labels;
    p
}

/// Names returned by one raw GET (status must be 200).
async fn names(fake: &FakeKube, uri: &str) -> Vec<String> {
    let (code, _, body) = raw(fake, Method::GET, uri, None, "").await;
    assert_eq!(code, 200, "{uri}: {body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// Lists pods in NS with `selector` (URL-encoded by kube) and compares names.
#[track_caller]
fn check_labels(
    fake: &FakeKube,
    selector: &str,
    want: &[&str],
) -> impl std::future::Future<Output = ()> {
    let api = pods(fake, "t");
    let selector = selector.to_string();
    let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    async move {
        let got: Vec<String> = api
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap()
            .items
            .iter()
            .map(|p| p.name_any())
            .collect();
        assert_eq!(got, want, "selector {selector:?}");
    }
}

#[tokio::test]
async fn paging_reads_one_consistent_snapshot() {
    let fake = FakeKube::new();
    for n in ["b", "c", "d", "e", "f"] {
        fake.create("pods", NS, pod(n)).unwrap();
    }
    let api = pods(&fake, "hub-0");
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(
        first.items.iter().map(|p| p.name_any()).collect::<Vec<_>>(),
        ["b", "c"]
    );
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let token = first.metadata.continue_.clone().unwrap();
    // Changes after the first page are invisible to the rest of the list.
    fake.modify("pods", NS, "d", |p| {
        p["metadata"]["labels"]["late"] = json!("1")
    })
    .unwrap();
    fake.create("pods", NS, pod("zz")).unwrap();
    fake.delete("pods", NS, "e", &Default::default()).unwrap();
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(
        second
            .items
            .iter()
            .map(|p| p.name_any())
            .collect::<Vec<_>>(),
        ["d", "e"]
    );
    assert!(!second.items[0].labels().contains_key("late"));
    assert_eq!(
        second.metadata.resource_version,
        first.metadata.resource_version
    );
    let third = api
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(second.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(
        third.items.iter().map(|p| p.name_any()).collect::<Vec<_>>(),
        ["f"]
    );
    assert_eq!(third.metadata.continue_, None);
}

#[tokio::test]
async fn expired_continue_token_is_http_410() {
    let fake = FakeKube::new();
    for n in ["a", "b", "c"] {
        fake.create("pods", NS, pod(n)).unwrap();
    }
    let api = pods(&fake, "hub-0");
    let first = api.list(&ListParams::default().limit(1)).await.unwrap();
    let token = first.metadata.continue_.unwrap();
    fake.create("pods", NS, pod("d")).unwrap();
    fake.compact();
    let s = assert_api_error(
        api.list(&ListParams::default().limit(1).continue_token(&token))
            .await,
        410,
        "Expired",
    );
    assert!(
        s.message.contains("continue parameter is too old"),
        "{}",
        s.message
    );
    let (code, _, body) = raw(
        &fake,
        Method::GET,
        &format!("/api/v1/namespaces/ns/pods?limit=1&continue={token}"),
        None,
        "",
    )
    .await;
    assert_eq!(code, 410);
    let inconsistent = body["metadata"]["continue"].as_str().unwrap().to_string();
    let rest = names(
        &fake,
        &format!("/api/v1/namespaces/ns/pods?continue={inconsistent}"),
    )
    .await;
    assert_eq!(
        rest,
        ["b", "c", "d"],
        "the inconsistent token continues at the current revision"
    );
}

#[tokio::test]
async fn label_selectors() {
    let fake = FakeKube::new();
    fake.create(
        "pods",
        NS,
        labelled("p1", json!({"app": "jupyter", "tier": "user"})),
    )
    .unwrap();
    fake.create(
        "pods",
        NS,
        labelled("p2", json!({"app": "jupyter", "tier": "hub"})),
    )
    .unwrap();
    fake.create(
        "pods",
        NS,
        labelled("p3", json!({"app": "other", "n": "5"})),
    )
    .unwrap();
    fake.create("pods", NS, labelled("p4", json!({}))).unwrap();
    check_labels(&fake, "app=jupyter", &["p1", "p2"]).await;
    check_labels(&fake, "app==jupyter,tier=hub", &["p2"]).await;
    check_labels(&fake, "app!=jupyter", &["p3", "p4"]).await;
    check_labels(&fake, "tier in (hub, user)", &["p1", "p2"]).await;
    check_labels(&fake, "tier notin (hub)", &["p1", "p3", "p4"]).await;
    check_labels(&fake, "tier", &["p1", "p2"]).await;
    check_labels(&fake, "!tier", &["p3", "p4"]).await;
    check_labels(&fake, "n>4", &["p3"]).await;
    check_labels(&fake, "", &["p1", "p2", "p3", "p4"]).await;
    let (code, _, _) = raw(
        &fake,
        Method::GET,
        "/api/v1/namespaces/ns/pods?labelSelector=tier%20in%20(a",
        None,
        "",
    )
    .await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn field_selectors() {
    let fake = FakeKube::new();
    fake.create("pods", "ns1", pod("a")).unwrap();
    fake.create("pods", "ns2", pod("a")).unwrap();
    fake.create("pods", "ns2", pod("b")).unwrap();
    fake.kubelet().start_now("ns2", "b").unwrap();
    assert_eq!(
        names(&fake, "/api/v1/pods?fieldSelector=metadata.name%3Da").await,
        ["a", "a"]
    );
    assert_eq!(
        names(&fake, "/api/v1/pods?fieldSelector=metadata.namespace%3Dns2").await,
        ["a", "b"]
    );
    assert_eq!(
        names(&fake, "/api/v1/pods?fieldSelector=status.phase%3DRunning").await,
        ["b"]
    );
    assert_eq!(
        names(&fake, "/api/v1/pods?fieldSelector=status.phase!%3DRunning").await,
        ["a", "a"]
    );
    let events = names(&fake, "/api/v1/namespaces/ns2/events?fieldSelector=involvedObject.kind%3DPod,involvedObject.name%3Db").await;
    assert!(
        !events.is_empty() && events.iter().all(|e| e.starts_with("b.")),
        "{events:?}"
    );
    let v1 = names(
        &fake,
        "/apis/events.k8s.io/v1/namespaces/ns2/events?fieldSelector=regarding.name%3Db",
    )
    .await;
    assert_eq!(v1, events, "events.k8s.io selects on regarding.*");
    let (code, _, body) = raw(
        &fake,
        Method::GET,
        "/api/v1/pods?fieldSelector=spec.image%3Dx",
        None,
        "",
    )
    .await;
    assert_eq!(
        (code, body["message"].as_str()),
        (400, Some("field label not supported: spec.image"))
    );
}

#[tokio::test]
async fn resource_version_semantics() {
    let fake = FakeKube::new();
    fake.create("pods", NS, pod("a")).unwrap();
    let at_a = fake.revision();
    fake.create("pods", NS, pod("b")).unwrap();
    let api: Api<Pod> = pods(&fake, "hub-0");
    let any = api.list(&ListParams::default().match_any()).await.unwrap();
    assert_eq!(any.items.len(), 2);
    let exact = ListParams::default()
        .at(&at_a.to_string())
        .matching(VersionMatch::Exact);
    let old = api.list(&exact).await.unwrap();
    assert_eq!(
        (old.items.len(), old.metadata.resource_version),
        (1, Some(at_a.to_string()))
    );
    let newer = ListParams::default()
        .at(&at_a.to_string())
        .matching(VersionMatch::NotOlderThan);
    assert_eq!(
        api.list(&newer).await.unwrap().metadata.resource_version,
        Some(fake.revision().to_string())
    );
    let future = ListParams::default()
        .at("999")
        .matching(VersionMatch::NotOlderThan);
    assert_api_error(api.list(&future).await, 504, "Timeout");
    fake.compact();
    assert_api_error(api.list(&exact).await, 410, "Expired");
    let (code, _, _) = raw(
        &fake,
        Method::GET,
        "/api/v1/namespaces/ns/pods?resourceVersionMatch=Exact",
        None,
        "",
    )
    .await;
    assert_eq!(code, 400);
}
