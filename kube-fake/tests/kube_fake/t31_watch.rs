//! WATCH on the wire: replay, expiry inside a 200 stream, synthetic ADDED,
//! timeouts, bookmarks, selector transitions, initial-events validation.

use rafthub_kube_fake::{FakeConfig, FakeKube};
use serde_json::json;
use tokio::time::Duration;

use crate::support::{pod, summarize, watch_events, NS};

const PODS: &str = "/api/v1/namespaces/ns/pods";

/// Short wait for more events: the fake sends replays immediately.
const QUIET: Duration = Duration::from_millis(50);

fn s(t: &str, n: &str, rv: u64) -> (String, String, String) {
    (t.to_string(), n.to_string(), rv.to_string())
}

#[tokio::test(start_paused = true)]
async fn replay_from_resource_version_ends_with_deleted_at_a_new_revision() {
    let fake = FakeKube::new();
    let start = fake.revision();
    fake.create("pods", NS, pod("a")).unwrap();
    fake.modify("pods", NS, "a", |p| {
        p["metadata"]["labels"]["x"] = json!("1")
    })
    .unwrap();
    fake.delete("pods", NS, "a", &Default::default()).unwrap();
    let (code, events) = watch_events(
        &fake,
        &format!("{PODS}?watch=1&resourceVersion={start}"),
        10,
        QUIET,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        summarize(&events),
        [
            s("ADDED", "a", start + 1),
            s("MODIFIED", "a", start + 2),
            s("DELETED", "a", start + 3)
        ]
    );
    assert_eq!(
        events[2]["object"]["metadata"]["labels"]["x"], "1",
        "DELETED carries the final object"
    );
}

#[tokio::test(start_paused = true)]
async fn too_old_resource_version_is_an_error_event_in_a_200() {
    let fake = FakeKube::with_config(FakeConfig {
        history_window: 2,
        ..FakeConfig::default()
    });
    let start = fake.revision();
    for n in ["a", "b", "c"] {
        fake.create("pods", NS, pod(n)).unwrap();
    }
    let (code, events) = watch_events(
        &fake,
        &format!("{PODS}?watch=1&resourceVersion={start}"),
        10,
        QUIET,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");
    // Inside the window it still works.
    let (_, events) = watch_events(
        &fake,
        &format!("{PODS}?watch=1&resourceVersion={}", start + 1),
        10,
        QUIET,
    )
    .await;
    assert_eq!(
        summarize(&events),
        [s("ADDED", "b", start + 2), s("ADDED", "c", start + 3)]
    );
}

#[tokio::test(start_paused = true)]
async fn watch_without_resource_version_starts_with_synthetic_added() {
    let fake = FakeKube::new();
    fake.create("pods", NS, pod("a")).unwrap();
    fake.create("pods", "elsewhere", pod("b")).unwrap();
    let (_, events) = watch_events(&fake, &format!("{PODS}?watch=true"), 10, QUIET).await;
    assert_eq!(summarize(&events), [s("ADDED", "a", 2)]);
    let (_, events) = watch_events(
        &fake,
        "/api/v1/pods?watch=true&resourceVersion=0",
        10,
        QUIET,
    )
    .await;
    assert_eq!(summarize(&events).len(), 2, "all namespaces");
}

#[tokio::test(start_paused = true)]
async fn timeout_seconds_ends_the_stream() {
    let fake = FakeKube::new();
    let started = tokio::time::Instant::now();
    let (code, events) = watch_events(
        &fake,
        &format!("{PODS}?watch=1&timeoutSeconds=5"),
        10,
        Duration::from_secs(3600),
    )
    .await;
    assert_eq!((code, events.len()), (200, 0));
    assert_eq!(started.elapsed().as_secs(), 5);
    assert_eq!(
        fake.watch_count(&rafthub_kube_fake::WatchSelect::all()),
        0,
        "the ended watch is forgotten"
    );
}

#[tokio::test(start_paused = true)]
async fn bookmarks_only_when_allowed() {
    let fake = FakeKube::new();
    let with = tokio::spawn({
        let fake = fake.clone();
        async move {
            watch_events(
                &fake,
                &format!("{PODS}?watch=1&allowWatchBookmarks=true&resourceVersion=1"),
                1,
                Duration::from_secs(5),
            )
            .await
        }
    });
    let without = tokio::spawn({
        let fake = fake.clone();
        async move {
            watch_events(
                &fake,
                &format!("{PODS}?watch=1&resourceVersion=1"),
                1,
                Duration::from_secs(5),
            )
            .await
        }
    });
    assert!(
        fake.wait_for_watches(
            &rafthub_kube_fake::WatchSelect::all(),
            2,
            Duration::from_secs(1)
        )
        .await
    );
    fake.create("secrets", NS, json!({"metadata": {"name": "s"}}))
        .unwrap();
    assert_eq!(fake.send_bookmarks(), 2);
    let (_, with) = with.await.unwrap();
    let (_, without) = without.await.unwrap();
    assert_eq!(
        with,
        [
            json!({"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "2"}}})
        ]
    );
    assert!(without.is_empty());
}

#[tokio::test(start_paused = true)]
async fn leaving_and_entering_the_selector_is_deleted_and_added() {
    let fake = FakeKube::new();
    let start = fake.revision();
    fake.create("pods", NS, pod("a")).unwrap();
    fake.modify("pods", NS, "a", |p| {
        p["metadata"]["labels"]["component"] = json!("other")
    })
    .unwrap();
    fake.modify("pods", NS, "a", |p| {
        p["metadata"]["labels"]["x"] = json!("1")
    })
    .unwrap();
    fake.modify("pods", NS, "a", |p| {
        p["metadata"]["labels"]["component"] = json!("singleuser-server")
    })
    .unwrap();
    let uri = format!(
        "{PODS}?watch=1&labelSelector=component%3Dsingleuser-server&resourceVersion={start}"
    );
    let (_, events) = watch_events(&fake, &uri, 10, QUIET).await;
    assert_eq!(
        summarize(&events),
        [
            s("ADDED", "a", start + 1),
            s("DELETED", "a", start + 2),
            s("ADDED", "a", start + 4)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn send_initial_events_needs_bookmarks_and_not_older_than() {
    let fake = FakeKube::new();
    fake.create("pods", NS, pod("a")).unwrap();
    let (code, _) = watch_events(
        &fake,
        &format!("{PODS}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"),
        1,
        QUIET,
    )
    .await;
    assert_eq!(code, 422);
    let (code, _) = watch_events(
        &fake,
        &format!("{PODS}?watch=1&allowWatchBookmarks=true&sendInitialEvents=true"),
        1,
        QUIET,
    )
    .await;
    assert_eq!(code, 422);
    let uri = format!("{PODS}?watch=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=0");
    let (code, events) = watch_events(&fake, &uri, 10, QUIET).await;
    assert_eq!(code, 200);
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[1]["type"], "BOOKMARK");
    assert_eq!(
        events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
}

#[tokio::test(start_paused = true)]
async fn events_k8s_io_watch_sees_kubelet_events_converted() {
    let fake = FakeKube::new();
    let start = fake.revision();
    fake.create("pods", NS, pod("a")).unwrap();
    fake.kubelet().schedule(NS, "a").unwrap();
    let uri =
        format!("/apis/events.k8s.io/v1/namespaces/ns/events?watch=1&resourceVersion={start}");
    let (_, events) = watch_events(&fake, &uri, 10, QUIET).await;
    assert_eq!(events.len(), 1);
    let e = &events[0]["object"];
    assert_eq!(
        (e["apiVersion"].as_str(), e["reason"].as_str()),
        (Some("events.k8s.io/v1"), Some("Scheduled"))
    );
    assert_eq!(e["regarding"]["name"], "a");
    assert_eq!(e["note"], "Successfully assigned ns/a to kube-fake-node-1");
    assert!(e.get("involvedObject").is_none());
}
