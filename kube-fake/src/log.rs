//! The request log: every request a client made, in arrival order, with the
//! answer's status code once known.
//!
//! It exists for HA assertions ("only the leader hub wrote", "no pod was
//! created twice"): each record names the client (see [`crate::FakeService`]
//! and [`crate::FakeServer`] for how clients are told apart). Requests made
//! by the simulated kubelet or through [`crate::FakeKube`]'s direct helpers
//! are not client requests and are not logged.

use std::net::SocketAddr;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::{timeout_at, Duration, Instant};

/// The API verb of a request, as RBAC names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection with `watch=true`.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE of one object.
    Delete,
    /// DELETE of a collection.
    DeleteCollection,
    /// Anything else (unknown paths, `/version`).
    Other,
}

impl Verb {
    /// Whether the verb changes state.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Verb::Create | Verb::Update | Verb::Patch | Verb::Delete | Verb::DeleteCollection
        )
    }
}

/// One logged request.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// Arrival order, starting at 1; never reused, even after [`crate::FakeKube::clear_requests`].
    pub seq: u64,
    /// Client identity (service name, `x-kube-fake-client` header, or bearer token).
    pub client: String,
    /// TCP peer, for requests over 127.0.0.1.
    pub peer: Option<SocketAddr>,
    /// HTTP method.
    pub method: http::Method,
    /// URL path.
    pub path: String,
    /// Raw query string, exactly as sent (kube sends `&limit=500`).
    pub query: String,
    /// `Content-Type` header.
    pub content_type: Option<String>,
    /// Request body as text.
    pub body: String,
    /// API verb.
    pub verb: Verb,
    /// Resource plural, for resource paths.
    pub resource: Option<String>,
    /// API group of the resource (`""` for core).
    pub group: Option<String>,
    /// Namespace from the path.
    pub namespace: Option<String>,
    /// Object name from the path.
    pub name: Option<String>,
    /// Subresource (`status`).
    pub subresource: Option<String>,
    /// HTTP status of the answer; `None` while the request is still being handled.
    pub status: Option<u16>,
    /// Arrival time (tokio's clock, so paused-time tests see their virtual time): scale
    /// tests measure how long after a fault the first write of a new leader arrived.
    pub at: Instant,
}

impl RequestRecord {
    /// First value of a query parameter.
    pub fn query_param(&self, key: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// `path?query`, the way the transcript in the reference shows requests.
    pub fn uri(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// Whether the request was a write that succeeded (2xx).
    pub fn is_successful_write(&self) -> bool {
        self.verb.is_write() && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The log itself.
#[derive(Debug, Default)]
pub struct RequestLog {
    records: Mutex<(u64, Vec<RequestRecord>)>,
    changed: Notify,
}

impl RequestLog {
    /// Appends a record and returns its sequence number.
    pub fn push(&self, mut rec: RequestRecord) -> u64 {
        let mut g = self.records.lock();
        g.0 += 1;
        let seq = g.0;
        rec.seq = seq;
        g.1.push(rec);
        drop(g);
        self.changed.notify_waiters();
        seq
    }

    /// Fills in the answer's status code.
    pub fn set_status(&self, seq: u64, status: u16) {
        if let Some(r) = self.records.lock().1.iter_mut().find(|r| r.seq == seq) {
            r.status = Some(status);
        }
        self.changed.notify_waiters();
    }

    /// A copy of all records.
    pub fn snapshot(&self) -> Vec<RequestRecord> {
        self.records.lock().1.clone()
    }

    /// Forgets all records (sequence numbers keep counting).
    pub fn clear(&self) {
        self.records.lock().1.clear();
    }

    /// Waits (on the tokio clock) until a record satisfies `pred`; `None` on timeout.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&RequestRecord) -> bool,
        timeout: Duration,
    ) -> Option<RequestRecord> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(r) = self.records.lock().1.iter().find(|r| pred(r)) {
                return Some(r.clone());
            }
            if timeout_at(deadline, notified).await.is_err() {
                return self.records.lock().1.iter().find(|r| pred(r)).cloned();
            }
        }
    }
}
