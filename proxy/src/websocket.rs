//! Websocket tunnelling: after the upstream answers 101, both connections
//! are upgraded and bytes are copied both ways (frames are not parsed, so
//! frame size is unbounded).
//!
//! Plain TCP on both sides (the usual case) goes through [`relay`], which holds
//! no buffer while a websocket is idle: kernels keep thousands of websockets
//! open for days with nothing to say, and a pair of 8 KiB copy buffers each was
//! most of what an idle tunnel cost. A TLS-terminated client side is copied
//! with `copy_bidirectional`.
//!
//! The tunnel ends when either side closes, when the route is removed or
//! re-targeted (its token), or when the server shuts down. There is no idle
//! timeout: kernels keep websockets open for days, as CHP allows.

use std::future::Future;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper::{Response, Version};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::activity::ActivityCell;
use crate::body::{self, ActivityIo};
use crate::client::{CancellableStream, ProxyBody, UpstreamIo};
use crate::forward::ConnInfo;
use crate::metrics::Metrics;
use crate::relay::relay;
use crate::table::RouteInfo;

/// Spawn the tunnel task and return the 101 response (with the upstream's
/// handshake headers) that completes the client's upgrade.
pub(crate) fn tunnel(
    client_upgrade: OnUpgrade,
    mut upstream: Response<Incoming>,
    route: &RouteInfo,
    conn: &ConnInfo,
    metrics: Metrics,
) -> Response<ProxyBody> {
    let upstream_upgrade = hyper::upgrade::on(&mut upstream);
    let cell = Arc::clone(&route.0.activity);
    cell.touch();
    let route_gone = route.0.cancel.clone();
    let shutdown = conn.shutdown.clone();
    let spec = route.spec().to_owned();
    tokio::spawn(async move {
        let (client, upstream) = match tokio::try_join!(client_upgrade, upstream_upgrade) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(%spec, error = %e, "websocket upgrade failed");
                return;
            }
        };
        let _open = metrics.websocket_opened();
        let copying = copy_both_ways(client, upstream, cell);
        tokio::select! {
            res = copying => {
                if let Err(e) = res {
                    tracing::debug!(%spec, error = %e, "websocket closed with error");
                }
            }
            _ = route_gone.cancelled() => tracing::debug!(%spec, "route removed: closing websocket"),
            _ = shutdown.cancelled() => {}
        }
        // Dropping both upgraded streams closes both sockets.
    });
    let (mut parts, _) = upstream.into_parts();
    parts.version = Version::HTTP_11;
    Response::from_parts(parts, body::empty())
}

/// Copies until both directions have ended, or the upstream's target is retired.
async fn copy_both_ways(
    client: Upgraded,
    upstream: Upgraded,
    cell: Arc<ActivityCell>,
) -> std::io::Result<()> {
    let upstream = match upstream.downcast::<TokioIo<CancellableStream>>() {
        Ok(parts) => parts,
        Err(upstream) => {
            return copy_buffered(TokioIo::new(client), TokioIo::new(upstream), cell).await
        }
    };
    let (up_io, retired) = upstream.io.into_inner().into_parts();
    let up_pre = upstream.read_buf;
    let up_stream = match up_io {
        UpstreamIo::Tcp(s) => s,
        tls @ UpstreamIo::Tls(_) => {
            // TLS to the target: bytes pass through rustls, no socket-to-socket relay.
            let mut client = TokioIo::new(client);
            client.write_all(&up_pre).await?;
            return until_retired(copy_buffered(client, tls, cell), retired).await;
        }
    };
    match hyper_util::server::conn::auto::upgrade::downcast::<TokioIo<TcpStream>>(client) {
        Ok(client) => {
            let client_stream = client.io.into_inner();
            until_retired(
                relay(&client_stream, client.read_buf, &up_stream, up_pre, &cell),
                retired,
            )
            .await
        }
        Err(client) => {
            let mut client = TokioIo::new(client);
            client.write_all(&up_pre).await?;
            let copying = copy_buffered(client, up_stream, cell);
            until_retired(copying, retired).await
        }
    }
}

async fn until_retired(
    copying: impl Future<Output = std::io::Result<()>>,
    retired: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::select! {
        res = copying => res,
        () = retired => Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "upstream target removed from the route table",
        )),
    }
}

/// The generic path (a TLS client side): `copy_bidirectional`'s buffers.
async fn copy_buffered<C, U>(client: C, upstream: U, cell: Arc<ActivityCell>) -> std::io::Result<()>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let mut client = ActivityIo::new(client, Arc::clone(&cell));
    let mut upstream = ActivityIo::new(upstream, cell);
    tokio::io::copy_bidirectional(&mut client, &mut upstream)
        .await
        .map(|_| ())
}
