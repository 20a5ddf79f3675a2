//! HTTP client for the cluster port, shared by Raft replication and write forwarding.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::faults::{Faults, Verdict};
use super::tls::{TlsConfig, TlsError};
use super::{MSGPACK, SECRET_HEADER};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The peer could not be reached at all: refused, unroutable, connect timeout.
    #[error("cannot connect to {addr}: {msg}")]
    Connect { addr: String, msg: String },
    /// The request was sent but no answer came in time: its effect is unknown.
    #[error("no answer from {addr} within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("{addr} answered {status}: {body}")]
    Status {
        addr: String,
        status: u16,
        body: String,
    },
    #[error("{addr}: {msg}")]
    Other { addr: String, msg: String },
}

impl ClientError {
    /// True when the request surely never reached the peer (safe to treat as "not applied").
    pub fn is_connect(&self) -> bool {
        matches!(self, ClientError::Connect { .. })
    }
}

/// Cheap to clone; all clones share one connection pool.
#[derive(Clone)]
pub struct ClusterClient {
    http: reqwest::Client,
    scheme: &'static str,
    secret: String,
    /// Test-only fault injection: (this node's cluster address, the shared fault table).
    faults: Option<(String, Arc<Faults>)>,
}

impl ClusterClient {
    /// `local_ip`: bind outgoing sockets to this address (the node's own), so iptables rules on
    /// source addresses apply to this node's traffic.
    pub fn new(
        secret: &str,
        local_ip: Option<IpAddr>,
        tls: Option<&TlsConfig>,
    ) -> Result<Self, TlsError> {
        let mut b = reqwest::Client::builder()
            .local_address(local_ip)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_millis(500))
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .http1_only();
        let scheme = match tls {
            Some(t) => {
                b = b.use_preconfigured_tls(t.client_config()?);
                "https"
            }
            None => "http",
        };
        Ok(ClusterClient {
            http: b.build().map_err(|e| TlsError::Verifier(e.to_string()))?,
            scheme,
            secret: secret.to_string(),
            faults: None,
        })
    }

    /// Routes every request through `faults` as if sent from `from` (in-process tests).
    pub fn with_faults(mut self, from: &str, faults: Arc<Faults>) -> Self {
        self.faults = Some((from.to_string(), faults));
        self
    }

    /// POSTs `req` as MessagePack to `http(s)://addr/path` and decodes the MessagePack answer.
    pub async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, ClientError> {
        if let Some((from, faults)) = &self.faults {
            if let Verdict::Drop(hang) = faults.verdict(from, addr, timeout) {
                tokio::time::sleep(hang).await;
                return Err(ClientError::Connect {
                    addr: addr.to_string(),
                    msg: "dropped by fault injection".into(),
                });
            }
        }
        let body = rmp_serde::to_vec_named(req).map_err(|e| ClientError::Other {
            addr: addr.to_string(),
            msg: format!("encode: {e}"),
        })?;
        let url = format!("{}://{}{}", self.scheme, addr, path);
        let res = self
            .http
            .post(url)
            .header(SECRET_HEADER, &self.secret)
            .header(reqwest::header::CONTENT_TYPE, MSGPACK)
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| classify(addr, timeout, e))?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(|e| classify(addr, timeout, e))?;
        if !status.is_success() {
            return Err(ClientError::Status {
                addr: addr.to_string(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            });
        }
        rmp_serde::from_slice(&bytes).map_err(|e| ClientError::Other {
            addr: addr.to_string(),
            msg: format!("decode answer: {e}"),
        })
    }
}

fn classify(addr: &str, timeout: Duration, e: reqwest::Error) -> ClientError {
    if e.is_connect() {
        ClientError::Connect {
            addr: addr.to_string(),
            msg: root_cause(&e),
        }
    } else if e.is_timeout() {
        ClientError::Timeout {
            addr: addr.to_string(),
            timeout,
        }
    } else {
        ClientError::Other {
            addr: addr.to_string(),
            msg: root_cause(&e),
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
