//! Pooled upstream HTTP/1.1 client (hyper-util's legacy `Client`) whose
//! connections die when their target is retired from the route table.
//!
//! The connector asks the table for the target authority's cancellation token
//! and wraps the socket so that, once the token fires, the next (or pending)
//! read/write fails. hyper then drops the connection, whether it sits idle in
//! the pool or carries an upgraded websocket, and the socket is closed.
//!
//! `https://` targets (a service behind TLS) get a TLS client connection, verified against
//! the system's roots plus `upstream_ca_file`; the roots are loaded at the first such target,
//! so a proxy with only plain targets never holds them.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
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
    tls: Arc<UpstreamTls>,
}

/// The TLS client side for `https://` targets, built on first use.
struct UpstreamTls {
    ca_file: Option<PathBuf>,
    connector: OnceLock<TlsConnector>,
}

impl UpstreamTls {
    fn connector(&self) -> TlsConnector {
        self.connector
            .get_or_init(|| TlsConnector::from(Arc::new(client_config(self.ca_file.as_deref()))))
            .clone()
    }
}

/// Roots: the system's certificates and those of `ca_file` (unreadable ones are logged; a
/// target they would have verified then fails its handshake with a 503). Also the hub's
/// client towards an OAuth identity provider.
pub fn client_config(ca_file: Option<&std::path::Path>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "skipping a system root certificate");
    }
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        match crate::tls::read_certs(path) {
            Ok(certs) => {
                let (added, _) = roots.add_parsable_certificates(certs);
                tracing::info!(path = %path.display(), added, "upstream CA certificates");
            }
            Err(e) => tracing::error!(path = %path.display(), error = %e, "upstream_ca_file"),
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    cfg
}

impl UpstreamConnector {
    pub(crate) fn new(table: RouteTable, cfg: &ProxyConfig) -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        // https:// URIs get their TCP connection here and TLS on top in `call`.
        http.enforce_http(false);
        http.set_connect_timeout(cfg.connect_timeout);
        http.set_keepalive(Some(std::time::Duration::from_secs(60)));
        let tls = Arc::new(UpstreamTls {
            ca_file: cfg.upstream_ca_file.clone(),
            connector: OnceLock::new(),
        });
        UpstreamConnector { http, table, tls }
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
        let tls = (uri.scheme_str() == Some("https")).then(|| {
            let host = uri.host().unwrap_or_default();
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            (self.tls.connector(), host)
        });
        let connecting = self.http.call(uri);
        Box::pin(async move {
            let tcp = connecting.await?.into_inner();
            let io = match tls {
                None => UpstreamIo::Tcp(tcp),
                Some((connector, host)) => {
                    let name = rustls::pki_types::ServerName::try_from(host)?;
                    UpstreamIo::Tls(Box::new(connector.connect(name, tcp).await?))
                }
            };
            Ok(TokioIo::new(CancellableStream::new(io, token)))
        })
    }
}

/// An upstream connection: plain TCP, or TLS to an `https://` target.
pub(crate) enum UpstreamIo {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl UpstreamIo {
    fn tcp(&self) -> &TcpStream {
        match self {
            UpstreamIo::Tcp(s) => s,
            UpstreamIo::Tls(s) => s.get_ref().0,
        }
    }
}

impl AsyncRead for UpstreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamIo::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamIo::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            UpstreamIo::Tcp(s) => s.is_write_vectored(),
            UpstreamIo::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Tcp(s) => Pin::new(s).poll_flush(cx),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamIo::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamIo::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An upstream connection that starts failing once its cancellation token fires.
pub(crate) struct CancellableStream {
    inner: UpstreamIo,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    done: bool,
}

impl CancellableStream {
    fn new(inner: UpstreamIo, token: CancellationToken) -> Self {
        CancellableStream {
            inner,
            cancelled: Box::pin(token.cancelled_owned()),
            done: false,
        }
    }

    /// The socket, and a future that completes once the target is retired (for a tunnel that
    /// relays on the socket itself).
    pub(crate) fn into_parts(self) -> (UpstreamIo, impl Future<Output = ()> + Send) {
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
        self.inner.tcp().connected()
    }
}
