//! The TCP transport on 127.0.0.1: kubeconfig clients, identity by token,
//! watches (including faults) over real connections, and shutdown.

use futures::StreamExt;
use kube::api::{ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use rafthub_kube_fake::{serve, FakeKube, Fault, RequestMatch, Verb, WatchSelect};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::time::{timeout, Duration};

use crate::support::{assert_api_error, pod, typed_pod, NS};

/// Every wait in this file is bounded by this (real time).
const LIMIT: Duration = Duration::from_secs(10);

async fn next<T>(stream: &mut (impl futures::Stream<Item = T> + Unpin)) -> T {
    timeout(LIMIT, stream.next())
        .await
        .expect("event in time")
        .expect("stream open")
}

#[tokio::test]
async fn kubeconfig_clients_are_told_apart_by_token() {
    let fake = FakeKube::new();
    let server = fake.start_server().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path, "hub-0").unwrap();
    let kc = Kubeconfig::read_from(&path).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    assert_eq!(cfg.default_namespace, "default");
    let hub0 = kube::Client::try_from(cfg).unwrap();
    let hub1 = server.client("hub-1").await.unwrap();
    let api0: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(hub0, NS);
    let api1: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(hub1, NS);
    api0.create(&PostParams::default(), &typed_pod(pod("a")))
        .await
        .unwrap();
    assert_api_error(
        api1.create(&PostParams::default(), &typed_pod(pod("a")))
            .await,
        409,
        "AlreadyExists",
    );
    assert_eq!(
        api1.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    let log = fake.requests();
    let who: Vec<(&str, Verb, Option<u16>)> = log
        .iter()
        .map(|r| (r.client.as_str(), r.verb, r.status))
        .collect();
    assert_eq!(
        who,
        [
            ("hub-0", Verb::Create, Some(201)),
            ("hub-1", Verb::Create, Some(409)),
            ("hub-1", Verb::List, Some(200))
        ]
    );
    assert!(log
        .iter()
        .all(|r| r.peer.is_some_and(|p| p.ip().is_loopback())));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn watcher_over_tcp_survives_drops_and_compaction() {
    let fake = FakeKube::new();
    let server = fake.start_server().await.unwrap();
    fake.create("pods", NS, pod("a")).unwrap();
    let api = kube::Api::<k8s_openapi::api::core::v1::Pod>::namespaced(
        server.client("hub-0").await.unwrap(),
        NS,
    );
    let mut stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    for _ in 0..3 {
        next(&mut stream).await.unwrap();
    }
    fake.modify("pods", NS, "a", |p| {
        p["metadata"]["labels"]["x"] = json!("1")
    })
    .unwrap();
    assert!(matches!(next(&mut stream).await, Ok(Event::Apply(_))));
    // Connection dropped mid-body: kube re-watches from the same version, silently.
    let rv = fake.revision();
    assert_eq!(fake.abort_watches(&WatchSelect::all()), 1);
    fake.create("pods", NS, pod("b")).unwrap();
    assert!(matches!(next(&mut stream).await, Ok(Event::Apply(_))));
    let rewatch = fake.requests().pop().unwrap();
    assert_eq!(
        (rewatch.verb, rewatch.query_param("resourceVersion")),
        (Verb::Watch, Some(rv.to_string()))
    );
    // Compaction: ERROR 410 in the stream, then a full re-list.
    assert!(fake.wait_for_watches(&WatchSelect::all(), 1, LIMIT).await);
    assert_eq!(fake.compact(), 1);
    assert!(matches!(next(&mut stream).await, Err(watcher::Error::WatchError(s)) if s.code == 410));
    assert!(matches!(next(&mut stream).await, Ok(Event::Init)));
    assert!(matches!(next(&mut stream).await, Ok(Event::InitApply(_))));
    let lists = fake
        .requests()
        .iter()
        .filter(|r| r.verb == Verb::List)
        .count();
    assert_eq!(lists, 2);
}

#[tokio::test]
async fn throttling_over_tcp() {
    let fake = FakeKube::new();
    let server = fake.start_server().await.unwrap();
    fake.inject(
        RequestMatch::any().verb(Verb::Get),
        Fault::too_many_requests(2).times(1),
    );
    let client = reqwest_like_get(&server.url()).await;
    assert!(client.starts_with("HTTP/1.1 429"), "{client}");
    assert!(
        client.to_ascii_lowercase().contains("retry-after: 2"),
        "{client}"
    );
}

/// One raw HTTP/1.1 GET over a TCP socket; returns the response head.
async fn reqwest_like_get(base: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /api/v1/namespaces/ns/pods/x HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    timeout(LIMIT, s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn serve_stops_on_shutdown_and_closes_watches() {
    let fake = FakeKube::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, fake.clone(), async move {
        let _ = stopped.await;
    }));
    let url = format!("http://{addr}");
    let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
    let api = kube::Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client, NS);
    let mut events = api
        .watch(&kube::api::WatchParams::default(), "0")
        .await
        .unwrap()
        .boxed();
    assert!(fake.wait_for_watches(&WatchSelect::all(), 1, LIMIT).await);
    stop.send(()).unwrap();
    timeout(LIMIT, task).await.unwrap().unwrap().unwrap();
    let end = timeout(LIMIT, events.next()).await.unwrap();
    assert!(
        !matches!(end, Some(Ok(_))),
        "the stream ends with the server: {:?}",
        end.map(|r| r.is_ok())
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens any more"
    );
}
