//! The data path: route lookup, request rewriting, forwarding, streaming.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, HOST, UPGRADE};
use hyper::{Request, Response, StatusCode, Version};

use crate::body::{self, tracked};
use crate::client::{build_client, ProxyBody, UpstreamClient};
use crate::config::ProxyConfig;
use crate::forward::{
    add_forwarded, is_websocket_upgrade, request_host, strip_hop_by_hop, ConnInfo,
};
use crate::metrics::Metrics;
use crate::path::normalize_path;
use crate::route::{RouteError, Target};
use crate::table::RouteTable;
use crate::tls::{TlsError, TlsReloader};
use crate::upstream::Upstreams;
use crate::websocket;

/// Why a [`Proxy`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("invalid error_target: {0}")]
    ErrorTarget(#[source] RouteError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The embedded proxy: a route table handle, the upstream connection pool,
/// metrics and (optionally) TLS state. Cheap to clone; clones share all.
#[derive(Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

struct Inner {
    table: RouteTable,
    cfg: ProxyConfig,
    /// `error_target` with a guaranteed trailing slash, as CHP does.
    error_target: Option<String>,
    client: UpstreamClient,
    upstreams: Upstreams,
    metrics: Metrics,
    tls: Option<Arc<TlsReloader>>,
}

impl Proxy {
    /// Validates `error_target` and loads the TLS files, if configured.
    pub fn new(table: RouteTable, cfg: ProxyConfig) -> Result<Proxy, ProxyError> {
        let error_target = match &cfg.error_target {
            Some(t) => {
                Target::parse(t).map_err(ProxyError::ErrorTarget)?;
                Some(if t.ends_with('/') {
                    t.clone()
                } else {
                    format!("{t}/")
                })
            }
            None => None,
        };
        let tls = match &cfg.tls {
            Some(t) => Some(Arc::new(TlsReloader::load(t.clone())?)),
            None => None,
        };
        let client = build_client(table.clone(), &cfg);
        let upstreams = Upstreams::new(table.clone(), &cfg);
        Ok(Proxy {
            inner: Arc::new(Inner {
                table,
                cfg,
                error_target,
                client,
                upstreams,
                metrics: Metrics::new(),
                tls,
            }),
        })
    }

    pub fn table(&self) -> &RouteTable {
        &self.inner.table
    }

    pub fn config(&self) -> &ProxyConfig {
        &self.inner.cfg
    }

    /// Shared counters; hand a clone to [`crate::RouteApi::with_metrics`].
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Prometheus text for the data path (and the API, if it shares metrics).
    pub fn render_metrics(&self) -> String {
        self.inner.metrics.render(self.inner.table.len())
    }

    /// Re-read the TLS files now if they changed; `Ok(true)` if swapped.
    pub fn reload_tls(&self) -> Result<bool, TlsError> {
        match &self.inner.tls {
            Some(t) => t.reload_if_changed(),
            None => Ok(false),
        }
    }

    pub(crate) fn tls(&self) -> Option<Arc<TlsReloader>> {
        self.inner.tls.clone()
    }

    pub(crate) fn client(&self) -> &UpstreamClient {
        &self.inner.client
    }

    pub(crate) fn error_target(&self) -> Option<&str> {
        self.inner.error_target.as_deref()
    }

    /// Handle one client request (what [`crate::serve`] runs per request).
    pub async fn handle(&self, req: Request<Incoming>, conn: &ConnInfo) -> Response<ProxyBody> {
        if req.uri().path() == "/_chp_healthz" && req.uri().query().is_none() {
            let mut resp = Response::new(body::full(r#"{"status":"OK"}"#));
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            return resp;
        }
        let ws = is_websocket_upgrade(&req);
        self.inner.metrics.request(ws);
        let resp = self.forward(req, conn, ws).await;
        self.inner.metrics.proxy_status(resp.status().as_u16());
        resp
    }

    async fn forward(
        &self,
        mut req: Request<Incoming>,
        conn: &ConnInfo,
        ws: bool,
    ) -> Response<ProxyBody> {
        let raw_url = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        if !req.uri().path().starts_with('/') {
            return self.plain_error(StatusCode::BAD_REQUEST, ws);
        }
        // The normalised path is both what we route on and what we forward,
        // so `/user/alice/../bob/` can only ever reach bob's target as `/user/bob/`.
        let path = normalize_path(req.uri().path()).into_owned();
        let host = request_host(&req).map(str::to_owned);
        let Some(route) = self.inner.table.lookup(host.as_deref(), &path) else {
            return self
                .error_response(StatusCode::NOT_FOUND, ws, &raw_url)
                .await;
        };
        let Ok(uri) = route.route().parsed_target().join(&path, req.uri().query()) else {
            return self.plain_error(StatusCode::BAD_REQUEST, ws);
        };
        let client_upgrade = ws.then(|| hyper::upgrade::on(&mut req));
        let cell = Arc::clone(&route.0.activity);
        let (parts, incoming) = req.into_parts();
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        if ws {
            headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        }
        if !headers.contains_key(HOST) {
            // HTTP/2 clients send :authority only; HTTP/1.1 upstreams need Host.
            if let Some(v) = host.as_deref().and_then(|h| HeaderValue::from_str(h).ok()) {
                headers.insert(HOST, v);
            }
        }
        if self.inner.cfg.x_forward {
            add_forwarded(&mut headers, conn, host.as_deref(), ws);
        }
        // Request body data counts as activity whatever the response (CHP).
        let body = if ws {
            body::empty()
        } else {
            tracked(incoming, Some(Arc::clone(&cell)))
        };
        if let (false, Some(local)) = (ws, &self.inner.cfg.local_hub) {
            if local.handles(route.route()) {
                let mut local_req = Request::new(body);
                *local_req.method_mut() = parts.method;
                if let Some(pq) = uri.path_and_query() {
                    if let Ok(u) = pq.as_str().parse() {
                        *local_req.uri_mut() = u;
                    }
                }
                *local_req.headers_mut() = headers;
                let started = Instant::now();
                let mut resp = local.call(local_req).await;
                self.inner.metrics.upstream_latency(started.elapsed());
                strip_hop_by_hop(resp.headers_mut());
                return resp;
            }
        }
        let mut upstream_req = Request::new(body);
        *upstream_req.method_mut() = parts.method;
        *upstream_req.uri_mut() = uri;
        *upstream_req.headers_mut() = headers;
        *upstream_req.version_mut() = Version::HTTP_11;

        let started = Instant::now();
        let Some(client_upgrade) = client_upgrade else {
            let sent = self.with_timeout(self.inner.upstreams.request(upstream_req));
            return match sent.await {
                Ok(resp) => {
                    self.inner.metrics.upstream_latency(started.elapsed());
                    finish(resp, cell)
                }
                Err(e) => self.upstream_failed(&route, &raw_url, &e, ws).await,
            };
        };
        let resp = match self
            .with_timeout(self.inner.client.request(upstream_req))
            .await
        {
            Ok(resp) => resp,
            Err(e) => return self.upstream_failed(&route, &raw_url, &e, ws).await,
        };
        self.inner.metrics.upstream_latency(started.elapsed());
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            return websocket::tunnel(
                client_upgrade,
                resp,
                &route,
                conn,
                self.inner.metrics.clone(),
            );
        }
        finish(resp, cell)
    }

    /// Awaits an upstream response head within `request_timeout`, if one is set.
    async fn with_timeout<B, E: std::fmt::Display>(
        &self,
        sending: impl std::future::Future<Output = Result<Response<B>, E>>,
    ) -> Result<Response<B>, String> {
        match self.inner.cfg.request_timeout {
            Some(limit) => match tokio::time::timeout(limit, sending).await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no response within {limit:?}")),
            },
            None => sending.await.map_err(|e| e.to_string()),
        }
    }

    async fn upstream_failed(
        &self,
        route: &crate::RouteInfo,
        raw_url: &str,
        error: &str,
        ws: bool,
    ) -> Response<ProxyBody> {
        tracing::warn!(target = route.target(), url = %raw_url, %error, "upstream failed");
        self.error_response(StatusCode::SERVICE_UNAVAILABLE, ws, raw_url)
            .await
    }
}

/// The upstream's response as the client gets it: hop-by-hop headers dropped, HTTP/1.1,
/// and its body counted as activity only when the status is below 300 (CHP: floods of
/// 3xx/4xx/5xx must not make a route look active).
fn finish<B>(resp: Response<B>, cell: Arc<crate::activity::ActivityCell>) -> Response<ProxyBody>
where
    B: hyper::body::Body<Data = bytes::Bytes> + Unpin + Send + Sync + 'static,
    B::Error: Into<crate::client::BoxError>,
{
    let ok = resp.status().as_u16() < 300;
    if ok {
        cell.touch();
    }
    let (mut parts, incoming) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.version = Version::HTTP_11;
    Response::from_parts(parts, tracked(incoming, ok.then_some(cell)))
}
