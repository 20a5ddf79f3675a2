//! HTTP echo backend: answers every request with JSON describing it
//! (`method`, `uri`, `headers`, `body_len`). Request headers steer it:
//! `x-delay-ms` delays the response, `x-status` sets the status, and a
//! `size=N` query makes the response body N bytes of `x` instead.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running backend; its accept loop stops when this is dropped.
pub struct Backend {
    pub addr: SocketAddr,
    /// Connections currently open to this backend.
    pub open: Arc<AtomicUsize>,
    /// Connections accepted so far.
    pub accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Backend {
    pub fn open_conns(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
    pub fn accepted_conns(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Decrements the open-connection count when a connection task ends.
pub struct ConnGuard(Arc<AtomicUsize>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Start an accept loop running `handle` per connection.
pub async fn spawn_backend<F, Fut>(handle: F) -> Backend
where
    F: Fn(tokio::net::TcpStream, ConnGuard) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind backend");
    let addr = listener.local_addr().expect("addr");
    let open = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (o, a) = (open.clone(), accepted.clone());
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            o.fetch_add(1, Ordering::SeqCst);
            a.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(handle(stream, ConnGuard(o.clone())));
        }
    });
    Backend {
        addr,
        open,
        accepted,
        task,
    }
}

pub async fn http_echo() -> Backend {
    spawn_backend(|stream, guard| async move {
        let _guard = guard;
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service_fn(echo))
            .await;
    })
    .await
}

async fn echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let delay = header("x-delay-ms");
    let status = header("x-status")
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let size = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "size")
            .and_then(|(_, v)| v.parse::<usize>().ok())
    });
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in req.headers() {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        headers
            .entry(k.as_str().to_owned())
            .and_modify(|e| {
                e.push_str(", ");
                e.push_str(&v);
            })
            .or_insert(v);
    }
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let body_len = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().len(),
        Err(_) => 0,
    };
    if let Some(ms) = delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let (body, ctype) = match size {
        Some(n) => (Bytes::from(vec![b'x'; n]), "application/octet-stream"),
        None => {
            let v = json!({"method": method, "uri": uri, "headers": headers, "body_len": body_len});
            (Bytes::from(v.to_string()), "application/json")
        }
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static(ctype),
    );
    Ok(resp)
}
