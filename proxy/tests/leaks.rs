//! No leaked sockets: after a batch of requests, errors and websockets the
//! process's open file descriptors return to the baseline. Kept as the only
//! test in this binary so no other test's sockets disturb the count.

mod support;

use std::time::Duration;

use hyper::StatusCode;
use rafthub_proxy::{ProxyConfig, RouteTable};
use serde_json::json;
use support::backend::http_echo;
use support::client::{get, get_with, raw};
use support::ws::{ws_echo, WsClient};
use support::{dead_target, eventually, fd_count, route, start_proxy, target, WAIT};

#[tokio::test]
async fn fds_return_to_baseline() {
    let (web, ws) = (http_echo().await, ws_echo().await);
    let table = RouteTable::new(false);
    table.upsert(route("/", &target(web.addr), json!({})));
    table.upsert(route("/user/ws/", &target(ws.addr), json!({})));
    table.upsert(route("/user/gone/", &target(ws.addr), json!({})));
    table.upsert(route("/user/dead/", &dead_target().await, json!({})));
    // Short idle timeout so pooled upstream sockets are reaped within the test.
    let cfg = ProxyConfig {
        upstream_idle_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let p = start_proxy(table, cfg).await;
    // Warm up once so lazily created runtime/resolver fds are in the baseline.
    assert_eq!(get(p.addr, "/warm").await.status, StatusCode::OK);
    assert!(eventually(WAIT, || web.open_conns() == 0).await);
    let baseline = fd_count();

    let addr = p.addr;
    let mut tasks = Vec::new();
    for i in 0..40 {
        tasks.push(tokio::spawn(async move {
            let path = format!("/user/x/{i}");
            assert_eq!(get(addr, &path).await.status, StatusCode::OK);
            assert_eq!(
                get_with(addr, &path, &[("x-status", "500")])
                    .await
                    .status
                    .as_u16(),
                500
            );
            assert_eq!(get(addr, "/user/dead/x").await.status.as_u16(), 503);
        }));
    }
    for t in tasks {
        t.await.expect("request task");
    }
    for _ in 0..5 {
        let mut c = WsClient::connect(addr, "/user/ws/channels").await;
        c.echo(&vec![1u8; 64 * 1024]).await;
        c.close().await;
    }
    // Websockets dropped by the client without a close handshake.
    for _ in 0..3 {
        let mut c = WsClient::connect(addr, "/user/ws/channels").await;
        c.echo(b"abrupt").await;
        drop(c);
    }
    // Websockets cut by route removal.
    let mut cut = Vec::new();
    for _ in 0..3 {
        let mut c = WsClient::connect(addr, "/user/gone/x").await;
        c.echo(b"soon gone").await;
        cut.push(c);
    }
    assert!(
        fd_count() > baseline,
        "open tunnels hold sockets (the count is sensitive)"
    );
    p.table.remove("/user/gone");
    for mut c in cut {
        assert_eq!(c.recv().await, None);
    }
    // Garbage on the wire.
    let _ = raw(addr, b"NOT HTTP\r\n\r\n").await;

    let settled = eventually(WAIT, || fd_count() <= baseline).await;
    assert!(settled, "fds: baseline {baseline}, now {}", fd_count());
    assert_eq!(p.proxy.metrics().active_websockets(), 0);
}
