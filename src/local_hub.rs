//! The proxy's default route answered in process: hub requests that arrive on the public
//! port skip a loopback connection and a second HTTP parse.

use std::sync::{Arc, OnceLock};

use axum::Router;
use http_body_util::BodyExt;
use hyper::{Method, Request, Response};
use rafthub_proxy::{LocalHandler, ProxyBody};
use tower::ServiceExt;

/// Answers the proxy's default route (this replica's hub) in process once the router is set,
/// sparing each hub request a loopback connection and a second HTTP parse. Requests whose
/// cost grows with the state go to the hub's runtime ([`heavy_hub_request`]).
pub(crate) fn local_hub(
    target: &str,
    hub_prefix: String,
    slot: Arc<OnceLock<Router>>,
) -> LocalHandler {
    LocalHandler::new(target, move |req: Request<ProxyBody>| {
        let router = slot.get().cloned();
        async move {
            let Some(router) = router else {
                let mut resp = Response::new(ProxyBody::default());
                *resp.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
                return resp;
            };
            let resp = match router.oneshot(req.map(axum::body::Body::new)).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            resp.map(|b| {
                SyncBody(std::sync::Mutex::new(b))
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                    .boxed()
            })
        }
    })
    .offload_when(move |req| heavy_hub_request(&hub_prefix, req.method(), req.uri().path()))
}

/// Hub requests whose cost grows with the whole state or with a bulk body: listings, bulk
/// creation, metrics, the admin page. The proxy hands these to the hub's runtime rather than
/// answering them on its data-path thread, where a full user list at 50,000 users (~350 ms)
/// would hold up every proxied connection sharing that thread. Everything else is answered
/// in place.
fn heavy_hub_request(hub_prefix: &str, method: &Method, path: &str) -> bool {
    let Some(rest) = path.strip_prefix(hub_prefix) else {
        return false;
    };
    let rest = rest.trim_end_matches('/');
    match *method {
        Method::GET => matches!(
            rest,
            "api/users"
                | "api/groups"
                | "api/services"
                | "api/proxy"
                | "metrics"
                | "api/metrics"
                | "admin"
        ),
        Method::POST => matches!(rest, "api/users" | "api/groups"),
        _ => false,
    }
}

/// The proxy's body type is `Sync`; axum's is not. Polling goes through `Mutex::get_mut`, which
/// takes no lock (the body has one owner).
struct SyncBody(std::sync::Mutex<axum::body::Body>);

impl hyper::body::Body for SyncBody {
    type Data = hyper::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let inner = match self.get_mut().0.get_mut() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        std::pin::Pin::new(inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0
            .try_lock()
            .map(|b| b.is_end_stream())
            .unwrap_or(false)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.0.try_lock().map(|b| b.size_hint()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_bulk_writes_and_metrics_are_heavy() {
        let p = "/jhub/hub/";
        for (method, path, heavy) in [
            (Method::GET, "/jhub/hub/api/users", true),
            (Method::GET, "/jhub/hub/api/users/", true),
            (Method::GET, "/jhub/hub/api/groups", true),
            (Method::GET, "/jhub/hub/metrics", true),
            (Method::GET, "/jhub/hub/admin", true),
            (Method::POST, "/jhub/hub/api/users", true),
            (Method::GET, "/jhub/hub/api/users/alice", false),
            (Method::GET, "/jhub/hub/api/user", false),
            (Method::POST, "/jhub/hub/api/users/alice/activity", false),
            (Method::DELETE, "/jhub/hub/api/users", false),
            (Method::GET, "/jhub/hub/home", false),
            (Method::GET, "/hub/api/users", false),
            (Method::GET, "/jhub/user/alice/api/users", false),
        ] {
            assert_eq!(
                heavy_hub_request(p, &method, path),
                heavy,
                "{method} {path}"
            );
        }
    }
}
