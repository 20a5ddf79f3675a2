//! An in-process handler for the hub's own routes.
//!
//! Every replica's proxy routes `{base_url}` (the hub) to its own hub. Going through a TCP
//! connection to our own process costs a second HTTP parse and serialization per request; a
//! [`LocalHandler`] lets the binary answer those requests directly (websockets excepted).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hyper::{Request, Response};

use crate::ProxyBody;

type HandlerFn = dyn Fn(Request<ProxyBody>) -> Pin<Box<dyn Future<Output = Response<ProxyBody>> + Send>>
    + Send
    + Sync;

/// Handles requests for routes whose data has `"hub": true` and whose target is exactly
/// `target`, in process. The target check matters: a client of the route API may add its own
/// `"hub": true` route pointing elsewhere, and that one must still be proxied.
#[derive(Clone)]
pub struct LocalHandler {
    target: Arc<str>,
    handler: Arc<HandlerFn>,
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
        }
    }

    /// Whether a route with this target and data is answered in process.
    pub(crate) fn handles(&self, route: &crate::Route) -> bool {
        route.is_hub() && route.target() == &*self.target
    }

    pub(crate) async fn call(&self, req: Request<ProxyBody>) -> Response<ProxyBody> {
        (self.handler)(req).await
    }
}

impl fmt::Debug for LocalHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalHandler")
    }
}
