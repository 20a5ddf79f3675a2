//! Shared test support: a proxy on 127.0.0.1:0, small backends, clients.
//! Every wait here is bounded, so a broken proxy fails a test instead of
//! hanging it.
#![allow(dead_code)]

pub mod backend;
pub mod client;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use rafthub_proxy::{serve, Proxy, ProxyConfig, Route, RouteTable};
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Upper bound for any single wait in tests.
pub const WAIT: Duration = Duration::from_secs(5);

pub struct TestProxy {
    pub addr: SocketAddr,
    pub proxy: Proxy,
    pub table: RouteTable,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestProxy {
    /// Trigger shutdown and wait (bounded) for `serve` to return.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let task = &mut self.task;
        tokio::time::timeout(WAIT * 2, task)
            .await
            .expect("serve returns after shutdown")
            .expect("serve task");
    }
}

pub async fn start_proxy(table: RouteTable, cfg: ProxyConfig) -> TestProxy {
    let proxy = Proxy::new(table.clone(), cfg).expect("proxy config");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, proxy.clone(), async move {
        let _ = rx.await;
    }));
    TestProxy {
        addr,
        proxy,
        table,
        stop: Some(tx),
        task,
    }
}

/// A route with `{"user": ...}`-style data given as JSON.
pub fn route(spec: &str, target: &str, data: Value) -> Route {
    let data: Map<String, Value> = data.as_object().cloned().unwrap_or_default();
    Route::new(spec, target, data).expect("valid route")
}

pub fn target(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// A port with nothing listening (bound, then released).
pub async fn dead_target() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    target(addr)
}

/// Open file descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Poll `check` every 20 ms until it holds or `limit` passes.
pub async fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Await with the standard bound, panicking with `what` on timeout.
pub async fn bounded<F: Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(WAIT, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}
