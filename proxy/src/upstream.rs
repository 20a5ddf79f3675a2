//! Upstream HTTP/1.1 connections driven inside the proxied request's own task.
//!
//! Why not hyper-util's pooled client for plain requests: it runs every upstream connection
//! as a task of its own, so one proxied request crosses tasks (and, on the multi-threaded
//! runtime, threads) several times: the request handed to the connection task, the response
//! head handed back, every body chunk and its "want" signal. Under load, wake-ups and
//! context switches were the largest item of the proxy's profile. Here the request's task
//! polls the connection itself, while it waits for the response head ([`Lease::send`]) and
//! while the response body streams ([`UpstreamBody`]); only socket readiness wakes it.
//!
//! Idle connections wait in a pool keyed by target authority (newest reused first, at most
//! `upstream_max_idle_per_host` each). A connection found dead when reused, before the
//! request went out, is dropped and the request goes to the next one or a new connection.
//! A sweeper closes idle connections whose target left the route table (the CHP#557 leak),
//! that idled out, or that the upstream closed. Websocket upgrades keep hyper-util's client
//! ([`crate::client`]), which hands the upgraded socket over.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tower_service::Service;

use crate::client::{BoxError, CancellableStream, ProxyBody, UpstreamConnector};
use crate::config::ProxyConfig;
use crate::table::RouteTable;

/// How often idle connections are checked.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

type Conn = http1::Connection<TokioIo<CancellableStream>, ProxyBody>;

/// The pool of idle upstream connections. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Upstreams {
    inner: Arc<Pool>,
}

struct Pool {
    idle: Mutex<HashMap<String, Vec<Lease>>>,
    connector: UpstreamConnector,
    max_idle_per_host: usize,
    idle_timeout: Duration,
}

/// One upstream connection: the request handle and the connection future, polled by
/// whoever holds it.
struct Lease {
    key: String,
    send: SendRequest<ProxyBody>,
    conn: Conn,
    /// The connection future finished (closed, failed, or told to close): not reusable.
    done: bool,
    /// When it was last returned to the pool.
    since: Instant,
    pool: Weak<Pool>,
}

enum SendError {
    /// Not written to the connection: safe to send elsewhere.
    NotSent(Box<Request<ProxyBody>>, hyper::Error),
    Failed(hyper::Error),
}

impl Upstreams {
    pub(crate) fn new(table: RouteTable, cfg: &ProxyConfig) -> Upstreams {
        let inner = Arc::new(Pool {
            idle: Mutex::new(HashMap::new()),
            connector: UpstreamConnector::new(table, cfg),
            max_idle_per_host: cfg.upstream_max_idle_per_host,
            idle_timeout: cfg.upstream_idle_timeout,
        });
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(sweep(Arc::downgrade(&inner)));
        }
        Upstreams { inner }
    }

    /// Sends `req` (absolute URI) to its target and returns the response, whose body drives
    /// the connection and returns it to the pool once read to the end.
    pub(crate) async fn request(
        &self,
        mut req: Request<ProxyBody>,
    ) -> Result<Response<UpstreamBody>, BoxError> {
        let uri = req.uri().clone();
        let authority = uri.authority().ok_or("upstream URI without authority")?;
        // One pool per scheme and authority: a plain connection never carries an https request.
        let w = crate::workers::current().unwrap_or(usize::MAX);
        let key = match uri.scheme_str() {
            Some("https") => format!("https://{authority}#{w}"),
            _ => format!("{authority}#{w}"),
        };
        // On the wire, HTTP/1.1 requests carry the origin form; Host is already set.
        *req.uri_mut() = match uri.path_and_query() {
            Some(pq) => Uri::from(pq.clone()),
            None => Uri::from_static("/"),
        };
        loop {
            let (mut lease, reused) = match self.checkout(&key) {
                Some(l) => (l, true),
                None => (self.connect(key.clone(), uri.clone()).await?, false),
            };
            match lease.send(req).await {
                Ok(resp) => {
                    return Ok(resp.map(|inner| UpstreamBody {
                        inner,
                        lease: Some(lease),
                    }))
                }
                // A pooled connection that had closed meanwhile: try the next.
                Err(SendError::NotSent(r, _)) if reused => req = *r,
                Err(SendError::NotSent(_, e) | SendError::Failed(e)) => return Err(e.into()),
            }
        }
    }

    fn checkout(&self, key: &str) -> Option<Lease> {
        let mut idle = self.inner.idle.lock();
        let list = idle.get_mut(key)?;
        while let Some(mut l) = list.pop() {
            if l.reusable(self.inner.idle_timeout) {
                return Some(l);
            }
        }
        None
    }

    async fn connect(&self, key: String, uri: Uri) -> Result<Lease, BoxError> {
        let io = self.inner.connector.clone().call(uri).await?;
        let (send, conn) = http1::Builder::new().handshake(io).await?;
        Ok(Lease {
            key,
            send,
            conn,
            done: false,
            since: Instant::now(),
            pool: Arc::downgrade(&self.inner),
        })
    }
}

impl Lease {
    /// Polls the connection once: reads and writes whatever is ready.
    fn drive(&mut self, cx: &mut Context<'_>) {
        if !self.done {
            if let Poll::Ready(res) = Pin::new(&mut self.conn).poll(cx) {
                self.done = true;
                if let Err(e) = res {
                    tracing::debug!(target = %self.key, error = %e, "upstream connection ended");
                }
            }
        }
    }

    fn reusable(&mut self, idle_timeout: Duration) -> bool {
        if self.done || self.send.is_closed() || self.since.elapsed() >= idle_timeout {
            return false;
        }
        // Notice a close by the upstream (or a retired target) without waiting for IO.
        self.drive(&mut Context::from_waker(Waker::noop()));
        !self.done
    }

    async fn send(&mut self, req: Request<ProxyBody>) -> Result<Response<Incoming>, SendError> {
        let ready = poll_fn(|cx| {
            self.drive(cx);
            self.send.poll_ready(cx)
        })
        .await;
        if let Err(e) = ready {
            return Err(SendError::NotSent(Box::new(req), e));
        }
        let mut sending = std::pin::pin!(self.send.try_send_request(req));
        let res = poll_fn(|cx| {
            self.drive(cx);
            sending.as_mut().poll(cx)
        })
        .await;
        res.map_err(|mut e| match e.take_message() {
            Some(req) => SendError::NotSent(Box::new(req), e.into_error()),
            None => SendError::Failed(e.into_error()),
        })
    }

    /// Back to the pool, if the connection can carry another request and there is room.
    fn release(mut self) {
        let Some(pool) = self.pool.upgrade() else {
            return;
        };
        self.drive(&mut Context::from_waker(Waker::noop()));
        if self.done || self.send.is_closed() {
            return;
        }
        self.since = Instant::now();
        let mut idle = pool.idle.lock();
        let list = idle.entry(self.key.clone()).or_default();
        if list.len() < pool.max_idle_per_host {
            list.push(self);
        }
    }
}

/// A response body that keeps its connection moving while it is read, and gives the
/// connection back to the pool at its end. Dropped early, it closes the connection.
pub(crate) struct UpstreamBody {
    inner: Incoming,
    lease: Option<Lease>,
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if let Some(lease) = this.lease.as_mut() {
            lease.drive(cx);
        }
        let res = Pin::new(&mut this.inner).poll_frame(cx);
        match &res {
            Poll::Ready(None) => {
                if let Some(lease) = this.lease.take() {
                    lease.release();
                }
            }
            Poll::Ready(Some(Err(_))) => this.lease = None,
            _ => {}
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // Bodies known to be empty (204, 304, HEAD, Content-Length: 0) are never polled.
        if let Some(lease) = self.lease.take() {
            if self.inner.is_end_stream() {
                lease.release();
            }
        }
    }
}

/// Closes idle connections that can no longer be used, once per [`SWEEP_EVERY`], until the
/// pool is gone.
async fn sweep(pool: Weak<Pool>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        let timeout = pool.idle_timeout;
        let mut idle = pool.idle.lock();
        for list in idle.values_mut() {
            list.retain_mut(|l| l.reusable(timeout));
        }
        idle.retain(|_, list| !list.is_empty());
    }
}
