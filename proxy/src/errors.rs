//! Proxy error responses, as CHP produces them: with an error target, web
//! requests get the hub's page from `GET <error_target><code>?url=<url>`
//! relayed with the original status; websocket requests get a bare status
//! and a closed connection; otherwise a plain-text reason phrase.

use hyper::header::{HeaderValue, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};

use crate::body::{self, tracked};
use crate::client::ProxyBody;
use crate::proxy::Proxy;

impl Proxy {
    /// Error response for a proxied request that found no route (404) or
    /// whose upstream failed (503).
    pub(crate) async fn error_response(
        &self,
        code: StatusCode,
        websocket: bool,
        raw_url: &str,
    ) -> Response<ProxyBody> {
        if websocket {
            return self.plain_error(code, true);
        }
        if let Some(target) = self.error_target() {
            match self.fetch_error_page(target, code, raw_url).await {
                Ok(resp) => return resp,
                Err(e) => tracing::error!(%code, error = %e, "failed to get custom error page"),
            }
        }
        self.plain_error(code, false)
    }

    /// Response without consulting the error target.
    pub(crate) fn plain_error(&self, code: StatusCode, websocket: bool) -> Response<ProxyBody> {
        let mut resp = if websocket {
            // CHP writes `HTTP/1.1 <code>` + `Content-Length: 0` and closes.
            let mut r = Response::new(body::empty());
            r.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
            r.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            r
        } else {
            let text = code.canonical_reason().unwrap_or("Error");
            let mut r = Response::new(body::full(text));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            r
        };
        *resp.status_mut() = code;
        resp
    }

    async fn fetch_error_page(
        &self,
        target: &str,
        code: StatusCode,
        raw_url: &str,
    ) -> Result<Response<ProxyBody>, String> {
        let url: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("url", raw_url)
            .finish();
        let uri = format!("{target}{}?{url}", code.as_u16());
        let req = Request::get(uri)
            .body(body::empty())
            .map_err(|e| e.to_string())?;
        let limit = self.config().error_page_timeout;
        let upstream = tokio::time::timeout(limit, self.client().request(req))
            .await
            .map_err(|_| format!("no response within {limit:?}"))?
            .map_err(|e| e.to_string())?;
        let mut resp = Response::new(body::empty());
        for key in [CONTENT_TYPE, CONTENT_ENCODING] {
            if let Some(v) = upstream.headers().get(&key) {
                resp.headers_mut().insert(key, v.clone());
            }
        }
        *resp.status_mut() = code;
        *resp.body_mut() = tracked(upstream.into_body(), None);
        Ok(resp)
    }
}
