//! Data path routing: longest prefix, default route, path/query/header
//! forwarding, path traversal, host routing, errors and error pages.

mod support;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use rafthub_proxy::{ProxyConfig, RouteTable};
use serde_json::json;
use support::backend::http_echo;
use support::client::{get, get_with, request};
use support::{dead_target, route, start_proxy, target};

/// Hub at `/`, alice and alice's named server at their prefixes; each
/// backend is a separate echo so the answering backend can be told apart.
struct Setup {
    proxy: support::TestProxy,
    hub: support::backend::Backend,
    alice: support::backend::Backend,
    gpu: support::backend::Backend,
}

async fn setup(cfg: ProxyConfig) -> Setup {
    let (hub, alice, gpu) = (http_echo().await, http_echo().await, http_echo().await);
    let table = RouteTable::new(false);
    table.upsert(route("/", &target(hub.addr), json!({"hub": true})));
    table.upsert(route(
        "/user/alice/",
        &target(alice.addr),
        json!({"user": "alice"}),
    ));
    table.upsert(route(
        "/user/alice/gpu/",
        &target(gpu.addr),
        json!({"user": "alice"}),
    ));
    Setup {
        proxy: start_proxy(table, cfg).await,
        hub,
        alice,
        gpu,
    }
}

impl Setup {
    /// Which backend served `path` (by accepted-connection counts).
    async fn served_by(&self, path: &str) -> &'static str {
        let before = [
            self.hub.accepted_conns(),
            self.alice.accepted_conns(),
            self.gpu.accepted_conns(),
        ];
        let r = get(self.proxy.addr, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        let after = [
            self.hub.accepted_conns(),
            self.alice.accepted_conns(),
            self.gpu.accepted_conns(),
        ];
        match (0..3).find(|&i| after[i] > before[i]) {
            Some(0) => "hub",
            Some(1) => "alice",
            Some(2) => "gpu",
            _ => "none",
        }
    }
}

#[tokio::test]
async fn longest_prefix_and_default_route() {
    // With pooling, the first request to each backend opens a connection;
    // disable idle pooling so every request shows up as a new accept.
    let cfg = ProxyConfig {
        upstream_max_idle_per_host: 0,
        ..Default::default()
    };
    let s = setup(cfg).await;
    let cases = [
        ("/user/alice/api/x", "alice"),
        ("/user/alice", "alice"),
        ("/user/alice/", "alice"),
        ("/user/alice2/", "hub"),
        ("/user/alice/gpu/lab", "gpu"),
        ("/user/alice/gpux", "alice"),
        ("/hub/login", "hub"),
        ("/", "hub"),
        ("/user/bob/", "hub"),
    ];
    for (path, want) in cases {
        assert_eq!(s.served_by(path).await, want, "path {path}");
    }
}

#[tokio::test]
async fn full_path_and_query_forwarded_unchanged() {
    let s = setup(ProxyConfig::default()).await;
    let r = get(s.proxy.addr, "/user/alice/api/contents/a%20b?x=1&y=%2F").await;
    assert_eq!(r.json()["uri"], "/user/alice/api/contents/a%20b?x=1&y=%2F");
    let body = Bytes::from(vec![7u8; 3 * 1024 * 1024]);
    let r = request(s.proxy.addr, Method::POST, "/user/alice/upload", &[], body).await;
    assert_eq!(r.json()["method"], "POST");
    assert_eq!(
        r.json()["body_len"],
        3 * 1024 * 1024,
        "request body streamed through"
    );
    let r = get(s.proxy.addr, "/user/alice/files/big?size=4194304").await;
    assert_eq!(
        r.body.len(),
        4 * 1024 * 1024,
        "response body streamed through"
    );
}

#[tokio::test]
async fn path_traversal_is_resolved_before_lookup() {
    let cfg = ProxyConfig {
        upstream_max_idle_per_host: 0,
        ..Default::default()
    };
    let s = setup(cfg).await;
    // Routed on the normalised path, and that same path is forwarded.
    for (path, want_backend, want_uri) in [
        ("/user/bob/../alice/x", "alice", "/user/alice/x"),
        ("/user/alice/../bob/x", "hub", "/user/bob/x"),
        ("/user/alice/%2e%2e/bob/", "hub", "/user/bob/"),
        ("/user/alice/gpu/../../alice/y", "alice", "/user/alice/y"),
        ("/../user/alice/z", "alice", "/user/alice/z"),
    ] {
        assert_eq!(s.served_by(path).await, want_backend, "{path}");
        assert_eq!(
            get(s.proxy.addr, path).await.json()["uri"],
            want_uri,
            "{path}"
        );
    }
    // An encoded slash never splits a segment: this is not alice's route.
    assert_eq!(s.served_by("/user/bob%2F..%2Falice/x").await, "hub");
}

#[tokio::test]
async fn forwarded_headers_and_host_preserved() {
    let s = setup(ProxyConfig::default()).await;
    let r = get_with(
        s.proxy.addr,
        "/user/alice/x",
        &[
            ("host", "hub.example.org:8443"),
            ("x-forwarded-for", "10.1.1.1"),
            ("connection", "keep-alive, x-drop"),
            ("x-drop", "1"),
        ],
    )
    .await;
    assert_eq!(
        r.echoed("host").as_deref(),
        Some("hub.example.org:8443"),
        "Host not rewritten"
    );
    assert_eq!(
        r.echoed("x-forwarded-for").as_deref(),
        Some("10.1.1.1,127.0.0.1")
    );
    assert_eq!(r.echoed("x-forwarded-port").as_deref(), Some("8443"));
    assert_eq!(r.echoed("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(
        r.echoed("x-forwarded-host").as_deref(),
        Some("hub.example.org:8443")
    );
    assert_eq!(
        r.echoed("x-drop"),
        None,
        "headers named in Connection are hop-by-hop"
    );

    let cfg = ProxyConfig {
        x_forward: false,
        ..Default::default()
    };
    let s = setup(cfg).await;
    let r = get(s.proxy.addr, "/user/alice/x").await;
    assert_eq!(r.echoed("x-forwarded-for"), None);
}

#[tokio::test]
async fn no_route_is_404_and_dead_upstream_is_503() {
    let table = RouteTable::new(false);
    table.upsert(route("/user/dead/", &dead_target().await, json!({})));
    let p = start_proxy(table, ProxyConfig::default()).await;
    let r = get(p.addr, "/hub/").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text(), "Not Found");
    let r = get(p.addr, "/user/dead/lab").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.text(), "Service Unavailable");
    let metrics = p.proxy.render_metrics();
    assert!(
        metrics.contains("rafthub_proxy_requests_total{code=\"404\",class=\"4xx\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rafthub_proxy_requests_total{code=\"503\",class=\"5xx\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn error_target_renders_the_hub_error_page() {
    let hub = http_echo().await;
    let table = RouteTable::new(false);
    table.upsert(route("/user/dead/", &dead_target().await, json!({})));
    let cfg = ProxyConfig {
        error_target: Some(format!("{}/hub/error", target(hub.addr))),
        ..Default::default()
    };
    let p = start_proxy(table, cfg).await;
    let r = get(p.addr, "/nope/x?a=1").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "original status kept");
    assert_eq!(
        r.headers["content-type"], "application/json",
        "content-type copied"
    );
    assert_eq!(r.json()["uri"], "/hub/error/404?url=%2Fnope%2Fx%3Fa%3D1");
    let r = get(p.addr, "/user/dead/lab").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json()["uri"], "/hub/error/503?url=%2Fuser%2Fdead%2Flab");

    // Error target down too: plain-text fallback.
    let cfg = ProxyConfig {
        error_target: Some(dead_target().await),
        ..Default::default()
    };
    let p = start_proxy(RouteTable::new(false), cfg).await;
    let r = get(p.addr, "/x").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (StatusCode::NOT_FOUND, "Not Found")
    );
}

#[tokio::test]
async fn health_check() {
    let p = start_proxy(RouteTable::new(false), ProxyConfig::default()).await;
    let r = get(p.addr, "/_chp_healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"status": "OK"}));
}

#[tokio::test]
async fn host_routing_uses_host_as_first_segment() {
    let (hub, alice) = (http_echo().await, http_echo().await);
    let table = RouteTable::new(true);
    table.upsert(route("/", &target(hub.addr), json!({"hub": true})));
    table.upsert(route(
        "alice.hub.test/user/alice/",
        &target(alice.addr),
        json!({}),
    ));
    let cfg = ProxyConfig {
        upstream_max_idle_per_host: 0,
        ..Default::default()
    };
    let p = start_proxy(table, cfg).await;
    let r = get_with(
        p.addr,
        "/user/alice/lab",
        &[("host", "Alice.Hub.Test:8000")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["uri"],
        "/user/alice/lab",
        "host is not part of the forwarded path"
    );
    assert_eq!(alice.accepted_conns(), 1);
    let _ = get_with(p.addr, "/user/alice/lab", &[("host", "bob.hub.test")]).await;
    assert_eq!((alice.accepted_conns(), hub.accepted_conns()), (1, 1));
}

#[tokio::test]
async fn graceful_shutdown_returns() {
    let s = setup(ProxyConfig::default()).await;
    assert_eq!(
        get(s.proxy.addr, "/user/alice/").await.status,
        StatusCode::OK
    );
    s.proxy.shutdown().await;
}

/// The binary answers its own hub route in process: same path and query, forwarded headers
/// added, and only for `"hub": true` routes whose target is the handler's own.
#[tokio::test]
async fn local_hub_handler_answers_only_its_own_hub_route() {
    use http_body_util::BodyExt;
    use rafthub_proxy::LocalHandler;

    let hub = http_echo().await;
    let other_hub = http_echo().await;
    let local = LocalHandler::new(
        &target(hub.addr),
        |req: hyper::Request<rafthub_proxy::ProxyBody>| async move {
            let seen = format!(
                "local {} {} xff={}",
                req.method(),
                req.uri(),
                req.headers()
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-")
            );
            hyper::Response::new(
                http_body_util::Full::new(Bytes::from(seen))
                    .map_err(|never| match never {})
                    .boxed(),
            )
        },
    );
    let table = RouteTable::new(false);
    table.upsert(route("/", &target(hub.addr), json!({"hub": true})));
    table.upsert(route(
        "/other/",
        &target(other_hub.addr),
        json!({"hub": true}),
    ));
    let proxy = start_proxy(
        table,
        ProxyConfig {
            local_hub: Some(local),
            ..ProxyConfig::default()
        },
    )
    .await;

    let r = get(proxy.addr, "/hub/api/users?limit=2").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text(), "local GET /hub/api/users?limit=2 xff=127.0.0.1");
    assert_eq!(hub.accepted_conns(), 0, "the hub backend was not dialled");

    let r = get(proxy.addr, "/other/x").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(!r.text().starts_with("local"), "{}", r.text());
    assert_eq!(other_hub.accepted_conns(), 1);
    proxy.shutdown().await;
}
