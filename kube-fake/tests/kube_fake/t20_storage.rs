//! Storage semantics: revisions, system metadata, 404/409/422 bodies,
//! generateName, generation, no-op writes, per-kind rules, the two event views.

use http::Method;
use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference, Secret, Service};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use rafthub_kube_fake::FakeKube;
use serde_json::{json, Value};

use crate::support::{assert_api_error, pod, pods, raw, typed_pod, NS};

#[tokio::test]
async fn create_fills_system_metadata_and_revisions_increase() {
    let fake = FakeKube::new();
    let api = pods(&fake, "hub-0");
    let a = api
        .create(&PostParams::default(), &typed_pod(pod("a")))
        .await
        .unwrap();
    let svc = json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}});
    let s = fake.create("services", NS, svc).unwrap();
    let b = api
        .create(&PostParams::default(), &typed_pod(pod("b")))
        .await
        .unwrap();
    let rv = |x: &Option<String>| x.as_deref().unwrap().parse::<u64>().unwrap();
    let (ra, rs, rb) = (
        rv(&a.metadata.resource_version),
        rv(&s["metadata"]["resourceVersion"].as_str().map(String::from)),
        rv(&b.metadata.resource_version),
    );
    assert!(ra < rs && rs < rb, "one global revision: {ra} {rs} {rb}");
    assert_ne!(a.metadata.uid, b.metadata.uid);
    assert!(a.metadata.creation_timestamp.is_some());
    assert_eq!(a.metadata.generation, Some(1));
    assert_eq!(a.status.unwrap().phase.as_deref(), Some("Pending"));
    assert_eq!(
        a.spec.unwrap().termination_grace_period_seconds,
        Some(30),
        "defaulted"
    );
    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        list.metadata.resource_version,
        Some(fake.revision().to_string())
    );
}

#[tokio::test]
async fn error_bodies_are_status_objects() {
    let fake = FakeKube::new();
    let (code, _, body) = raw(
        &fake,
        Method::GET,
        "/api/v1/namespaces/ns/pods/nope",
        None,
        "",
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(
        body,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "pods \"nope\" not found", "reason": "NotFound",
               "details": {"name": "nope", "kind": "pods"}, "code": 404})
    );
    fake.create("pods", NS, pod("a")).unwrap();
    let (code, _, body) = raw(
        &fake,
        Method::POST,
        "/api/v1/namespaces/ns/pods",
        None,
        &pod("a").to_string(),
    )
    .await;
    assert_eq!(
        (code, body["reason"].as_str()),
        (409, Some("AlreadyExists"))
    );
    assert_eq!(body["message"], "pods \"a\" already exists");
    let (code, _, body) = raw(
        &fake,
        Method::GET,
        "/apis/events.k8s.io/v1/namespaces/ns/events/x",
        None,
        "",
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(
        body["details"],
        json!({"name": "x", "group": "events.k8s.io", "kind": "events"})
    );
    let (code, _, body) = raw(
        &fake,
        Method::GET,
        "/api/v1/namespaces/ns/widgets",
        None,
        "",
    )
    .await;
    assert_eq!((code, body["reason"].as_str()), (404, Some("NotFound")));
}

#[tokio::test]
async fn duplicate_create_is_already_exists_for_kube() {
    let fake = FakeKube::new();
    let api = pods(&fake, "hub-0");
    api.create(&PostParams::default(), &typed_pod(pod("a")))
        .await
        .unwrap();
    let s = assert_api_error(
        api.create(&PostParams::default(), &typed_pod(pod("a")))
            .await,
        409,
        "AlreadyExists",
    );
    assert_eq!(s.details.unwrap().name, "a");
}

#[tokio::test]
async fn stale_replace_conflicts_and_generation_follows_spec() {
    let fake = FakeKube::new();
    let api = pods(&fake, "hub-0");
    let a = api
        .create(&PostParams::default(), &typed_pod(pod("a")))
        .await
        .unwrap();
    let mut relabeled = a.clone();
    relabeled
        .metadata
        .labels
        .get_or_insert_default()
        .insert("x".into(), "1".into());
    let b = api
        .replace("a", &PostParams::default(), &relabeled)
        .await
        .unwrap();
    assert_eq!(
        b.metadata.generation,
        Some(1),
        "metadata change keeps generation"
    );
    // The first version's resourceVersion is stale now.
    let s = assert_api_error(
        api.replace("a", &PostParams::default(), &relabeled).await,
        409,
        "Conflict",
    );
    assert!(
        s.message.contains("the object has been modified"),
        "{}",
        s.message
    );
    let mut reimaged = b.clone();
    reimaged.spec.as_mut().unwrap().containers[0].image =
        Some("quay.io/jupyter/base-notebook:2026".into());
    let c = api
        .replace("a", &PostParams::default(), &reimaged)
        .await
        .unwrap();
    assert_eq!(
        c.metadata.generation,
        Some(2),
        "spec change bumps generation"
    );
    let mut recommanded = c.clone();
    recommanded.spec.as_mut().unwrap().containers[0].command = Some(vec!["sleep".into()]);
    let s = assert_api_error(
        api.replace("a", &PostParams::default(), &recommanded).await,
        422,
        "Invalid",
    );
    assert!(
        s.message.contains("pod updates may not change fields"),
        "{}",
        s.message
    );
}

#[tokio::test]
async fn noop_replace_commits_nothing() {
    let fake = FakeKube::new();
    let api = pods(&fake, "hub-0");
    let a = api
        .create(&PostParams::default(), &typed_pod(pod("a")))
        .await
        .unwrap();
    let before = fake.revision();
    let same = api.replace("a", &PostParams::default(), &a).await.unwrap();
    assert_eq!(same.metadata.resource_version, a.metadata.resource_version);
    assert_eq!(fake.revision(), before);
}

/// Asserts a create is rejected with 422 and that `field` is among the causes.
#[track_caller]
fn assert_invalid(fake: &FakeKube, resource: &str, obj: Value, field: &str) {
    match fake.create(resource, NS, obj) {
        Err(rafthub_kube_fake::FakeError::Api(e)) => {
            assert_eq!((e.code, e.reason), (422, "Invalid"));
            let causes = e.details.unwrap()["causes"].clone();
            assert!(
                causes
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["field"] == field),
                "{field} not in {causes}"
            );
        }
        other => panic!("expected 422 on {field}, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_names_labels_and_specs_are_422() {
    let fake = FakeKube::new();
    assert_invalid(&fake, "pods", pod("Jupyter-Alice"), "metadata.name");
    assert_invalid(&fake, "pods", pod(&"a".repeat(254)), "metadata.name");
    assert_invalid(&fake, "pods", pod("-bad"), "metadata.name");
    assert_invalid(
        &fake,
        "services",
        json!({"metadata": {"name": "1svc"}, "spec": {}}),
        "metadata.name",
    );
    assert_invalid(
        &fake,
        "services",
        json!({"metadata": {"name": &"s".repeat(64)}, "spec": {}}),
        "metadata.name",
    );
    let mut bad_label = pod("ok");
    bad_label["metadata"]["labels"]["user"] = json!("alice@example.com");
    assert_invalid(&fake, "pods", bad_label, "metadata.labels.user");
    assert_invalid(
        &fake,
        "pods",
        json!({"metadata": {"name": "c"}, "spec": {"containers": []}}),
        "spec.containers",
    );
    assert_invalid(
        &fake,
        "pods",
        json!({"metadata": {}, "spec": {}}),
        "metadata.name",
    );
    assert_invalid(
        &fake,
        "persistentvolumeclaims",
        json!({"metadata": {"name": "p"}, "spec": {}}),
        "spec.accessModes",
    );
    // Dots are fine in subdomain names, 253 characters is the limit.
    fake.create("pods", NS, pod(&format!("{}.b", "a".repeat(251))))
        .unwrap();
}

#[tokio::test]
async fn generate_name_appends_five_characters() {
    let fake = FakeKube::new();
    let gen =
        json!({"metadata": {"generateName": "jupyter-alice-"}, "spec": pod("x")["spec"].clone()});
    let a = fake.create("pods", NS, gen.clone()).unwrap();
    let b = fake.create("pods", NS, gen).unwrap();
    let (na, nb) = (
        a["metadata"]["name"].as_str().unwrap(),
        b["metadata"]["name"].as_str().unwrap(),
    );
    assert!(
        na.starts_with("jupyter-alice-") && na.len() == "jupyter-alice-".len() + 5,
        "{na}"
    );
    assert_ne!(na, nb);
}

#[tokio::test]
async fn secret_string_data_is_stored_as_data() {
    let fake = FakeKube::new();
    let api: Api<Secret> = Api::namespaced(fake.client("hub-0"), NS);
    let s: Secret = serde_json::from_value(
        json!({"metadata": {"name": "tok"}, "stringData": {"token": "abc"}}),
    )
    .unwrap();
    let created = api.create(&PostParams::default(), &s).await.unwrap();
    assert_eq!(created.string_data, None);
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    assert_eq!(created.data.unwrap()["token"].0, b"abc");
}

#[tokio::test]
async fn service_gets_a_cluster_ip_that_updates_keep() {
    let fake = FakeKube::new();
    let api: Api<Service> = Api::namespaced(fake.client("hub-0"), NS);
    let s: Service = serde_json::from_value(
        json!({"metadata": {"name": "jupyter-alice"}, "spec": {"ports": [{"port": 8888}]}}),
    )
    .unwrap();
    let created = api.create(&PostParams::default(), &s).await.unwrap();
    let ip = created.spec.as_ref().unwrap().cluster_ip.clone().unwrap();
    assert!(ip.starts_with("10.96."), "{ip}");
    let mut changed = created.clone();
    changed.spec.as_mut().unwrap().cluster_ip = Some("10.96.99.99".into());
    assert_api_error(
        api.replace("jupyter-alice", &PostParams::default(), &changed)
            .await,
        422,
        "Invalid",
    );
}

#[tokio::test]
async fn recorder_events_show_up_as_core_v1_events() {
    let fake = FakeKube::new();
    let p = fake.create("pods", NS, pod("jupyter-alice")).unwrap();
    let recorder = Recorder::new(
        fake.client("hub-0"),
        Reporter {
            controller: "rafthub".into(),
            instance: Some("hub-0".into()),
        },
    );
    let reference = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some("jupyter-alice".into()),
        namespace: Some(NS.into()),
        uid: p["metadata"]["uid"].as_str().map(String::from),
        ..ObjectReference::default()
    };
    let ev = Event {
        type_: EventType::Normal,
        reason: "Spawning".into(),
        note: Some("spawn requested".into()),
        action: "Spawn".into(),
        secondary: None,
    };
    recorder.publish(&ev, &reference).await.unwrap();
    let core: Api<CoreEvent> = Api::namespaced(fake.client("hub-0"), NS);
    let lp =
        ListParams::default().fields("involvedObject.kind=Pod,involvedObject.name=jupyter-alice");
    let listed = core.list(&lp).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let e = &listed.items[0];
    assert_eq!(e.reason.as_deref(), Some("Spawning"));
    assert_eq!(e.message.as_deref(), Some("spawn requested"));
    assert_eq!(e.reporting_component.as_deref(), Some("rafthub"));
    let write = fake
        .requests()
        .into_iter()
        .find(|r| r.verb.is_write())
        .unwrap();
    assert_eq!(write.path, "/apis/events.k8s.io/v1/namespaces/ns/events");
}

#[tokio::test]
async fn pods_get_a_qos_class_and_named_posts_are_refused() {
    let fake = FakeKube::new();
    let mut guaranteed = pod("g");
    guaranteed["spec"]["containers"][0]["resources"] =
        json!({"limits": {"cpu": "1", "memory": "1Gi"}});
    let mut burstable = pod("b");
    burstable["spec"]["containers"][0]["resources"] = json!({"requests": {"memory": "1Gi"}});
    let qos = |p: Value| {
        fake.create("pods", NS, p).unwrap()["status"]["qosClass"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        [qos(guaranteed), qos(burstable), qos(pod("e"))],
        ["Guaranteed", "Burstable", "BestEffort"]
    );
    let (code, _, _) = raw(
        &fake,
        Method::POST,
        "/api/v1/namespaces/ns/pods/x",
        None,
        &pod("x").to_string(),
    )
    .await;
    assert_eq!(code, 405);
    let (code, _, _) = raw(
        &fake,
        Method::PUT,
        "/api/v1/namespaces/ns/pods",
        None,
        &pod("x").to_string(),
    )
    .await;
    assert_eq!(code, 405);
}
