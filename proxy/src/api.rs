//! CHP-compatible route API (`/api/routes`), so the hub's
//! `ConfigurableHTTPProxy` client works unchanged against rafthub.
//!
//! Reads come from the local [`RouteTable`]. Writes go through a
//! [`RouteWriter`]: in rafthub they are committed through Raft and reach the
//! table by the replicated apply, never directly from here. A writer's
//! future should resolve once the change is applied locally, so that a GET
//! right after a 201 sees it (the hub relies on that).

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use crate::activity::parse_iso;
use crate::body;
use crate::client::{BoxError, ProxyBody};
use crate::config::ProxyConfig;
use crate::metrics::{ApiOp, Metrics};
use crate::path::{canonical_spec, spec_segments};
use crate::route::Route;
use crate::server::{self, ServerOpts};
use crate::table::{write_json_str, RouteTable};

/// Largest accepted POST body.
const MAX_BODY: usize = 1024 * 1024;

/// Why a route write failed; mapped to the API status code.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RouteWriteError {
    /// 404 (DELETE of an unknown route).
    #[error("route not found")]
    NotFound,
    /// 400.
    #[error("invalid route: {0}")]
    Invalid(String),
    /// 503: e.g. no Raft leader or commit timeout; the hub retries 5xx.
    #[error("route store unavailable: {0}")]
    Unavailable(String),
    /// 500.
    #[error("route write failed: {0}")]
    Internal(String),
}

/// Where API writes go. Specs are canonical ([`canonical_spec`] form).
pub trait RouteWriter: Send + Sync + 'static {
    fn add_route(&self, route: Route) -> impl Future<Output = Result<(), RouteWriteError>> + Send;
    fn delete_route(
        &self,
        spec: String,
    ) -> impl Future<Output = Result<(), RouteWriteError>> + Send;
}

impl<W: RouteWriter> RouteWriter for Arc<W> {
    fn add_route(&self, route: Route) -> impl Future<Output = Result<(), RouteWriteError>> + Send {
        (**self).add_route(route)
    }

    fn delete_route(
        &self,
        spec: String,
    ) -> impl Future<Output = Result<(), RouteWriteError>> + Send {
        (**self).delete_route(spec)
    }
}

/// Applies writes straight to a table (tests, single-node use).
#[derive(Debug, Clone)]
pub struct InMemoryRouteWriter {
    table: RouteTable,
}

impl InMemoryRouteWriter {
    pub fn new(table: RouteTable) -> Self {
        InMemoryRouteWriter { table }
    }
}

impl RouteWriter for InMemoryRouteWriter {
    fn add_route(&self, route: Route) -> impl Future<Output = Result<(), RouteWriteError>> + Send {
        self.table.upsert(route);
        std::future::ready(Ok(()))
    }

    fn delete_route(
        &self,
        spec: String,
    ) -> impl Future<Output = Result<(), RouteWriteError>> + Send {
        let found = self.table.remove(&spec);
        std::future::ready(if found {
            Ok(())
        } else {
            Err(RouteWriteError::NotFound)
        })
    }
}

/// The route API service; cheap to clone.
pub struct RouteApi<W> {
    inner: Arc<ApiInner<W>>,
}

impl<W> Clone for RouteApi<W> {
    fn clone(&self) -> Self {
        RouteApi {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct ApiInner<W> {
    table: RouteTable,
    writer: W,
    token: Option<String>,
    metrics: Metrics,
}

/// CHP's `token\s+(\S+)`, unanchored, first match.
fn bearer(header: &str) -> Option<&str> {
    let mut rest = header;
    while let Some(i) = rest.find("token") {
        let after = &rest[i + "token".len()..];
        let trimmed = after.trim_start();
        if trimmed.len() < after.len() {
            if let Some(tok) = trimmed.split_whitespace().next() {
                return Some(tok);
            }
        }
        rest = after;
    }
    None
}

fn reply(code: StatusCode, body: ProxyBody) -> Response<ProxyBody> {
    let mut r = Response::new(body);
    *r.status_mut() = code;
    r
}

fn json(code: StatusCode, v: &Value) -> Response<ProxyBody> {
    json_text(code, v.to_string())
}

/// A JSON body already written as text.
fn json_text(code: StatusCode, text: impl Into<Bytes>) -> Response<ProxyBody> {
    let mut r = reply(code, body::full(text));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn text(code: StatusCode, msg: impl Into<String>) -> Response<ProxyBody> {
    reply(code, body::full(msg.into()))
}

fn write_error(e: &RouteWriteError) -> Response<ProxyBody> {
    let code = match e {
        RouteWriteError::NotFound => StatusCode::NOT_FOUND,
        RouteWriteError::Invalid(_) => StatusCode::BAD_REQUEST,
        RouteWriteError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        RouteWriteError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    text(code, e.to_string())
}

impl<W: RouteWriter> RouteApi<W> {
    /// `auth_token: None` leaves the API open, as CHP without
    /// `CONFIGPROXY_AUTH_TOKEN` (it logs a warning; so do we).
    pub fn new(table: RouteTable, writer: W, auth_token: Option<String>) -> Self {
        if auth_token.is_none() {
            tracing::warn!(
                "route API has no auth token: anyone who can reach it can change routes"
            );
        }
        RouteApi {
            inner: Arc::new(ApiInner {
                table,
                writer,
                token: auth_token,
                metrics: Metrics::new(),
            }),
        }
    }

    /// Count into shared metrics (e.g. `proxy.metrics().clone()`).
    pub fn with_metrics(self, metrics: Metrics) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.metrics = metrics;
                RouteApi {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => RouteApi { inner },
        }
    }

    fn authorized<B>(&self, req: &Request<B>) -> bool {
        let Some(expected) = &self.inner.token else {
            return true;
        };
        let given = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .unwrap_or("");
        given.as_bytes().ct_eq(expected.as_bytes()).into()
    }

    /// Handle one API request.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        let resp = self.route(req).await;
        self.inner.metrics.api_status(resp.status().as_u16());
        resp
    }

    async fn route<B>(&self, req: Request<B>) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        let Some(rest) = req.uri().path().strip_prefix("/api/routes") else {
            return text(StatusCode::NOT_FOUND, "Not Found");
        };
        if !(rest.is_empty() || rest.starts_with('/')) {
            return text(StatusCode::NOT_FOUND, "Not Found");
        }
        let spec = canonical_spec(rest);
        let method = req.method().clone();
        if ![Method::GET, Method::POST, Method::DELETE].contains(&method) {
            return text(StatusCode::METHOD_NOT_ALLOWED, "Method not supported");
        }
        if !self.authorized(&req) {
            return reply(StatusCode::FORBIDDEN, body::empty());
        }
        match method {
            Method::GET if spec != "/" => self.get_one(&spec),
            Method::GET => self.get_all(req.uri().query()),
            Method::POST => self.post(spec, req.into_body()).await,
            _ => self.delete(spec).await,
        }
    }

    fn get_one(&self, spec: &str) -> Response<ProxyBody> {
        self.inner.metrics.api_op(ApiOp::Get);
        match self.inner.table.get(spec) {
            Some(r) => json(StatusCode::OK, &r.to_chp_json()),
            None => reply(StatusCode::NOT_FOUND, body::empty()),
        }
    }

    fn get_all(&self, query: Option<&str>) -> Response<ProxyBody> {
        let param = |name: &str| {
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.into_owned())
        };
        let since: Option<SystemTime> =
            match param("inactiveSince").or_else(|| param("inactive_since")) {
                None => None,
                Some(s) => match parse_iso(&s) {
                    Some(t) => Some(t),
                    None => {
                        return text(
                            StatusCode::BAD_REQUEST,
                            format!("Invalid datestamp '{s}' must be ISO8601."),
                        )
                    }
                },
            };
        self.inner.metrics.api_op(ApiOp::Get);
        let all = self.inner.table.get_all();
        let mut out = Vec::with_capacity(2 + all.len() * 160);
        out.push(b'{');
        for r in all
            .iter()
            .filter(|r| since.is_none_or(|t| r.last_activity() < t))
        {
            if out.len() > 1 {
                out.push(b',');
            }
            write_json_str(&mut out, r.spec());
            out.push(b':');
            r.write_chp_json(&mut out);
        }
        out.push(b'}');
        json_text(StatusCode::OK, out)
    }

    async fn post<B>(&self, spec: String, body: B) -> Response<ProxyBody>
    where
        B: Body<Data = Bytes> + Send,
        B::Error: Into<BoxError>,
    {
        let bytes = match Limited::new(body, MAX_BODY).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) => {
                return match e.downcast_ref::<http_body_util::LengthLimitError>() {
                    Some(_) => text(StatusCode::PAYLOAD_TOO_LARGE, "Body too large"),
                    None => text(StatusCode::BAD_REQUEST, "Error reading body"),
                }
            }
        };
        // CHP: `JSON.parse(buf) || {}`; then `target` must be a string.
        let data = match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => m,
            Ok(_) => Map::new(),
            Err(e) => return text(StatusCode::BAD_REQUEST, format!("Body not valid JSON: {e}")),
        };
        let Some(target) = data
            .get("target")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return text(StatusCode::BAD_REQUEST, "Must specify 'target' as string");
        };
        let mut data = data;
        if self.inner.table.host_routing() && spec != "/" {
            if let Some(host) = spec_segments(&spec).first() {
                data.insert("host".into(), Value::String((*host).to_owned()));
            }
        }
        let route = match Route::from_canonical(&spec, &target, data) {
            Ok(r) => r,
            Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
        };
        match self.inner.writer.add_route(route).await {
            Ok(()) => {
                self.inner.metrics.api_op(ApiOp::Add);
                reply(StatusCode::CREATED, body::empty())
            }
            Err(e) => write_error(&e),
        }
    }

    async fn delete(&self, spec: String) -> Response<ProxyBody> {
        // No local pre-check: this replica may lag the committed table, and
        // the hub treats 404 as "already gone". The writer decides.
        self.inner.metrics.api_op(ApiOp::Delete);
        match self.inner.writer.delete_route(spec).await {
            Ok(()) => reply(StatusCode::NO_CONTENT, body::empty()),
            Err(e) => write_error(&e),
        }
    }
}

/// Serve the route API on `listener` (plain HTTP; bind it to a private
/// address) until `shutdown` resolves.
pub async fn serve_api<W: RouteWriter>(
    listener: TcpListener,
    api: RouteApi<W>,
    shutdown: impl Future<Output = ()>,
) {
    let opts = ServerOpts::from_config(&ProxyConfig::default(), None);
    let handler = move |req, _conn| {
        let api = api.clone();
        async move { api.handle(req).await }
    };
    server::run(listener, opts, handler, shutdown).await;
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn token_header_like_chp_regex() {
        assert_eq!(bearer("token abc"), Some("abc"));
        assert_eq!(bearer("token   abc def"), Some("abc"));
        assert_eq!(bearer("Bearer token abc"), Some("abc"));
        assert_eq!(bearer("tokenabc"), None);
        assert_eq!(bearer("token "), None);
        assert_eq!(bearer("Token abc"), None);
        assert_eq!(bearer("x-tokenfoo token y"), Some("y"));
    }
}
