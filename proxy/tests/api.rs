//! CHP-compatible route API: status codes and bodies, as the hub's
//! `ConfigurableHTTPProxy` client expects them.

mod support;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use rafthub_proxy::{
    format_iso, serve_api, InMemoryRouteWriter, Metrics, Route, RouteApi, RouteTable,
    RouteWriteError, RouteWriter,
};
use serde_json::json;
use support::client::{request, Reply};
use tokio::net::TcpListener;

const TOKEN: &str = "s3cret";

async fn start_api<W: RouteWriter>(
    table: RouteTable,
    writer: W,
    token: Option<&str>,
) -> SocketAddr {
    let api = RouteApi::new(table, writer, token.map(str::to_owned));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve_api(listener, api, std::future::pending()));
    addr
}

async fn api(addr: SocketAddr, method: Method, path: &str, body: &str) -> Reply {
    let auth = format!("token {TOKEN}");
    request(
        addr,
        method,
        path,
        &[("authorization", &auth)],
        Bytes::from(body.to_owned()),
    )
    .await
}

async fn in_memory() -> (RouteTable, SocketAddr) {
    let table = RouteTable::new(false);
    let addr = start_api(
        table.clone(),
        InMemoryRouteWriter::new(table.clone()),
        Some(TOKEN),
    )
    .await;
    (table, addr)
}

/// The listing is written as text (not built as values): every entry, escapes included, must
/// be what a single GET answers.
#[tokio::test]
async fn listing_entries_equal_single_gets() {
    let (_table, addr) = in_memory().await;
    for (path, body) in [
        (
            "/api/routes/user/a%22b%5C",
            r#"{"target": "http://127.0.0.1:1", "user": "a\"b\\"}"#,
        ),
        ("/api/routes/bare", r#"{"target": "http://127.0.0.1:2"}"#),
        (
            "/api/routes/nested",
            r#"{"target": "http://127.0.0.1:3/x", "n": {"k": [1, "\u00e9"]}}"#,
        ),
    ] {
        let r = api(addr, Method::POST, path, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{path}");
    }
    let all = api(addr, Method::GET, "/api/routes", "").await.json();
    let all = all.as_object().expect("object");
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all.contains_key("/user/a\"b\\"), "{all:?}");
    for (spec, entry) in all {
        let path = spec.replace('"', "%22").replace('\\', "%5C");
        let one = api(addr, Method::GET, &format!("/api/routes{path}"), "").await;
        assert_eq!(one.status, StatusCode::OK, "{spec}");
        assert_eq!(&one.json(), entry, "{spec}");
        assert!(
            entry["target"].is_string() && entry["last_activity"].is_string(),
            "{entry}"
        );
    }
    assert_eq!(all["/bare"].as_object().map(|o| o.len()), Some(2));
    assert_eq!(all["/nested"]["n"]["k"][1], "\u{e9}");
}

#[tokio::test]
async fn add_get_list_delete() {
    let (table, addr) = in_memory().await;
    let body = r#"{"target": "http://127.0.0.1:8888", "jupyterhub": true, "user": "alice", "server_name": ""}"#;
    let r = api(addr, Method::POST, "/api/routes/user/alice/", body).await;
    assert_eq!((r.status, r.body.len()), (StatusCode::CREATED, 0));
    assert!(
        table.get("/user/alice").is_some(),
        "written through the writer"
    );

    let r = api(addr, Method::GET, "/api/routes", "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/json");
    let all = r.json();
    let alice = &all["/user/alice"];
    assert_eq!(alice["target"], "http://127.0.0.1:8888");
    assert_eq!(alice["jupyterhub"], true);
    assert_eq!(alice["user"], "alice");
    assert_eq!(alice["server_name"], "");
    let ts = alice["last_activity"].as_str().expect("last_activity");
    assert!(
        ts.ends_with('Z') && ts.len() == 24,
        "ISO 8601 like toISOString: {ts}"
    );

    let r = api(addr, Method::GET, "/api/routes/user/alice", "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["user"], "alice");
    assert_eq!(
        api(addr, Method::GET, "/api/routes/user/bob", "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let r = api(addr, Method::DELETE, "/api/routes/user/alice", "").await;
    assert_eq!((r.status, r.body.len()), (StatusCode::NO_CONTENT, 0));
    assert!(table.is_empty());
    assert_eq!(
        api(addr, Method::DELETE, "/api/routes/user/alice", "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn paths_are_decoded_once_and_trimmed() {
    let (table, addr) = in_memory().await;
    let body = r#"{"target": "http://127.0.0.1:1"}"#;
    api(addr, Method::POST, "/api/routes/user/a%40b%2540/", body).await;
    api(addr, Method::POST, "/api/routes", body).await;
    let keys: Vec<String> = table
        .get_all()
        .iter()
        .map(|r| r.spec().to_owned())
        .collect();
    assert_eq!(keys, ["/", "/user/a@b%40"]);
    let all = api(addr, Method::GET, "/api/routes/", "").await.json();
    assert!(
        all.get("/user/a@b%40").is_some() && all.get("/").is_some(),
        "{all}"
    );
}

#[tokio::test]
async fn auth_is_required() {
    let (_table, addr) = in_memory().await;
    for auth in [
        None,
        Some("token wrong"),
        Some("Bearer s3cret"),
        Some("tokens3cret"),
    ] {
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", *a)).collect();
        let r = request(addr, Method::GET, "/api/routes", &headers, Bytes::new()).await;
        assert_eq!(
            (r.status, r.body.len()),
            (StatusCode::FORBIDDEN, 0),
            "{auth:?}"
        );
    }
    // No token configured: open (CHP warns and allows).
    let table = RouteTable::new(false);
    let open = start_api(table.clone(), InMemoryRouteWriter::new(table), None).await;
    let r = request(open, Method::GET, "/api/routes", &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_requests() {
    let (table, addr) = in_memory().await;
    let cases = [
        ("not json", StatusCode::BAD_REQUEST),
        ("", StatusCode::BAD_REQUEST),
        ("{}", StatusCode::BAD_REQUEST),
        ("null", StatusCode::BAD_REQUEST),
        (r#"{"target": 5}"#, StatusCode::BAD_REQUEST),
        (r#"{"target": "not a url"}"#, StatusCode::BAD_REQUEST),
    ];
    for (body, code) in cases {
        let r = api(addr, Method::POST, "/api/routes/user/x", body).await;
        assert_eq!(r.status, code, "{body:?}: {}", r.text());
    }
    assert!(table.is_empty());
    assert_eq!(
        api(addr, Method::PUT, "/api/routes/x", "").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        api(addr, Method::GET, "/api/other", "").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api(addr, Method::GET, "/api/routesx", "").await.status,
        StatusCode::NOT_FOUND
    );
    let r = api(
        addr,
        Method::GET,
        "/api/routes?inactive_since=yesterday",
        "",
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn inactive_since_filters_on_last_activity() {
    let (table, addr) = in_memory().await;
    let body = r#"{"target": "http://127.0.0.1:1"}"#;
    api(addr, Method::POST, "/api/routes/user/old", body).await;
    api(addr, Method::POST, "/api/routes/user/new", body).await;
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    // Both were just added (active now): a future cutoff lists both, a past
    // one neither; then "new" gets a merged timestamp beyond the cutoff.
    let future = format_iso(SystemTime::now() + Duration::from_secs(60));
    let past = format_iso(hour_ago);
    let all = api(
        addr,
        Method::GET,
        &format!("/api/routes?inactive_since={future}"),
        "",
    )
    .await
    .json();
    assert_eq!(all.as_object().map(|m| m.len()), Some(2));
    let none = api(
        addr,
        Method::GET,
        &format!("/api/routes?inactiveSince={past}"),
        "",
    )
    .await
    .json();
    assert_eq!(none, json!({}));
    table.merge_activity("/user/new", SystemTime::now() + Duration::from_secs(120));
    let one = api(
        addr,
        Method::GET,
        &format!("/api/routes?inactive_since={future}"),
        "",
    )
    .await
    .json();
    assert!(
        one.get("/user/old").is_some() && one.get("/user/new").is_none(),
        "{one}"
    );
}

/// A writer that fails like a Raft cluster without a leader.
struct Unavailable;

impl RouteWriter for Unavailable {
    async fn add_route(&self, _route: Route) -> Result<(), RouteWriteError> {
        Err(RouteWriteError::Unavailable("no leader".into()))
    }
    async fn delete_route(&self, _spec: String) -> Result<(), RouteWriteError> {
        Err(RouteWriteError::Internal("boom".into()))
    }
}

#[tokio::test]
async fn writer_errors_map_to_status_codes() {
    let table = RouteTable::new(false);
    table.upsert(support::route("/user/a/", "http://127.0.0.1:1", json!({})));
    let addr = start_api(table.clone(), Unavailable, Some(TOKEN)).await;
    let r = api(
        addr,
        Method::POST,
        "/api/routes/user/b",
        r#"{"target": "http://127.0.0.1:2"}"#,
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "hub retries 5xx");
    let r = api(addr, Method::DELETE, "/api/routes/user/a", "").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(table.len(), 1, "the API never writes the table itself");
}

#[tokio::test]
async fn host_routing_adds_host_to_data() {
    let table = RouteTable::new(true);
    let addr = start_api(
        table.clone(),
        InMemoryRouteWriter::new(table.clone()),
        Some(TOKEN),
    )
    .await;
    let body = r#"{"target": "http://127.0.0.1:1"}"#;
    api(
        addr,
        Method::POST,
        "/api/routes/alice.hub.test/user/alice/",
        body,
    )
    .await;
    let r = table.get("/alice.hub.test/user/alice").expect("added");
    assert_eq!(r.data()["host"], "alice.hub.test");
}

#[tokio::test]
async fn api_metrics_are_shared() {
    let table = RouteTable::new(false);
    let metrics = Metrics::new();
    let api = RouteApi::new(
        table.clone(),
        InMemoryRouteWriter::new(table),
        Some(TOKEN.into()),
    )
    .with_metrics(metrics.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve_api(listener, api, std::future::pending()));
    api_get(addr).await;
    let text = metrics.render(0);
    assert!(
        text.contains("rafthub_proxy_api_route_get_total 1"),
        "{text}"
    );
    assert!(
        text.contains("rafthub_proxy_api_requests_total{code=\"200\",class=\"2xx\"} 1"),
        "{text}"
    );
}

async fn api_get(addr: SocketAddr) {
    assert_eq!(
        api(addr, Method::GET, "/api/routes", "").await.status,
        StatusCode::OK
    );
}
