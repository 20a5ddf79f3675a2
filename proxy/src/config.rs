//! Data-path configuration. Defaults follow CHP where it has one; where CHP
//! relies on OS defaults (connect timeout, header limits) we set bounds.

use std::path::PathBuf;
use std::time::Duration;

/// Options of the public (data path) listener and its upstream client.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// CHP `--error-target`, e.g. `http://hub:8081/hub/error`. Web errors
    /// are rendered by `GET <error_target>/<code>?url=<request url>`.
    pub error_target: Option<String>,
    /// Add `X-Forwarded-*` headers (CHP default on; `--no-x-forward`).
    pub x_forward: bool,
    /// No upstream response head within this → 503 (CHP `--proxy-timeout`,
    /// unset by default because kernels and long polls must keep working).
    pub request_timeout: Option<Duration>,
    /// Upstream TCP connect timeout (CHP: OS default, minutes on a dead IP).
    pub connect_timeout: Option<Duration>,
    /// Idle pooled upstream connections are closed after this.
    pub upstream_idle_timeout: Duration,
    /// Cap on idle pooled upstream connections per target host. It must exceed the
    /// concurrency one target sees: every connection over it is closed after its response
    /// and the next request pays a new TCP handshake (with 32 and 64 busy clients, half
    /// the requests did, and the proxy lost a third of its throughput).
    pub upstream_max_idle_per_host: usize,
    /// Max bytes of a client request head (HTTP/1 read buffer; over → 431).
    pub max_header_bytes: usize,
    /// Max number of request headers (over → 431).
    pub max_headers: usize,
    /// Closes connections that do not send a complete request head in time,
    /// including idle keep-alive connections (CHP `--keep-alive-timeout`).
    pub header_read_timeout: Option<Duration>,
    /// Max time to fetch an error page from `error_target`.
    pub error_page_timeout: Duration,
    /// On shutdown, how long open connections may take to finish.
    pub drain_timeout: Duration,
    /// TLS termination on the public listener.
    pub tls: Option<TlsConfig>,
    /// Extra roots (PEM) that `https://` targets' certificates are verified against, besides
    /// the system's (CHP `--client-ssl-ca`): e.g. an internal CA.
    pub upstream_ca_file: Option<PathBuf>,
    /// Answers routes marked `"hub": true` in process instead of over TCP.
    pub local_hub: Option<crate::LocalHandler>,
    /// Data-path threads, each a single-threaded runtime that serves the connections dealt to
    /// it (see `workers.rs`); 0 serves connections on the caller's runtime. The threads are the
    /// process's: the first proxy started decides their number.
    pub io_threads: usize,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            error_target: None,
            x_forward: true,
            request_timeout: None,
            connect_timeout: Some(Duration::from_secs(10)),
            upstream_idle_timeout: Duration::from_secs(60),
            upstream_max_idle_per_host: 1024,
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            header_read_timeout: Some(Duration::from_secs(30)),
            error_page_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
            tls: None,
            upstream_ca_file: None,
            local_hub: None,
            io_threads: 0,
        }
    }
}

/// PEM certificate chain and key; reloaded when either file's mtime changes.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// How often to check the files for changes.
    pub reload_interval: Duration,
}

impl TlsConfig {
    pub fn new(cert_path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> Self {
        TlsConfig {
            cert_path: cert_path.into(),
            key_path: key_path.into(),
            reload_interval: Duration::from_secs(5),
        }
    }
}
