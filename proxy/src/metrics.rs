//! Prometheus metrics without a global registry: fixed arrays of atomics,
//! rendered to the text exposition format on demand.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds (seconds) of the upstream latency histogram buckets.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const CODES: usize = 600;

/// Shared counters of the data path and the route API (cheap to clone).
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    /// Proxied (data path) responses by status code, incl. proxy errors.
    proxy_codes: Vec<AtomicU64>,
    /// Route API responses by status code.
    api_codes: Vec<AtomicU64>,
    requests_web: AtomicU64,
    requests_ws: AtomicU64,
    api_route_get: AtomicU64,
    api_route_add: AtomicU64,
    api_route_delete: AtomicU64,
    active_websockets: AtomicI64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            proxy_codes: (0..CODES).map(|_| AtomicU64::new(0)).collect(),
            api_codes: (0..CODES).map(|_| AtomicU64::new(0)).collect(),
            requests_web: AtomicU64::new(0),
            requests_ws: AtomicU64::new(0),
            api_route_get: AtomicU64::new(0),
            api_route_add: AtomicU64::new(0),
            api_route_delete: AtomicU64::new(0),
            active_websockets: AtomicI64::new(0),
            latency_buckets: Default::default(),
            latency_count: AtomicU64::new(0),
            latency_sum_us: AtomicU64::new(0),
        }
    }
}

/// Which API operation a request was (for the CHP-style counters).
#[derive(Debug, Clone, Copy)]
pub(crate) enum ApiOp {
    Get,
    Add,
    Delete,
}

/// Decrements the active websocket gauge when the tunnel ends.
pub(crate) struct WebsocketGuard(Metrics);

impl Drop for WebsocketGuard {
    fn drop(&mut self) {
        self.0.inner.active_websockets.fetch_sub(1, Relaxed);
    }
}

fn bump(codes: &[AtomicU64], code: u16) {
    if let Some(c) = codes.get(usize::from(code)) {
        c.fetch_add(1, Relaxed);
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn proxy_status(&self, code: u16) {
        bump(&self.inner.proxy_codes, code);
    }

    pub(crate) fn api_status(&self, code: u16) {
        bump(&self.inner.api_codes, code);
    }

    pub(crate) fn request(&self, websocket: bool) {
        let c = if websocket {
            &self.inner.requests_ws
        } else {
            &self.inner.requests_web
        };
        c.fetch_add(1, Relaxed);
    }

    pub(crate) fn api_op(&self, op: ApiOp) {
        let c = match op {
            ApiOp::Get => &self.inner.api_route_get,
            ApiOp::Add => &self.inner.api_route_add,
            ApiOp::Delete => &self.inner.api_route_delete,
        };
        c.fetch_add(1, Relaxed);
    }

    pub(crate) fn websocket_opened(&self) -> WebsocketGuard {
        self.inner.active_websockets.fetch_add(1, Relaxed);
        WebsocketGuard(self.clone())
    }

    pub fn active_websockets(&self) -> i64 {
        self.inner.active_websockets.load(Relaxed)
    }

    /// Time from sending a request upstream to receiving its response head.
    pub(crate) fn upstream_latency(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.inner.latency_buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Relaxed);
                break;
            }
        }
        self.inner.latency_count.fetch_add(1, Relaxed);
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.inner.latency_sum_us.fetch_add(us, Relaxed);
    }

    /// Count of proxied responses with this status code.
    pub fn proxy_status_count(&self, code: u16) -> u64 {
        self.inner
            .proxy_codes
            .get(usize::from(code))
            .map_or(0, |c| c.load(Relaxed))
    }

    /// Prometheus text exposition; `route_count` comes from the table.
    pub fn render(&self, route_count: usize) -> String {
        let i = &self.inner;
        let mut out = String::with_capacity(2048);
        codes(
            &mut out,
            "rafthub_proxy_requests_total",
            "Proxied requests by response status.",
            &i.proxy_codes,
        );
        codes(
            &mut out,
            "rafthub_proxy_api_requests_total",
            "Route API requests by response status.",
            &i.api_codes,
        );
        let counters = [
            (
                "rafthub_proxy_requests_web_total",
                "Web requests received.",
                &i.requests_web,
            ),
            (
                "rafthub_proxy_requests_ws_total",
                "Websocket upgrade requests received.",
                &i.requests_ws,
            ),
            (
                "rafthub_proxy_api_route_get_total",
                "Route API reads.",
                &i.api_route_get,
            ),
            (
                "rafthub_proxy_api_route_add_total",
                "Route API adds.",
                &i.api_route_add,
            ),
            (
                "rafthub_proxy_api_route_delete_total",
                "Route API deletes.",
                &i.api_route_delete,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.load(Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP rafthub_proxy_active_websockets Open websocket tunnels.\n\
             # TYPE rafthub_proxy_active_websockets gauge\n\
             rafthub_proxy_active_websockets {}",
            i.active_websockets.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP rafthub_proxy_routes Routes in the table.\n\
             # TYPE rafthub_proxy_routes gauge\n\
             rafthub_proxy_routes {route_count}"
        );
        let h = "rafthub_proxy_upstream_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {h} Upstream time to response head.\n# TYPE {h} histogram"
        );
        let mut cumulative = 0;
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&i.latency_buckets) {
            cumulative += bucket.load(Relaxed);
            let _ = writeln!(out, "{h}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = i.latency_count.load(Relaxed);
        let sum = i.latency_sum_us.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "{h}_bucket{{le=\"+Inf\"}} {count}\n{h}_sum {sum}\n{h}_count {count}"
        );
        out
    }
}

fn codes(out: &mut String, name: &str, help: &str, codes: &[AtomicU64]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (code, c) in codes.iter().enumerate() {
        let n = c.load(Relaxed);
        if n > 0 {
            let class = code / 100;
            let _ = writeln!(out, "{name}{{code=\"{code}\",class=\"{class}xx\"}} {n}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new();
        m.proxy_status(200);
        m.proxy_status(200);
        m.proxy_status(503);
        m.proxy_status(9999);
        m.upstream_latency(Duration::from_millis(3));
        m.upstream_latency(Duration::from_secs(60));
        let g = m.websocket_opened();
        let text = m.render(7);
        assert!(text.contains("rafthub_proxy_requests_total{code=\"200\",class=\"2xx\"} 2"));
        assert!(text.contains("rafthub_proxy_requests_total{code=\"503\",class=\"5xx\"} 1"));
        assert!(text.contains("rafthub_proxy_active_websockets 1"));
        assert!(text.contains("rafthub_proxy_routes 7"));
        assert!(text.contains("rafthub_proxy_upstream_latency_seconds_bucket{le=\"0.001\"} 0"));
        assert!(text.contains("rafthub_proxy_upstream_latency_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("rafthub_proxy_upstream_latency_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(text.contains("rafthub_proxy_upstream_latency_seconds_count 2"));
        drop(g);
        assert_eq!(m.active_websockets(), 0);
    }
}
