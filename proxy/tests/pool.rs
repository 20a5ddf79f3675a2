//! Upstream connection pooling: reuse, and release when a target leaves the
//! route table (the CHP#557 ephemeral-port leak).

mod support;

use hyper::StatusCode;
use rafthub_proxy::{ProxyConfig, RouteTable};
use serde_json::json;
use support::backend::http_echo;
use support::client::get;
use support::{eventually, route, start_proxy, target, WAIT};

/// A proxy with one route, `/user/a/`, to `backend`.
async fn proxy_to(backend: &support::backend::Backend) -> support::TestProxy {
    let table = RouteTable::new(false);
    table.upsert(route("/user/a/", &target(backend.addr), json!({})));
    start_proxy(table, ProxyConfig::default()).await
}

#[tokio::test]
async fn keep_alive_reuses_upstream_connections() {
    let backend = http_echo().await;
    let p = proxy_to(&backend).await;
    for _ in 0..10 {
        assert_eq!(get(p.addr, "/user/a/x").await.status, StatusCode::OK);
    }
    assert_eq!(
        backend.accepted_conns(),
        1,
        "sequential requests share one pooled connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_do_not_churn_upstream_connections() {
    // 64 clients in lock step: each round needs 64 upstream connections at once. Every
    // connection over the idle cap is closed after its response and reopened in the next
    // round; the default cap must hold that concurrency.
    let backend = http_echo().await;
    let p = proxy_to(&backend).await;
    let addr = p.addr;
    let round = std::sync::Arc::new(tokio::sync::Barrier::new(64));
    let clients: Vec<_> = (0..64)
        .map(|_| {
            let round = round.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    round.wait().await;
                    assert_eq!(get(addr, "/user/a/x").await.status, StatusCode::OK);
                }
            })
        })
        .collect();
    for c in clients {
        c.await.expect("client");
    }
    // A connection returns to the pool just after its response reaches the client, so a
    // few extra connections are possible; a churning pool opens hundreds.
    let accepted = backend.accepted_conns();
    assert!(
        accepted <= 128,
        "20 rounds of 64 concurrent requests opened {accepted} upstream connections"
    );
}

#[tokio::test]
async fn removing_a_route_closes_its_pooled_connections() {
    let backend = http_echo().await;
    let p = proxy_to(&backend).await;
    assert_eq!(get(p.addr, "/user/a/x").await.status, StatusCode::OK);
    assert_eq!(backend.open_conns(), 1, "idle connection kept in the pool");
    p.table.remove("/user/a/");
    assert!(
        eventually(WAIT, || backend.open_conns() == 0).await,
        "pooled connection closed"
    );
}

#[tokio::test]
async fn shared_targets_stay_pooled_until_the_last_route_goes() {
    let hub = http_echo().await;
    let table = RouteTable::new(false);
    table.upsert(route("/", &target(hub.addr), json!({"hub": true})));
    table.upsert(route(
        "/services/x/",
        &target(hub.addr),
        json!({"service": "x"}),
    ));
    let p = start_proxy(table, ProxyConfig::default()).await;
    assert_eq!(get(p.addr, "/services/x/a").await.status, StatusCode::OK);
    p.table.remove("/services/x");
    assert_eq!(get(p.addr, "/hub/home").await.status, StatusCode::OK);
    assert_eq!(
        hub.accepted_conns(),
        1,
        "hub connection survived the service route's removal"
    );
    p.table.remove("/");
    assert!(eventually(WAIT, || hub.open_conns() == 0).await);
}

#[tokio::test]
async fn retargeting_closes_the_old_targets_connections() {
    let (old, new) = (http_echo().await, http_echo().await);
    let p = proxy_to(&old).await;
    assert_eq!(get(p.addr, "/user/a/x").await.status, StatusCode::OK);
    p.table
        .upsert(route("/user/a/", &target(new.addr), json!({})));
    assert!(eventually(WAIT, || old.open_conns() == 0).await);
    assert_eq!(get(p.addr, "/user/a/x").await.status, StatusCode::OK);
    assert_eq!(new.accepted_conns(), 1);
}

#[tokio::test]
async fn replace_all_keeps_unchanged_routes_pooled() {
    let (a, b) = (http_echo().await, http_echo().await);
    let table = RouteTable::new(false);
    table.upsert(route("/user/a/", &target(a.addr), json!({})));
    table.upsert(route("/user/b/", &target(b.addr), json!({})));
    let p = start_proxy(table, ProxyConfig::default()).await;
    get(p.addr, "/user/a/").await;
    get(p.addr, "/user/b/").await;
    p.table
        .replace_all([route("/user/a/", &target(a.addr), json!({"v": 2}))]);
    assert!(
        eventually(WAIT, || b.open_conns() == 0).await,
        "dropped route's connection closed"
    );
    assert_eq!(a.open_conns(), 1, "kept route's connection still pooled");
    assert_eq!(p.table.get("/user/a").expect("kept").data()["v"], 2);
}

/// A backend that answers each request on a connection with `reply`, then (after
/// `close_after` replies) closes the connection itself.
async fn raw_backend(reply: &'static str, close_after: usize) -> support::backend::Backend {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    support::backend::spawn_backend(move |mut stream, guard| async move {
        let _guard = guard;
        let mut buf = vec![0u8; 8192];
        for _ in 0..close_after {
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            if stream.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    })
    .await
}

#[tokio::test]
async fn empty_bodies_return_their_connection_to_the_pool() {
    // A 204 body is never polled by the server side; the connection must still be reused.
    let backend = raw_backend("HTTP/1.1 204 No Content\r\n\r\n", 100).await;
    let p = proxy_to(&backend).await;
    for _ in 0..10 {
        assert_eq!(
            get(p.addr, "/user/a/x").await.status,
            StatusCode::NO_CONTENT
        );
    }
    assert_eq!(backend.accepted_conns(), 1);
}

#[tokio::test]
async fn connections_the_upstream_closed_are_not_reused() {
    // Keep-alive replies, but the upstream closes each connection after one of them.
    let backend = raw_backend("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1).await;
    let p = proxy_to(&backend).await;
    for _ in 0..5 {
        let r = get(p.addr, "/user/a/x").await;
        assert_eq!(r.status, StatusCode::OK);
        // Let the close arrive, so the pooled connection is dead when it is next picked.
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    }
    assert_eq!(backend.accepted_conns(), 5);
    let closing = raw_backend(
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        1,
    )
    .await;
    p.table
        .upsert(route("/user/b/", &target(closing.addr), json!({})));
    for _ in 0..3 {
        assert_eq!(get(p.addr, "/user/b/x").await.status, StatusCode::OK);
    }
    assert_eq!(
        closing.accepted_conns(),
        3,
        "a closing connection is never pooled"
    );
}
