//! The in-process transport: a `tower::Service` to hand to `kube::Client::new`.
//!
//! No sockets and no hyper in between, so tests can run under
//! `tokio::time::pause()` and every timer (grace periods, watch timeouts,
//! kubelet delays, kube's own backoff) advances deterministically.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;

use crate::error::ApiError;
use crate::fake::Shared;
use crate::handler::{self, error_response, ClientInfo};
pub use crate::watch::BoxError;

/// Response body type of the fake (a full JSON body or a watch stream).
pub type FakeBody = UnsyncBoxBody<Bytes, BoxError>;

/// Header that names the client explicitly (wins over the bearer token).
pub const CLIENT_HEADER: &str = "x-kube-fake-client";

/// A handle that serves requests against one fake, as one named client.
#[derive(Clone)]
pub struct FakeService {
    pub(crate) shared: Arc<Shared>,
    /// Fixed identity for in-process clients; `None` derives it from the request.
    pub(crate) client: Option<Arc<str>>,
    /// TCP peer, when serving a connection.
    pub(crate) peer: Option<SocketAddr>,
}

impl std::fmt::Debug for FakeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeService")
            .field("client", &self.client)
            .field("peer", &self.peer)
            .finish()
    }
}

/// Client identity: the service's own name, else the `x-kube-fake-client`
/// header, else the bearer token (kubeconfigs from [`crate::FakeServer`] use
/// the client name as token), else `anonymous`.
fn identify(fixed: Option<&str>, headers: &http::HeaderMap) -> String {
    if let Some(name) = fixed {
        return name.to_string();
    }
    if let Some(v) = headers.get(CLIENT_HEADER).and_then(|v| v.to_str().ok()) {
        return v.to_string();
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map_or_else(|| "anonymous".to_string(), str::to_string)
}

impl<B> tower_service::Service<Request<B>> for FakeService
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<FakeBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let shared = self.shared.clone();
        let fixed = self.client.clone();
        let peer = self.peer;
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let body = match body.collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) => {
                    let e: BoxError = e.into();
                    return Ok(error_response(&ApiError::bad_request(format!(
                        "reading request body: {e}"
                    ))));
                }
            };
            let client = ClientInfo {
                name: identify(fixed.as_deref(), &parts.headers),
                peer,
            };
            Ok(handler::handle(shared, Request::from_parts(parts, body), client).await)
        })
    }
}
