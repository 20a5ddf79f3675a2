//! Request/response header rewriting for forwarding, matching http-proxy-3
//! as CHP configures it (`xfwd: true`, `changeOrigin: false`), plus removal
//! of hop-by-hop headers (RFC 9110 §7.6.1), which hyper frames itself.

use std::net::SocketAddr;

use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, HOST, UPGRADE};
use hyper::{Method, Request, Version};
use tokio_util::sync::CancellationToken;

/// What the data path knows about the client connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    /// Whether the client connection is TLS (sets `https`/`wss`).
    pub tls: bool,
    /// Fires when the server shuts down; websocket tunnels watch it.
    pub shutdown: CancellationToken,
}

const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Remove hop-by-hop headers, including any named in `Connection`.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// An HTTP/1.1 websocket handshake (`GET`, `Connection: upgrade`,
/// `Upgrade: websocket`). Other upgrades are not tunnelled, as in CHP.
pub(crate) fn is_websocket_upgrade<B>(req: &Request<B>) -> bool {
    req.method() == Method::GET
        && req.version() == Version::HTTP_11
        && has_token(req.headers(), CONNECTION, "upgrade")
        && has_token(req.headers(), UPGRADE, "websocket")
}

/// Host as the client sent it: `Host`, or the HTTP/2 `:authority`.
pub(crate) fn request_host<B>(req: &Request<B>) -> Option<&str> {
    req.headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
}

/// Explicit port of a Host value (`h:8000`, `[::1]:8000`), if any.
fn host_port(host: &str) -> Option<&str> {
    let after_ip6 = host.rfind(']').map_or(host, |i| &host[i + 1..]);
    let (_, port) = after_ip6.rsplit_once(':')?;
    (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())).then_some(port)
}

fn append(headers: &mut HeaderMap, name: &'static str, value: &str) {
    let joined = {
        let existing: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if existing.is_empty() {
            value.to_owned()
        } else {
            format!("{},{value}", existing.join(", "))
        }
    };
    if let Ok(v) = HeaderValue::from_str(&joined) {
        headers.insert(name, v);
    }
}

/// `X-Forwarded-For/-Port/-Proto` appended comma-joined to incoming values;
/// `X-Forwarded-Host` set only if absent and only for web requests, exactly
/// as http-proxy-3's web and ws `XHeaders` passes do.
pub(crate) fn add_forwarded(
    headers: &mut HeaderMap,
    conn: &ConnInfo,
    host: Option<&str>,
    websocket: bool,
) {
    let ip = conn.remote.ip().to_canonical().to_string();
    let port = host
        .and_then(host_port)
        .unwrap_or(if conn.tls { "443" } else { "80" });
    let proto = match (websocket, conn.tls) {
        (false, false) => "http",
        (false, true) => "https",
        (true, false) => "ws",
        (true, true) => "wss",
    };
    append(headers, "x-forwarded-for", &ip);
    append(headers, "x-forwarded-port", port);
    append(headers, "x-forwarded-proto", proto);
    if !websocket && !headers.contains_key("x-forwarded-host") {
        let v = HeaderValue::from_str(host.unwrap_or("")).unwrap_or(HeaderValue::from_static(""));
        headers.insert("x-forwarded-host", v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(tls: bool) -> ConnInfo {
        ConnInfo {
            remote: "127.0.0.1:5555".parse().expect("addr"),
            tls,
            shutdown: CancellationToken::new(),
        }
    }

    #[test]
    fn forwarded_headers_append_like_http_proxy() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        h.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        add_forwarded(&mut h, &conn(false), Some("hub.example.org:8000"), false);
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 10.0.0.2,127.0.0.1");
        assert_eq!(h["x-forwarded-port"], "8000");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "hub.example.org:8000");

        let mut h = HeaderMap::new();
        h.insert("x-forwarded-host", HeaderValue::from_static("outer"));
        add_forwarded(&mut h, &conn(true), Some("hub"), false);
        assert_eq!(h["x-forwarded-port"], "443");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "outer");

        let mut h = HeaderMap::new();
        add_forwarded(&mut h, &conn(true), Some("hub"), true);
        assert_eq!(h["x-forwarded-proto"], "wss");
        assert!(
            !h.contains_key("x-forwarded-host"),
            "ws requests get no X-Forwarded-Host"
        );
    }

    #[test]
    fn host_ports() {
        assert_eq!(host_port("h:8000"), Some("8000"));
        assert_eq!(host_port("h"), None);
        assert_eq!(host_port("[::1]:8443"), Some("8443"));
        assert_eq!(host_port("[::1]"), None);
        assert_eq!(host_port("h:"), None);
        assert_eq!(host_port("h:x1"), None);
    }

    #[test]
    fn hop_by_hop_removed() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }
}
