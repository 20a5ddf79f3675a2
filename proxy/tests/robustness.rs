//! Hostile or awkward clients and upstreams: oversized heads, malformed
//! request lines, half-closed connections, slow upstreams, timeouts, HTTP/2.

mod support;

use std::time::{Duration, Instant};

use hyper::StatusCode;
use rafthub_proxy::{ProxyConfig, RouteTable};
use serde_json::json;
use support::backend::http_echo;
use support::client::{get, get_with, raw, read_to_close, send_h2};
use support::{route, start_proxy, target};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn echo_proxy(cfg: ProxyConfig) -> (support::TestProxy, support::backend::Backend) {
    let backend = http_echo().await;
    let table = RouteTable::new(false);
    table.upsert(route("/", &target(backend.addr), json!({})));
    (start_proxy(table, cfg).await, backend)
}

#[tokio::test]
async fn huge_headers_get_431() {
    let (p, backend) = echo_proxy(ProxyConfig::default()).await;
    let big = "a".repeat(100 * 1024);
    let resp = raw(
        p.addr,
        format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes(),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp:.80}");
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let resp = raw(
        p.addr,
        format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp:.80}");
    assert_eq!(backend.accepted_conns(), 0);
}

#[tokio::test]
async fn malformed_request_line_gets_400() {
    let (p, backend) = echo_proxy(ProxyConfig::default()).await;
    for bad in [
        "GARBAGE\r\n\r\n",
        "GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
    ] {
        let resp = raw(p.addr, bad.as_bytes()).await;
        assert!(
            resp.starts_with("HTTP/1.1 400") || resp.starts_with("HTTP/1.1 505"),
            "{bad:?} → {resp:.80}"
        );
    }
    assert_eq!(backend.accepted_conns(), 0);
    // The proxy still serves well-formed requests.
    assert_eq!(get(p.addr, "/ok").await.status, StatusCode::OK);
}

#[tokio::test]
async fn half_closed_client_still_gets_its_response() {
    let (p, _backend) = echo_proxy(ProxyConfig::default()).await;
    let mut s = TcpStream::connect(p.addr).await.expect("connect");
    s.write_all(b"GET /half HTTP/1.1\r\nHost: x\r\nX-Delay-Ms: 200\r\n\r\n")
        .await
        .expect("write");
    s.shutdown().await.expect("half close");
    let resp = read_to_close(&mut s).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp:.80}");
    assert!(resp.contains("/half"));
}

#[tokio::test]
async fn slow_upstream_does_not_block_other_routes() {
    let (slow, fast) = (http_echo().await, http_echo().await);
    let table = RouteTable::new(false);
    table.upsert(route("/user/slow/", &target(slow.addr), json!({})));
    table.upsert(route("/user/fast/", &target(fast.addr), json!({})));
    let p = start_proxy(table, ProxyConfig::default()).await;
    let addr = p.addr;
    let slow_reqs: Vec<_> = (0..8)
        .map(|_| {
            tokio::spawn(
                async move { get_with(addr, "/user/slow/x", &[("x-delay-ms", "1500")]).await },
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    for _ in 0..10 {
        assert_eq!(get(addr, "/user/fast/x").await.status, StatusCode::OK);
    }
    assert!(
        started.elapsed() < Duration::from_millis(1300),
        "fast route waited: {:?}",
        started.elapsed()
    );
    for r in slow_reqs {
        assert_eq!(r.await.expect("join").status, StatusCode::OK);
    }
}

#[tokio::test]
async fn request_timeout_gives_503() {
    let cfg = ProxyConfig {
        request_timeout: Some(Duration::from_millis(200)),
        ..Default::default()
    };
    let (p, _backend) = echo_proxy(cfg).await;
    let r = get_with(p.addr, "/slow", &[("x-delay-ms", "2000")]).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(p.addr, "/quick").await.status, StatusCode::OK);
}

#[tokio::test]
async fn no_request_timeout_by_default() {
    let (p, _backend) = echo_proxy(ProxyConfig::default()).await;
    let r = get_with(p.addr, "/slow", &[("x-delay-ms", "1200")]).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn http2_prior_knowledge_client() {
    let (p, _backend) = echo_proxy(ProxyConfig::default()).await;
    let s = TcpStream::connect(p.addr).await.expect("connect");
    let r = send_h2(s, "/h2/path?q=1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["uri"], "/h2/path?q=1");
    assert_eq!(
        r.echoed("host").as_deref(),
        Some("proxy.test"),
        ":authority becomes Host"
    );
    assert_eq!(r.echoed("x-forwarded-host").as_deref(), Some("proxy.test"));
}

#[tokio::test]
async fn upstream_status_and_headers_relayed() {
    let (p, _backend) = echo_proxy(ProxyConfig::default()).await;
    let r = get_with(p.addr, "/x", &[("x-status", "418")]).await;
    assert_eq!(r.status.as_u16(), 418);
    assert_eq!(r.headers["content-type"], "application/json");
    let text = p.proxy.render_metrics();
    assert!(text.contains("code=\"418\""), "{text}");
    assert!(
        text.contains("rafthub_proxy_upstream_latency_seconds_count 1"),
        "{text}"
    );
}
