//! Pooled upstream HTTP/1.1 client (hyper-util's legacy `Client`) whose
//! connections die when their target is retired from the route table.
//!
//! The connector asks the table for the target authority's cancellation token
//! and wraps the socket so that, once the token fires, the next (or pending)
//! read/write fails. hyper then drops the connection, whether it sits idle in
//! the pool or carries an upgraded websocket, and the socket is closed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::config::ProxyConfig;
use crate::table::RouteTable;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Body type used for both directions of the data path.
pub type ProxyBody = BoxBody<Bytes, BoxError>;
pub(crate) type UpstreamClient = Client<UpstreamConnector, ProxyBody>;

/// The client for websocket upgrades and error pages; plain requests go through
/// [`crate::upstream::Upstreams`].
pub(crate) fn build_client(table: RouteTable, cfg: &ProxyConfig) -> UpstreamClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(cfg.upstream_idle_timeout)
        .pool_max_idle_per_host(cfg.upstream_max_idle_per_host)
        .pool_timer(TokioTimer::new())
        .build(UpstreamConnector::new(table, cfg))
}

/// Opens upstream TCP connections whose sockets fail once their target leaves the table.
#[derive(Clone)]
pub(crate) struct UpstreamConnector {
    http: HttpConnector,
    table: RouteTable,
}

impl UpstreamConnector {
    pub(crate) fn new(table: RouteTable, cfg: &ProxyConfig) -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.enforce_http(true);
        http.set_connect_timeout(cfg.connect_timeout);
        http.set_keepalive(Some(std::time::Duration::from_secs(60)));
        UpstreamConnector { http, table }
    }
}

type ConnectFuture =
    Pin<Box<dyn Future<Output = Result<TokioIo<CancellableStream>, BoxError>> + Send>>;

impl tower_service::Service<Uri> for UpstreamConnector {
    type Response = TokioIo<CancellableStream>;
    type Error = BoxError;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let token = uri
            .authority()
            .map(|a| self.table.target_token(a.as_str()))
            .unwrap_or_default();
        let connecting = self.http.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            Ok(TokioIo::new(CancellableStream::new(io.into_inner(), token)))
        })
    }
}

/// A TCP stream that starts failing once its cancellation token fires.
pub(crate) struct CancellableStream {
    inner: TcpStream,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    done: bool,
}

impl CancellableStream {
    fn new(inner: TcpStream, token: CancellationToken) -> Self {
        CancellableStream {
            inner,
            cancelled: Box::pin(token.cancelled_owned()),
            done: false,
        }
    }

    /// The socket, and a future that completes once the target is retired (for a tunnel that
    /// relays on the socket itself).
    pub(crate) fn into_parts(self) -> (TcpStream, impl Future<Output = ()> + Send) {
        let CancellableStream {
            inner,
            cancelled,
            done,
        } = self;
        (inner, async move {
            if !done {
                cancelled.await
            }
        })
    }

    /// Polls the token (registering the waker) and reports cancellation.
    fn check(&mut self, cx: &mut Context<'_>) -> Result<(), io::Error> {
        if !self.done && self.cancelled.as_mut().poll(cx).is_ready() {
            self.done = true;
        }
        if self.done {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "upstream target removed from the route table",
            ))
        } else {
            Ok(())
        }
    }
}

impl AsyncRead for CancellableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CancellableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl Connection for CancellableStream {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}
