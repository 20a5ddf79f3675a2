//! Accept loops (mini-redis style: a bound listener and a shutdown future).
//!
//! Each connection is served by hyper-util's auto builder (HTTP/1.1 with
//! keep-alive and upgrades, or HTTP/2 by preface/ALPN). On shutdown the
//! listener is dropped, connections are told to finish gracefully, websocket
//! tunnels are closed, and stragglers are aborted after the drain timeout.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::client::ProxyBody;
use crate::config::ProxyConfig;
use crate::forward::ConnInfo;
use crate::proxy::Proxy;
use crate::tls::{self, TlsReloader};

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve the public data path on `listener` until `shutdown` resolves.
pub async fn serve(listener: TcpListener, proxy: Proxy, shutdown: impl Future<Output = ()>) {
    let opts = ServerOpts::from_config(proxy.config(), proxy.tls());
    let handler = move |req: Request<Incoming>, conn: ConnInfo| {
        let proxy = proxy.clone();
        async move { proxy.handle(req, &conn).await }
    };
    run(listener, opts, handler, shutdown).await;
}

pub(crate) fn tcp_keepalive() -> socket2::TcpKeepalive {
    socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(15))
}

pub(crate) struct ServerOpts {
    pub builder: auto::Builder<TokioExecutor>,
    pub tls: Option<Arc<TlsReloader>>,
    pub drain: Duration,
    pub workers: Option<&'static crate::workers::Workers>,
}

impl ServerOpts {
    pub fn from_config(cfg: &ProxyConfig, tls: Option<Arc<TlsReloader>>) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .keep_alive(true)
            // Let clients shut down their write side while awaiting a response.
            .half_close(true)
            .max_buf_size(cfg.max_header_bytes.max(8192))
            .max_headers(cfg.max_headers)
            .header_read_timeout(cfg.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(60)))
            .keep_alive_timeout(Duration::from_secs(20))
            .max_header_list_size(u32::try_from(cfg.max_header_bytes).unwrap_or(u32::MAX));
        ServerOpts {
            builder,
            tls,
            drain: cfg.drain_timeout,
            workers: crate::workers::Workers::get(cfg.io_threads),
        }
    }
}

pub(crate) async fn run<H, F>(
    listener: TcpListener,
    opts: ServerOpts,
    handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>, ConnInfo) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let stop = CancellationToken::new();
    if let Some(t) = &opts.tls {
        tokio::spawn(tls::watch(Arc::clone(t), stop.clone()));
    }
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    let acceptor = opts.tls.as_ref().map(|t| t.acceptor());
                    let (builder, handler, stop) = (opts.builder.clone(), handler.clone(), stop.clone());
                    match opts.workers {
                        None => {
                            conns.spawn(serve_conn(stream, remote, acceptor, builder, handler, stop));
                        }
                        Some(w) => match stream.into_std() {
                            Ok(std) => {
                                conns.spawn_on(async move {
                                    if let Ok(stream) = TcpStream::from_std(std) {
                                        serve_conn(stream, remote, acceptor, builder, handler, stop).await
                                    }
                                }, w.next());
                            }
                            Err(e) => tracing::debug!(error = %e, "accepted socket lost"),
                        },
                    }
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    stop.cancel();
    let drained = tokio::time::timeout(opts.drain, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            left = conns.len(),
            "drain timeout: aborting remaining connections"
        );
        conns.shutdown().await;
    }
}

async fn serve_conn<H, F>(
    stream: TcpStream,
    remote: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    builder: auto::Builder<TokioExecutor>,
    handler: H,
    stop: CancellationToken,
) where
    H: Fn(Request<Incoming>, ConnInfo) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let _ = stream.set_nodelay(true);
    // Detect vanished peers on long-idle connections (websockets have no
    // idle timeout), as http-proxy's setKeepAlive on proxied sockets does.
    let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&tcp_keepalive());
    let info = ConnInfo {
        remote,
        tls: tls.is_some(),
        shutdown: stop.clone(),
    };
    match tls {
        None => drive(stream, builder, handler, info, stop).await,
        Some(acceptor) => {
            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(s)) => drive(s, builder, handler, info, stop).await,
                Ok(Err(e)) => tracing::debug!(%remote, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
            }
        }
    }
}

async fn drive<I, H, F>(
    io: I,
    builder: auto::Builder<TokioExecutor>,
    handler: H,
    info: ConnInfo,
    stop: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>, ConnInfo) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<ProxyBody>> + Send + 'static,
{
    let remote = info.remote;
    let service = service_fn(move |req| {
        let fut = handler(req, info.clone());
        async move { Ok::<_, Infallible>(fut.await) }
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let res = tokio::select! {
        res = conn.as_mut() => res,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = res {
        tracing::debug!(%remote, error = %e, "connection ended with error");
    }
}
