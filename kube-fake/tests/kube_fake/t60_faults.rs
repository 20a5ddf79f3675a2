//! Fault injection: error answers, throttling, quota, stalls, slow answers,
//! dropped/expired watches, per-client rules, and request-log assertions.

use futures::StreamExt;
use http::Method;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use rafthub_kube_fake::{FakeKube, Fault, RequestMatch, Verb, WatchSelect};
use serde_json::json;
use tokio::time::{sleep, timeout, Duration, Instant};

use crate::support::{assert_api_error, pod, pods, raw, typed_pod, uris, NS};

fn creates() -> RequestMatch {
    RequestMatch::any().verb(Verb::Create).resource("pods")
}

#[tokio::test]
async fn server_errors_apply_nothing_and_run_out() {
    let fake = FakeKube::new();
    fake.inject(creates(), Fault::status(503).times(1));
    fake.inject(creates(), Fault::status(500).times(1));
    let api = pods(&fake, "hub-0");
    let p = typed_pod(pod("a"));
    assert_api_error(
        api.create(&PostParams::default(), &p).await,
        503,
        "ServiceUnavailable",
    );
    assert_api_error(
        api.create(&PostParams::default(), &p).await,
        500,
        "InternalError",
    );
    assert!(
        fake.get("pods", NS, "a").is_none(),
        "failed requests apply nothing"
    );
    api.create(&PostParams::default(), &p).await.unwrap();
    let codes: Vec<u16> = fake.requests().iter().filter_map(|r| r.status).collect();
    assert_eq!(codes, [503, 500, 201]);
}

#[tokio::test]
async fn throttling_sends_retry_after() {
    let fake = FakeKube::new();
    fake.inject(
        RequestMatch::any().verb(Verb::List),
        Fault::too_many_requests(7).times(1),
    );
    let (code, headers, body) =
        raw(&fake, Method::GET, "/api/v1/namespaces/ns/pods", None, "").await;
    assert_eq!((code, headers["retry-after"].to_str().unwrap()), (429, "7"));
    assert_eq!(body["details"]["retryAfterSeconds"], 7);
    let (code, _, _) = raw(&fake, Method::GET, "/api/v1/namespaces/ns/pods", None, "").await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn quota_forbids_pvc_creation() {
    let fake = FakeKube::new();
    let quota = "exceeded quota: user-quota, requested: requests.storage=10Gi, used: requests.storage=95Gi, limited: requests.storage=100Gi";
    fake.inject(
        RequestMatch::any()
            .verb(Verb::Create)
            .resource("persistentvolumeclaims"),
        Fault::forbidden(quota),
    );
    let api: Api<PersistentVolumeClaim> = Api::namespaced(fake.client("hub-0"), NS);
    let pvc = serde_json::from_value(json!({"metadata": {"name": "claim-alice"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}})).unwrap();
    let s = assert_api_error(
        api.create(&PostParams::default(), &pvc).await,
        403,
        "Forbidden",
    );
    assert_eq!(
        s.message,
        format!("persistentvolumeclaims \"claim-alice\" is forbidden: {quota}")
    );
}

#[tokio::test(start_paused = true)]
async fn stalled_requests_wait_for_the_gate() {
    let fake = FakeKube::new();
    let (fault, gate) = Fault::stall();
    fake.inject(creates(), fault.times(1));
    let api = pods(&fake, "hub-0");
    let pending = tokio::spawn(async move {
        api.create(&PostParams::default(), &typed_pod(pod("a")))
            .await
    });
    sleep(Duration::from_secs(60)).await;
    assert!(
        !pending.is_finished() && fake.get("pods", NS, "a").is_none(),
        "stalled before handling"
    );
    gate.release();
    pending.await.unwrap().unwrap();
    assert!(fake.get("pods", NS, "a").is_some());
}

#[tokio::test(start_paused = true)]
async fn stall_after_commit_applies_the_write_but_withholds_the_answer() {
    let fake = FakeKube::new();
    let (fault, gate) = Fault::stall_after_commit();
    fake.inject(creates(), fault.times(1));
    let api = pods(&fake, "hub-0");
    let pending = tokio::spawn(async move {
        api.create(&PostParams::default(), &typed_pod(pod("a")))
            .await
    });
    sleep(Duration::from_secs(60)).await;
    assert!(!pending.is_finished(), "the client has heard nothing");
    assert!(fake.get("pods", NS, "a").is_some(), "but the pod exists");
    assert_eq!(fake.requests()[0].status, Some(201));
    drop(gate);
    fake.clear_faults();
    pending.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn slow_answers_take_their_time() {
    let fake = FakeKube::new();
    fake.inject(
        RequestMatch::any().verb(Verb::Get),
        Fault::delay(Duration::from_secs(3)),
    );
    fake.create("pods", NS, pod("a")).unwrap();
    let started = Instant::now();
    pods(&fake, "hub-0").get("a").await.unwrap();
    assert_eq!(started.elapsed().as_secs(), 3);
}

#[tokio::test]
async fn faults_can_target_one_client() {
    let fake = FakeKube::new();
    fake.inject(RequestMatch::any().client("hub-1"), Fault::status(503));
    pods(&fake, "hub-0")
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_api_error(
        pods(&fake, "hub-1").list(&ListParams::default()).await,
        503,
        "ServiceUnavailable",
    );
}

#[tokio::test(start_paused = true)]
async fn dropped_watch_resumes_without_relist() {
    let fake = FakeKube::new();
    fake.create("pods", NS, pod("a")).unwrap();
    let mut stream = watcher(pods(&fake, "hub-0"), watcher::Config::default())
        .default_backoff()
        .boxed();
    for _ in 0..3 {
        stream.next().await.unwrap().unwrap();
    }
    fake.modify("pods", NS, "a", |p| {
        p["metadata"]["labels"]["x"] = json!("1")
    })
    .unwrap();
    assert!(matches!(stream.next().await.unwrap(), Ok(Event::Apply(_))));
    let rv = fake.revision();
    assert_eq!(fake.abort_watches(&WatchSelect::all().client("hub-0")), 1);
    fake.create("pods", NS, pod("b")).unwrap();
    assert!(matches!(stream.next().await.unwrap(), Ok(Event::Apply(_))));
    let log = uris(&fake, Some("hub-0"));
    assert_eq!(
        log.iter().filter(|u| u.contains("limit=500")).count(),
        1,
        "no re-list: {log:?}"
    );
    assert_eq!(log.len(), 3, "list, watch, re-watch: {log:?}");
    assert!(
        log[2].ends_with(&format!("resourceVersion={rv}")),
        "{log:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn expired_watch_relists() {
    let fake = FakeKube::new();
    let mut stream = watcher(pods(&fake, "hub-1"), watcher::Config::default())
        .default_backoff()
        .boxed();
    for _ in 0..2 {
        stream.next().await.unwrap().unwrap();
    }
    let waiting = timeout(Duration::from_millis(10), stream.next()).await;
    assert!(waiting.is_err(), "the watch is open and idle");
    assert_eq!(fake.expire_watches(&WatchSelect::all().resource("pods")), 1);
    assert!(
        matches!(stream.next().await.unwrap(), Err(watcher::Error::WatchError(s)) if s.code == 410)
    );
    assert!(matches!(stream.next().await.unwrap(), Ok(Event::Init)));
    assert!(matches!(stream.next().await.unwrap(), Ok(Event::InitDone)));
    assert_eq!(
        uris(&fake, Some("hub-1"))
            .iter()
            .filter(|u| u.contains("limit=500"))
            .count(),
        2
    );
}

#[tokio::test]
async fn the_log_answers_who_wrote() {
    let fake = FakeKube::new();
    pods(&fake, "hub-0")
        .create(&PostParams::default(), &typed_pod(pod("a")))
        .await
        .unwrap();
    let r = pods(&fake, "hub-1")
        .create(&PostParams::default(), &typed_pod(pod("a")))
        .await;
    assert_api_error(r, 409, "AlreadyExists");
    pods(&fake, "hub-1")
        .list(&ListParams::default())
        .await
        .unwrap();
    let writers: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.is_successful_write())
        .map(|r| r.client.clone())
        .collect();
    assert_eq!(writers, ["hub-0"], "only the leader wrote successfully");
    let created = fake
        .requests()
        .iter()
        .filter(|r| r.verb == Verb::Create && r.status == Some(201))
        .count();
    assert_eq!(created, 1, "no pod created twice");
    let first = &fake.requests()[0];
    assert_eq!(
        (first.method.as_str(), first.content_type.as_deref()),
        ("POST", Some("application/json"))
    );
    assert_eq!(first.body_json().unwrap()["metadata"]["name"], "a");
}
