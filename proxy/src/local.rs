//! An in-process handler for the hub's own routes.
//!
//! Every replica's proxy routes `{base_url}` (the hub) to its own hub. Going through a TCP
//! connection to our own process costs a second HTTP parse and serialization per request; a
//! [`LocalHandler`] lets the binary answer those requests directly (websockets excepted).
//!
//! On the proxy's data-path threads (`io_threads`), requests the binary marks as heavy
//! ([`LocalHandler::offload_when`]; all of them by default) run on the runtime that created
//! the [`LocalHandler`] (the hub's) instead: a slow hub request (a full user list at 50,000
//! users) must not hold up the proxied connections that share its data-path thread. Cheap
//! ones are answered in place, sparing two cross-thread wake-ups.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hyper::{Request, Response};

use crate::ProxyBody;

type HandlerFn = dyn Fn(Request<ProxyBody>) -> Pin<Box<dyn Future<Output = Response<ProxyBody>> + Send>>
    + Send
    + Sync;

type Predicate = dyn Fn(&Request<ProxyBody>) -> bool + Send + Sync;

/// Handles requests for routes whose data has `"hub": true` and whose target is exactly
/// `target`, in process. The target check matters: a client of the route API may add its own
/// `"hub": true` route pointing elsewhere, and that one must still be proxied.
#[derive(Clone)]
pub struct LocalHandler {
    target: Arc<str>,
    handler: Arc<HandlerFn>,
    runtime: Option<tokio::runtime::Handle>,
    offload: Option<Arc<Predicate>>,
}

impl LocalHandler {
    pub fn new<F, Fut>(target: &str, f: F) -> LocalHandler
    where
        F: Fn(Request<ProxyBody>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response<ProxyBody>> + Send + 'static,
    {
        LocalHandler {
            target: Arc::from(target),
            handler: Arc::new(move |req| Box::pin(f(req))),
            runtime: tokio::runtime::Handle::try_current().ok(),
            offload: None,
        }
    }

    /// Only requests for which `heavy` holds leave a data-path thread for the hub's runtime
    /// (by default every request does).
    pub fn offload_when(
        mut self,
        heavy: impl Fn(&Request<ProxyBody>) -> bool + Send + Sync + 'static,
    ) -> LocalHandler {
        self.offload = Some(Arc::new(heavy));
        self
    }

    /// Whether a route with this target and data is answered in process.
    pub(crate) fn handles(&self, route: &crate::Route) -> bool {
        route.is_hub() && route.target() == &*self.target
    }

    pub(crate) async fn call(&self, req: Request<ProxyBody>) -> Response<ProxyBody> {
        let offload = crate::workers::current().is_some()
            && self.offload.as_ref().is_none_or(|heavy| heavy(&req));
        let fut = (self.handler)(req);
        let Some(rt) = self.runtime.as_ref().filter(|_| offload) else {
            return fut.await;
        };
        // Aborted if the client goes away first, as the inline future would be dropped.
        let mut task = AbortOnDrop(rt.spawn(fut));
        match (&mut task.0).await {
            Ok(resp) => resp,
            Err(e) => {
                tracing::error!(error = %e, "hub request handler failed");
                let mut resp = Response::new(crate::body::full(
                    r#"{"status": 500, "message": "Internal Server Error"}"#,
                ));
                *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                resp.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("application/json"),
                );
                resp
            }
        }
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl fmt::Debug for LocalHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalHandler")
    }
}
