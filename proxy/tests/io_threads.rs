//! The data path on its own threads (`io_threads`): connections are dealt out to
//! single-threaded runtimes, upstream connections are pooled per thread, websockets work, and
//! the hub's in-process requests run on the hub's runtime, so a slow one never holds up the
//! proxied connections that share its data-path thread.
//!
//! The threads are the process's (the first proxy decides their number), so every test in
//! this file asks for the same count, and the tests take turns: connections are dealt out
//! round-robin over the whole process.

mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use rafthub_proxy::{LocalHandler, ProxyBody, ProxyConfig, RouteTable};
use serde_json::json;
use support::backend::http_echo;
use support::client::get;
use support::ws::{ws_echo, WsClient};
use support::{route, start_proxy, target};
use tokio::net::TcpStream;

const THREADS: usize = 2;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

fn cfg() -> ProxyConfig {
    ProxyConfig {
        io_threads: THREADS,
        ..ProxyConfig::default()
    }
}

fn text(body: String) -> hyper::Response<ProxyBody> {
    hyper::Response::new(
        http_body_util::Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_clients_reuse_their_threads_upstream_connections() {
    let _turn = one_at_a_time().await;
    let backend = http_echo().await;
    let table = RouteTable::new(false);
    table.upsert(route("/user/a/", &target(backend.addr), json!({})));
    let p = start_proxy(table, cfg()).await;
    // As many keep-alive clients as threads, one after the other: each lands on its own
    // thread and keeps reusing that thread's one upstream connection.
    let mut clients = Vec::new();
    for _ in 0..THREADS {
        let io = TokioIo::new(TcpStream::connect(p.addr).await.unwrap());
        let (sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        clients.push(sender);
    }
    for _ in 0..5 {
        for c in &mut clients {
            let req = hyper::Request::get("/user/a/x")
                .header("host", "proxy.test")
                .body(http_body_util::Empty::<Bytes>::new())
                .unwrap();
            let resp = c.send_request(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            resp.into_body().collect().await.unwrap();
        }
    }
    assert_eq!(backend.accepted_conns(), THREADS, "one per thread");
    // New connections, one request each, all reuse the pooled ones.
    for _ in 0..10 {
        assert_eq!(get(p.addr, "/user/a/y").await.status, StatusCode::OK);
    }
    assert_eq!(backend.accepted_conns(), THREADS);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_are_relayed_from_the_data_path_threads() {
    let _turn = one_at_a_time().await;
    let backend = ws_echo().await;
    let table = RouteTable::new(false);
    table.upsert(route("/user/ws/", &target(backend.addr), json!({})));
    let p = start_proxy(table, cfg()).await;
    let mut socks = Vec::new();
    for _ in 0..4 {
        let mut ws = WsClient::connect(p.addr, "/user/ws/api/kernels/k/channels").await;
        assert!(ws.upgraded());
        ws.echo(&vec![7u8; 200_000]).await;
        socks.push(ws);
    }
    for mut ws in socks {
        ws.echo(b"again").await;
        ws.close().await;
    }
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_hub_request_does_not_hold_up_proxied_traffic() {
    let _turn = one_at_a_time().await;
    let backend = http_echo().await;
    let hub = http_echo().await;
    let local = LocalHandler::new(
        &target(hub.addr),
        |req: hyper::Request<ProxyBody>| async move {
            let thread = std::thread::current().name().unwrap_or("-").to_string();
            if req.uri().path() == "/hub/slow" {
                // Blocking on purpose: CPU-bound hub work (a huge list).
                std::thread::sleep(Duration::from_millis(1500));
            }
            text(thread)
        },
    )
    .offload_when(|req| req.uri().path() == "/hub/slow");
    let table = RouteTable::new(false);
    table.upsert(route("/", &target(hub.addr), json!({"hub": true})));
    table.upsert(route("/user/a/", &target(backend.addr), json!({})));
    let p = start_proxy(
        table,
        ProxyConfig {
            local_hub: Some(local),
            ..cfg()
        },
    )
    .await;
    // Cheap requests are answered in place.
    let r = get(p.addr, "/hub/where").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.text().starts_with("proxy-io-"),
        "answered on {}",
        r.text()
    );
    let addr = p.addr;
    let slow = tokio::spawn(async move { get(addr, "/hub/slow").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Every data-path thread serves some of these (connections are dealt round-robin).
    let started = Instant::now();
    for _ in 0..2 * THREADS {
        assert_eq!(get(p.addr, "/user/a/x").await.status, StatusCode::OK);
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(700),
        "proxied requests waited for the hub: {took:?}"
    );
    let r = slow.await.unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        !r.text().starts_with("proxy-io"),
        "answered on {}",
        r.text()
    );
    p.shutdown().await;
}
