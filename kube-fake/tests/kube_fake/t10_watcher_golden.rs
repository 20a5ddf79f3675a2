//! Golden test: a real kube 5 `watcher` (with `.default_backoff()`) against
//! the fake reproduces the transcript recorded in the team reference
//! (`k8s-testing-and-style.md` §1b), request for request.

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::ResourceExt;
use rafthub_kube_fake::{FakeConfig, FakeKube};
use serde_json::json;
use tokio::time::{timeout, Duration};

use crate::support::{pod, pods, uris, NS};

/// A compact rendering of watcher events: `Init`, `InitApply(a@10)`, `Err(410)`, ...
fn render(item: Result<Event<Pod>, watcher::Error>) -> String {
    let obj = |p: &Pod| {
        format!(
            "{}@{}",
            p.name_any(),
            p.resource_version().unwrap_or_default()
        )
    };
    match item {
        Ok(Event::Init) => "Init".into(),
        Ok(Event::InitApply(p)) => format!("InitApply({})", obj(&p)),
        Ok(Event::InitDone) => "InitDone".into(),
        Ok(Event::Apply(p)) => format!("Apply({})", obj(&p)),
        Ok(Event::Delete(p)) => format!("Delete({})", obj(&p)),
        Err(watcher::Error::WatchError(s)) => format!("WatchError({} {})", s.code, s.reason),
        Err(e) => format!("Err({e})"),
    }
}

/// Polls the next `n` watcher events (each within 10 minutes of paused time).
async fn next_n(
    stream: &mut (impl Stream<Item = Result<Event<Pod>, watcher::Error>> + Unpin),
    n: usize,
) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let item = timeout(Duration::from_secs(600), stream.next())
            .await
            .expect("watcher event")
            .expect("stream open");
        out.push(render(item));
    }
    out
}

#[tokio::test(start_paused = true)]
async fn kube_watcher_transcript() {
    // Revisions line up with the recorded transcript: `a` is created at 10.
    let fake = FakeKube::with_config(FakeConfig {
        initial_revision: 9,
        ..FakeConfig::default()
    });
    fake.create("pods", NS, pod("a")).unwrap();
    assert_eq!(fake.revision(), 10);

    let mut stream = watcher(pods(&fake, "hub-0"), watcher::Config::default())
        .default_backoff()
        .boxed();
    assert_eq!(
        next_n(&mut stream, 3).await,
        ["Init", "InitApply(a@10)", "InitDone"]
    );

    // MODIFIED at 11 is replayed to the watch that resumes from 10.
    fake.modify("pods", NS, "a", |p| {
        p["metadata"]["labels"]["seen"] = json!("yes")
    })
    .unwrap();
    assert_eq!(next_n(&mut stream, 1).await, ["Apply(a@11)"]);

    // Revision 12 belongs to another resource; the pod watch only learns it from a BOOKMARK.
    fake.create(
        "services",
        NS,
        json!({"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .unwrap();
    assert_eq!(fake.send_bookmarks(), 1);

    // Compaction: ERROR 410 inside the 200 stream. While nobody watches,
    // `b` appears and the revision reaches 20.
    assert_eq!(fake.compact(), 1);
    fake.create("pods", NS, pod("b")).unwrap();
    for i in 0..7 {
        fake.modify("services", NS, "svc", |s| {
            s["metadata"]["labels"]["n"] = json!(i.to_string())
        })
        .unwrap();
    }
    assert_eq!(fake.revision(), 20);
    assert_eq!(
        next_n(&mut stream, 5).await,
        [
            "WatchError(410 Expired)",
            "Init",
            "InitApply(a@11)",
            "InitApply(b@13)",
            "InitDone"
        ]
    );

    // The server ends the watch after timeoutSeconds=290: kube resumes from 20, no re-list.
    assert!(
        timeout(Duration::from_secs(300), stream.next())
            .await
            .is_err(),
        "no events expected"
    );

    let watch = "/api/v1/namespaces/ns/pods?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=";
    assert_eq!(
        uris(&fake, Some("hub-0")),
        [
            "/api/v1/namespaces/ns/pods?&limit=500".to_string(),
            format!("{watch}10"),
            "/api/v1/namespaces/ns/pods?&limit=500".to_string(),
            format!("{watch}20"),
            format!("{watch}20"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn bookmark_moves_the_resume_point() {
    let fake = FakeKube::new();
    fake.create("pods", NS, pod("a")).unwrap();
    let mut stream = watcher(pods(&fake, "hub-0"), watcher::Config::default())
        .default_backoff()
        .boxed();
    assert_eq!(
        next_n(&mut stream, 3).await,
        ["Init", "InitApply(a@2)", "InitDone"]
    );
    // Open the watch, then move the revision on elsewhere and bookmark it.
    fake.modify("pods", NS, "a", |p| {
        p["metadata"]["labels"]["x"] = json!("1")
    })
    .unwrap();
    assert_eq!(next_n(&mut stream, 1).await, ["Apply(a@3)"]);
    fake.create("secrets", NS, json!({"metadata": {"name": "s"}}))
        .unwrap();
    assert_eq!(fake.send_bookmarks(), 1);
    assert_eq!(
        fake.close_watches(&rafthub_kube_fake::WatchSelect::all().resource("pods")),
        1
    );
    let _ = timeout(Duration::from_secs(1), stream.next()).await;
    let last = uris(&fake, Some("hub-0")).pop().unwrap();
    assert!(
        last.ends_with("&resourceVersion=4"),
        "resumed from the bookmark: {last}"
    );
}

#[tokio::test(start_paused = true)]
async fn streaming_list_ends_with_initial_events_bookmark() {
    let fake = FakeKube::new();
    fake.create("pods", NS, pod("a")).unwrap();
    fake.create("pods", NS, pod("b")).unwrap();
    let cfg = watcher::Config::default().streaming_lists();
    let mut stream = watcher(pods(&fake, "hub-0"), cfg).default_backoff().boxed();
    assert_eq!(
        next_n(&mut stream, 4).await,
        ["Init", "InitApply(a@2)", "InitApply(b@3)", "InitDone"]
    );
    fake.create("pods", NS, pod("c")).unwrap();
    assert_eq!(next_n(&mut stream, 1).await, ["Apply(c@4)"]);
    let first = fake.requests()[0].clone();
    assert_eq!(
        first.query_param("sendInitialEvents").as_deref(),
        Some("true")
    );
    assert_eq!(
        first.query_param("resourceVersionMatch").as_deref(),
        Some("NotOlderThan")
    );
}
