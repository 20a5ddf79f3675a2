//! JSON errors in upstream's shape: `{"status": <int>, "message": <text or null>}`.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rafthub_raft::node::{ReadError, WriteError};

use crate::hub::Hub;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: Option<String>,
    /// Extra headers, e.g. `Retry-After` on 429.
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: Some(message.into()),
            headers: Vec::new(),
        }
    }

    /// Upstream answers some errors with `"message": null`.
    pub fn bare(status: StatusCode) -> ApiError {
        ApiError {
            status,
            message: None,
            headers: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"status": self.status.as_u16(), "message": self.message});
        let mut res = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        for (k, v) in self.headers {
            res.headers_mut().insert(k, v);
        }
        res
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> ApiError {
        let status = match e {
            WriteError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut err = ApiError::new(status, e.to_string());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            err = err.with_header(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        err
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }
}

/// Unknown paths: upstream answers `{"status": 404, "message": null}` under the API.
/// Outside the hub's prefix the miss is confirmed first ([`confirm_route_miss`]).
/// What answers a request no route matched, as upstream's last handlers: the API's JSON 404
/// under `{hub}api/`, the 404 page elsewhere under `{hub}`, `{hub}` without its slash sent
/// to `{hub}`, and a GET outside the hub's prefix (`/favicon.ico`, `/services/x/` with no
/// route) sent under it (`PrefixRedirectHandler`), once the route miss is confirmed.
pub async fn not_found(State(hub): State<Hub>, method: Method, uri: Uri) -> Response {
    let prefix = hub.hub_prefix();
    let path = uri.path();
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    if path.starts_with(&format!("{prefix}api/")) {
        return ApiError::bare(StatusCode::NOT_FOUND).into_response();
    }
    if path.starts_with(&prefix) {
        return crate::web::pages::error_page(&hub, StatusCode::NOT_FOUND, "", None);
    }
    let get = method == Method::GET || method == Method::HEAD;
    let base = hub.cfg.base_url.trim_end_matches('/');
    if get && path == prefix.trim_end_matches('/') {
        // Upstream's `AddSlashHandler` for `{hub}` is permanent.
        let mut r = crate::web::pages::found(&format!("{prefix}{query}")).into_response();
        *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
        return r;
    }
    if get && !base.is_empty() && path == base {
        return crate::web::pages::found(&format!("{prefix}{query}")).into_response();
    }
    if let Some(r) = confirm_route_miss(&hub, &uri).await {
        return r;
    }
    match path.strip_prefix(hub.cfg.base_url.as_str()) {
        Some(rest) if get => {
            crate::web::pages::found(&format!("{prefix}{rest}{query}")).into_response()
        }
        _ => ApiError::bare(StatusCode::NOT_FOUND).into_response(),
    }
}

/// A request outside the hub's prefix reached the hub through the proxy's default route:
/// this replica's route table has no route for it. If the replica lags (it just joined, or is
/// back from a partition) the route may exist in the cluster, so the miss is confirmed like
/// any other (DESIGN invariant 6): a linearizable barrier, then a second look. A route that
/// appeared sends the client back to the same URL (307 keeps method and body), which the
/// proxy now routes; a barrier that cannot complete answers 503, never a wrong answer.
/// `None`: the miss is real, answer as upstream does.
pub async fn confirm_route_miss(hub: &Hub, uri: &Uri) -> Option<Response> {
    let path = uri.path();
    if let Err(e) = hub.node.linearizable_barrier(MISS_CONFIRM_TIMEOUT).await {
        return Some(ApiError::from(e).into_response());
    }
    let covered = hub
        .node
        .state()
        .routes()
        .any(|r| route_covers(&r.routespec, path) && r.data.get("hub").is_none());
    covered.then(|| {
        let to = uri.path_and_query().map_or(path, |pq| pq.as_str());
        axum::response::Redirect::temporary(to).into_response()
    })
}

/// How long a miss outside the hub waits for this replica to catch up.
const MISS_CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether a path-only route spec (CHP's `/services/x/` form) routes `path`: whole segments,
/// as the proxy's trie matches. Host-routing specs (no leading `/`) never match here.
pub fn route_covers(spec: &str, path: &str) -> bool {
    if !spec.starts_with('/') {
        return false;
    }
    let spec = spec.trim_end_matches('/');
    spec.is_empty()
        || path == spec
        || path
            .strip_prefix(spec)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::route_covers;

    #[test]
    fn route_specs_cover_whole_segments() {
        for (spec, path, want) in [
            ("/services/jepsen/", "/services/jepsen/4683", true),
            ("/services/jepsen/", "/services/jepsen", true),
            ("/services/jepsen/", "/services/jepsen2/x", false),
            ("/user/alice/", "/user/alice/lab", true),
            ("/user/alice/", "/user/alic", false),
            ("/", "/anything", true),
            ("example.com/user/a/", "/user/a/", false),
        ] {
            assert_eq!(route_covers(spec, path), want, "{spec} {path}");
        }
    }
}
