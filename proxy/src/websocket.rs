//! Websocket tunnelling: after the upstream answers 101, both connections
//! are upgraded and bytes are copied both ways (frames are not parsed, so
//! frame size is unbounded and nothing is buffered beyond copy buffers).
//!
//! The tunnel ends when either side closes, when the route is removed or
//! re-targeted (its token), or when the server shuts down. There is no idle
//! timeout: kernels keep websockets open for days, as CHP allows.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper::{Response, Version};
use hyper_util::rt::TokioIo;

use crate::body::{self, ActivityIo};
use crate::client::ProxyBody;
use crate::forward::ConnInfo;
use crate::metrics::Metrics;
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
        let mut client = ActivityIo::new(TokioIo::new(client), Arc::clone(&cell));
        let mut upstream = ActivityIo::new(TokioIo::new(upstream), cell);
        tokio::select! {
            res = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {
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
