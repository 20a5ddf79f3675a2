//! Websocket tunnelling: echo, large frames, idle connections, closing on
//! route removal, and CHP's bare-status errors for websocket requests.

mod support;

use std::time::Duration;

use rafthub_proxy::{ProxyConfig, RouteTable};
use serde_json::json;
use support::backend::http_echo;
use support::ws::{ws_echo, WsClient, TEXT};
use support::{dead_target, eventually, route, start_proxy, target, WAIT};

async fn ws_setup(cfg: ProxyConfig) -> (support::TestProxy, support::backend::Backend) {
    let backend = ws_echo().await;
    let table = RouteTable::new(false);
    table.upsert(route(
        "/user/alice/",
        &target(backend.addr),
        json!({"user": "alice"}),
    ));
    (start_proxy(table, cfg).await, backend)
}

#[tokio::test]
async fn echo_small_and_one_mebibyte_frames() {
    let (p, _backend) = ws_setup(ProxyConfig::default()).await;
    let mut ws = WsClient::connect(p.addr, "/user/alice/api/kernels/1/channels?session_id=x").await;
    assert!(ws.upgraded(), "handshake: {}", ws.head);
    assert!(
        ws.head
            .to_ascii_lowercase()
            .contains("sec-websocket-accept: test"),
        "upstream handshake headers relayed"
    );
    ws.send(TEXT, b"hello").await;
    assert_eq!(ws.recv().await, Some((TEXT, b"hello".to_vec())));
    let big: Vec<u8> = (0..(1024 * 1024 + 17)).map(|i| (i % 251) as u8).collect();
    ws.echo(&big).await;
    assert_eq!(p.proxy.metrics().active_websockets(), 1);
    ws.close().await;
    let m = p.proxy.metrics().clone();
    assert!(
        eventually(WAIT, || m.active_websockets() == 0).await,
        "tunnel ended after close"
    );
}

#[tokio::test]
async fn idle_websocket_stays_open() {
    // Short keep-alive header timeout: it must not apply to upgraded tunnels.
    let cfg = ProxyConfig {
        header_read_timeout: Some(Duration::from_millis(300)),
        ..Default::default()
    };
    let (p, _backend) = ws_setup(cfg).await;
    let mut ws = WsClient::connect(p.addr, "/user/alice/terminals/websocket/1").await;
    assert!(ws.upgraded(), "{}", ws.head);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ws.echo(b"still here").await;
    ws.close().await;
}

#[tokio::test]
async fn route_removal_closes_open_websocket() {
    let (p, backend) = ws_setup(ProxyConfig::default()).await;
    let mut ws = WsClient::connect(p.addr, "/user/alice/ws").await;
    assert!(ws.upgraded(), "{}", ws.head);
    ws.echo(b"before").await;
    assert!(p.table.remove("/user/alice"));
    assert_eq!(ws.recv().await, None, "client side closed by the proxy");
    assert!(
        eventually(WAIT, || backend.open_conns() == 0).await,
        "upstream side closed"
    );
    let m = p.proxy.metrics().clone();
    assert!(eventually(WAIT, || m.active_websockets() == 0).await);
}

#[tokio::test]
async fn retargeting_closes_websocket_but_data_update_does_not() {
    let (p, backend) = ws_setup(ProxyConfig::default()).await;
    let mut ws = WsClient::connect(p.addr, "/user/alice/ws").await;
    ws.echo(b"one").await;
    // Same target, new data: the tunnel survives.
    p.table.upsert(route(
        "/user/alice/",
        &target(backend.addr),
        json!({"user": "alice", "x": 1}),
    ));
    ws.echo(b"two").await;
    // New target: the old server is gone, so is the tunnel.
    let other = ws_echo().await;
    p.table.upsert(route(
        "/user/alice/",
        &target(other.addr),
        json!({"user": "alice"}),
    ));
    assert_eq!(ws.recv().await, None);
    let mut ws = WsClient::connect(p.addr, "/user/alice/ws").await;
    ws.echo(b"three").await;
    assert_eq!(other.accepted_conns(), 1);
    ws.close().await;
}

#[tokio::test]
async fn websocket_errors_are_bare_status_lines() {
    let hub = http_echo().await;
    let table = RouteTable::new(false);
    table.upsert(route("/user/dead/", &dead_target().await, json!({})));
    let cfg = ProxyConfig {
        error_target: Some(format!("{}/hub/error", target(hub.addr))),
        ..Default::default()
    };
    let p = start_proxy(table, cfg).await;
    for (path, code) in [("/user/dead/ws", "503"), ("/nothing/ws", "404")] {
        let mut ws = WsClient::connect(p.addr, path).await;
        assert!(
            ws.head.starts_with(&format!("HTTP/1.1 {code}")),
            "{path}: {}",
            ws.head
        );
        assert!(
            ws.head.to_ascii_lowercase().contains("content-length: 0"),
            "{}",
            ws.head
        );
        assert_eq!(ws.recv().await, None, "connection closed after the status");
    }
    assert_eq!(
        hub.accepted_conns(),
        0,
        "error target not used for websockets"
    );
}

#[tokio::test]
async fn websocket_to_plain_http_backend_relays_its_response() {
    let backend = http_echo().await;
    let table = RouteTable::new(false);
    table.upsert(route("/", &target(backend.addr), json!({})));
    let p = start_proxy(table, ProxyConfig::default()).await;
    let ws = WsClient::connect(p.addr, "/not-a-ws-endpoint").await;
    assert!(ws.head.starts_with("HTTP/1.1 200"), "{}", ws.head);
}
