//! Request-level fault injection: errors, delays and stalls for requests
//! matching a [`RequestMatch`].
//!
//! Rules are checked in the order they were injected; the first live rule
//! that matches applies and uses up one of its `times`. Watch-level faults
//! (drop, close, expire, compaction) live on [`crate::FakeKube`] because they
//! act on streams that are already open.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Duration;

use crate::error::ApiError;
use crate::log::{RequestRecord, Verb};

/// Which requests a fault applies to; every unset field matches anything.
#[derive(Debug, Clone, Default)]
pub struct RequestMatch {
    verb: Option<Verb>,
    resource: Option<String>,
    namespace: Option<String>,
    name: Option<String>,
    client: Option<String>,
    subresource: Option<String>,
}

impl RequestMatch {
    /// Matches every request.
    pub fn any() -> Self {
        Self::default()
    }

    /// Only this verb.
    pub fn verb(mut self, verb: Verb) -> Self {
        self.verb = Some(verb);
        self
    }

    /// Only this resource plural (e.g. `persistentvolumeclaims`).
    pub fn resource(mut self, plural: &str) -> Self {
        self.resource = Some(plural.to_string());
        self
    }

    /// Only this namespace.
    pub fn namespace(mut self, ns: &str) -> Self {
        self.namespace = Some(ns.to_string());
        self
    }

    /// Only this object name.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_string());
        self
    }

    /// Only requests from this client.
    pub fn client(mut self, client: &str) -> Self {
        self.client = Some(client.to_string());
        self
    }

    /// Only this subresource (`status`).
    pub fn subresource(mut self, sub: &str) -> Self {
        self.subresource = Some(sub.to_string());
        self
    }

    /// Whether a request matches.
    pub fn matches(&self, r: &RequestRecord) -> bool {
        fn eq(want: &Option<String>, have: &Option<String>) -> bool {
            want.is_none() || want == have
        }
        self.verb.is_none_or(|v| v == r.verb)
            && eq(&self.resource, &r.resource)
            && eq(&self.namespace, &r.namespace)
            && eq(&self.name, &r.name)
            && self.client.as_ref().is_none_or(|c| *c == r.client)
            && eq(&self.subresource, &r.subresource)
    }
}

/// Holds stalled requests until released. Cloning shares the gate; once
/// every clone (including the one inside the fault rule) is dropped, stalled
/// requests proceed too, so a forgotten gate cannot hang a test forever.
#[derive(Debug, Clone)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Gate {
    fn new() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }

    /// Lets every stalled (and future) request through.
    pub fn release(&self) {
        self.0.send_replace(true);
    }

    /// A waiter that does not keep the gate alive (so dropping every
    /// [`Gate`] releases it).
    pub(crate) fn waiter(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|open| *open).await;
        }
    }
}

/// What happens to a matching request.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Answer with this error; nothing is applied.
    Error(ApiError),
    /// Answer 403 Forbidden for the request's resource and name with this cause.
    Forbidden(String),
    /// Wait, then handle normally (a slow API server).
    Delay(Duration),
    /// Wait for the gate, then handle normally.
    Stall(Gate),
    /// Handle (and commit) normally, but hold the answer until the gate opens:
    /// "the write happened, the client never heard".
    StallAfterCommit(Gate),
}

/// A fault to inject with [`crate::FakeKube::inject`].
#[derive(Debug, Clone)]
pub struct Fault {
    pub(crate) action: Action,
    pub(crate) times: Option<usize>,
}

impl Fault {
    fn new(action: Action) -> Self {
        Self {
            action,
            times: None,
        }
    }

    /// An error answer with the standard reason for `code` (500, 503, 504, ...).
    pub fn status(code: u16) -> Self {
        let message = match code {
            500 => "Internal error occurred: kube-fake injected fault",
            503 => "the server is currently unable to handle the request",
            504 => "Timeout: request did not complete within requested timeout",
            _ => "kube-fake injected fault",
        };
        Self::new(Action::Error(ApiError::from_code(code, message)))
    }

    /// Any error answer.
    pub fn error(err: ApiError) -> Self {
        Self::new(Action::Error(err))
    }

    /// 429 TooManyRequests with `Retry-After: secs`.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        Self::new(Action::Error(ApiError::too_many_requests(retry_after_secs)))
    }

    /// 403 Forbidden, e.g. `exceeded quota: user-quota, requested: requests.storage=10Gi, ...`.
    pub fn forbidden(cause: &str) -> Self {
        Self::new(Action::Forbidden(cause.to_string()))
    }

    /// Answer normally after `d` on the tokio clock.
    pub fn delay(d: Duration) -> Self {
        Self::new(Action::Delay(d))
    }

    /// Hold matching requests before handling them until the gate is released.
    pub fn stall() -> (Self, Gate) {
        let g = Gate::new();
        (Self::new(Action::Stall(g.clone())), g)
    }

    /// Handle matching requests, but hold their answers until the gate is released.
    pub fn stall_after_commit() -> (Self, Gate) {
        let g = Gate::new();
        (Self::new(Action::StallAfterCommit(g.clone())), g)
    }

    /// Apply to at most `n` matching requests (default: all).
    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }
}

/// Identifies an injected rule for [`crate::FakeKube::remove_fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FaultId(u64);

/// The injected rules.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    rules: Vec<(FaultId, RequestMatch, Fault)>,
    next: u64,
}

impl Faults {
    pub(crate) fn add(&mut self, m: RequestMatch, f: Fault) -> FaultId {
        self.next += 1;
        let id = FaultId(self.next);
        self.rules.push((id, m, f));
        id
    }

    pub(crate) fn remove(&mut self, id: FaultId) {
        self.rules.retain(|(i, _, _)| *i != id);
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// The action for a request, using up one of the rule's `times`.
    pub(crate) fn take(&mut self, r: &RequestRecord) -> Option<Action> {
        let i = self
            .rules
            .iter()
            .position(|(_, m, f)| f.times != Some(0) && m.matches(r))?;
        let fault = &mut self.rules[i].2;
        let action = fault.action.clone();
        if let Some(n) = fault.times.as_mut() {
            *n -= 1;
            if *n == 0 {
                self.rules.remove(i);
            }
        }
        Some(action)
    }
}
