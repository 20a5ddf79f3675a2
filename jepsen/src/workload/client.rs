//! The REST client every workload uses, and the rule that turns an HTTP exchange into a
//! Jepsen outcome.
//!
//! For a write: 2xx is `ok`; 4xx is `fail` (definitely rejected); 503, any other 5xx, a
//! timeout or a connection lost after sending is `info` (may have happened). A connection
//! that could not be established is `fail`: nothing was sent. For a read anything but 2xx
//! is `fail`: a read has no effect, so an unknown read is simply no observation.
//! Requests leave from 127.0.0.1, which no partition rule matches.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::seq::SliceRandom;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::time::Instant;

use crate::cluster::config::NodeAddr;
use crate::history::{Op, Outcome, Recorder};

#[derive(Debug, Clone)]
pub struct Reply {
    pub outcome: Outcome,
    pub status: Option<u16>,
    pub body: Value,
    pub error: Option<String>,
}

/// Classifies a completed HTTP exchange.
pub fn classify(status: StatusCode, write: bool) -> Outcome {
    if status.is_success() {
        Outcome::Ok
    } else if status.is_client_error() || !write {
        Outcome::Fail
    } else {
        Outcome::Info
    }
}

pub struct Api {
    http: reqwest::Client,
    token: String,
    pub nodes: Vec<NodeAddr>,
}

impl Api {
    pub fn new(token: &str, nodes: Vec<NodeAddr>) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .local_address(IpAddr::V4(Ipv4Addr::LOCALHOST))
            .connect_timeout(Duration::from_secs(1))
            .pool_idle_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Api {
            http,
            token: token.to_string(),
            nodes,
        })
    }

    pub fn random_node(&self) -> &NodeAddr {
        self.nodes
            .choose(&mut rand::thread_rng())
            .expect("at least one node")
    }

    /// One request to the hub API of `node` (`path` below `/hub/api`).
    pub async fn call(
        &self,
        method: Method,
        node: &NodeAddr,
        path: &str,
        body: Option<&Value>,
        write: bool,
        timeout: Duration,
    ) -> Reply {
        let url = format!("{}{path}", node.api_url());
        let mut req = self
            .http
            .request(method, url)
            .header("Authorization", format!("token {}", self.token))
            .header("Accept", "application/jupyterhub-pagination+json")
            .timeout(timeout);
        if let Some(b) = body {
            req = req.json(b);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                let text = resp.text().await;
                let outcome = classify(status, write);
                let (body, error) = match text {
                    Ok(t) if status.is_success() => {
                        (serde_json::from_str(&t).unwrap_or(Value::String(t)), None)
                    }
                    Ok(t) => (
                        Value::Null,
                        Some(format!("{}: {}", status.as_u16(), truncate(&t))),
                    ),
                    // The status arrived but the body did not: for a write the outcome is
                    // still whatever the status said.
                    Err(e) => (Value::Null, Some(format!("{}: body: {e}", status.as_u16()))),
                };
                Reply {
                    outcome,
                    status: Some(status.as_u16()),
                    body,
                    error,
                }
            }
            Err(e) => {
                let outcome = if e.is_connect() || !write {
                    Outcome::Fail
                } else {
                    Outcome::Info
                };
                Reply {
                    outcome,
                    status: None,
                    body: Value::Null,
                    error: Some(describe_error(&e)),
                }
            }
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

/// `timeout: ...`, `connect: ...` or `request: ...` with the error's causes: what a failed
/// request records in the history.
pub fn describe_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "request"
    };
    format!("{kind}: {}", error_chain(e))
}

/// The error with its causes ("error sending request" alone does not say why).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    truncate(&s)
}

/// What every client task shares.
#[derive(Clone)]
pub struct Ctx {
    pub api: Arc<Api>,
    pub rec: Recorder,
    /// No operation is invoked after this.
    pub deadline: Instant,
    next_process: Arc<AtomicU64>,
}

impl Ctx {
    pub fn new(api: Api, rec: Recorder, deadline: Instant) -> Ctx {
        Ctx {
            api: Arc::new(api),
            rec,
            deadline,
            next_process: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The same clients (and process numbering) with another deadline.
    pub fn with_deadline(&self, deadline: Instant) -> Ctx {
        Ctx {
            deadline,
            ..self.clone()
        }
    }

    /// A fresh Jepsen process id. A client whose operation ended `info` takes a new one: the
    /// old process is still "in" that operation forever.
    pub fn new_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    pub fn running(&self) -> bool {
        Instant::now() < self.deadline
    }
}

/// An operation in flight; [`Pending::finish`] records it.
pub struct Pending {
    op: Op,
}

impl Pending {
    pub fn start(
        rec: &Recorder,
        process: u64,
        f: &str,
        key: Option<String>,
        value: Value,
        node: u64,
    ) -> Pending {
        Pending {
            op: Op {
                process,
                f: f.to_string(),
                key,
                value,
                node: Some(node),
                invoke_ns: rec.now(),
                complete_ns: 0,
                outcome: Outcome::Info,
                error: None,
            },
        }
    }

    /// Records the completion. `value` replaces the invoke value when given (read results).
    pub fn finish(mut self, rec: &Recorder, reply: &Reply, value: Option<Value>) -> Outcome {
        self.op.complete_ns = rec.now();
        self.op.outcome = reply.outcome;
        self.op.error = reply.error.clone();
        if let Some(v) = value {
            self.op.value = v;
        }
        rec.push(self.op);
        reply.outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_follow_the_contract() {
        assert_eq!(classify(StatusCode::CREATED, true), Outcome::Ok);
        assert_eq!(classify(StatusCode::CONFLICT, true), Outcome::Fail);
        assert_eq!(classify(StatusCode::NOT_FOUND, true), Outcome::Fail);
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE, true),
            Outcome::Info
        );
        assert_eq!(
            classify(StatusCode::INTERNAL_SERVER_ERROR, true),
            Outcome::Info
        );
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE, false),
            Outcome::Fail
        );
        assert_eq!(classify(StatusCode::OK, false), Outcome::Ok);
    }
}
