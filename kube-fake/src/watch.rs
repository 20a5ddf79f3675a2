//! WATCH: a chunked 200 response of newline-delimited `{"type","object"}` events.
//!
//! How a watch starts, by request:
//! - `resourceVersion` unset or `"0"`: synthetic ADDED for every current
//!   object, then live changes;
//! - `sendInitialEvents=true&resourceVersionMatch=NotOlderThan`: the same,
//!   closed by a BOOKMARK annotated `k8s.io/initial-events-end: "true"`;
//! - `resourceVersion=N`: replay of the history after N, then live changes;
//!   N older than the window gives **HTTP 200 + one ERROR event with
//!   `Status{code: 410, reason: Expired}`**, never an HTTP 410: that is what
//!   the real watch cache does, and the only form that makes kube's watcher
//!   re-list (an HTTP 410 makes it retry the stale version forever).
//!
//! A change that moves an object out of the watch's selector is sent as
//! DELETED and one that moves it in as ADDED, like the watch cache does.
//! The stream ends cleanly after `timeoutSeconds` on the tokio clock.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use futures::Stream;
use http_body::Frame;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{sleep_until, Duration, Instant};

use crate::convert::to_view;
use crate::error::{ApiError, FieldError};
use crate::fake::Shared;
use crate::list::parse_rv;
use crate::meta;
use crate::query::Query;
use crate::resource::ApiResource;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::{Change, ChangeType, WatchMsg};

/// Boxed error type of response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which objects a watch shows.
struct Filter {
    ns: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, obj: &Value) -> bool {
        self.ns
            .as_deref()
            .is_none_or(|ns| meta::namespace(obj) == ns)
            && self.labels.matches(&meta::labels(obj))
            && self.fields.matches(obj)
    }
}

/// Unregisters the watch from the store when the response body is dropped.
struct Registration {
    shared: Weak<Shared>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.store.lock().unregister(self.id);
        }
    }
}

struct WatchState {
    pending: VecDeque<Value>,
    finish_after_pending: bool,
    rx: UnboundedReceiver<WatchMsg>,
    deadline: Instant,
    filter: Filter,
    res: &'static ApiResource,
    bookmarks: bool,
    _registration: Registration,
}

fn event(ty: &str, object: Value) -> Value {
    json!({"type": ty, "object": object})
}

fn bookmark(res: &ApiResource, rev: u64, initial_end: bool) -> Value {
    let mut metadata = json!({"resourceVersion": rev.to_string()});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    event(
        "BOOKMARK",
        json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": metadata}),
    )
}

/// The ERROR event a watch gets when its resourceVersion has expired.
pub fn expired_event(message: &str) -> Value {
    event("ERROR", ApiError::expired(message).to_status())
}

impl WatchState {
    /// The next line to send, or `None` at the end of the stream.
    async fn next(&mut self) -> Option<Result<Value, BoxError>> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(Ok(ev));
            }
            if self.finish_after_pending {
                return None;
            }
            let msg = tokio::select! {
                m = self.rx.recv() => m,
                () = sleep_until(self.deadline) => None,
            };
            match msg? {
                WatchMsg::Change(c) => {
                    if let Some(ev) = translate(&self.filter, self.res, &c) {
                        return Some(Ok(ev));
                    }
                }
                WatchMsg::Bookmark(rev) if self.bookmarks => {
                    return Some(Ok(bookmark(self.res, rev, false)))
                }
                WatchMsg::Bookmark(_) => {}
                WatchMsg::Expire(message) => {
                    self.finish_after_pending = true;
                    return Some(Ok(expired_event(&message)));
                }
                WatchMsg::Close => return None,
                WatchMsg::Abort => {
                    self.finish_after_pending = true;
                    // What a client reads when the connection drops mid-chunk,
                    // so both transports look the same to kube (it resumes).
                    let e = std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "unexpected EOF during chunk",
                    );
                    return Some(Err(Box::new(e)));
                }
            }
        }
    }
}

fn forbidden_option(field: &str, detail: &str) -> ApiError {
    let e = FieldError::forbidden(field, detail);
    ApiError::new(
        422,
        "Invalid",
        format!("ListOptions.meta.k8s.io \"\" is invalid: {e}"),
    )
}

/// Opens a watch: validates, registers with the store and computes the
/// initial events under one lock, and returns the body stream.
pub fn start(
    shared: &Arc<Shared>,
    res: &'static ApiResource,
    ns: Option<&str>,
    q: &Query,
    client: &str,
) -> Result<impl Stream<Item = Result<Frame<Bytes>, BoxError>> + Send + 'static, ApiError> {
    let initial_events = q.send_initial_events == Some(true);
    if initial_events && !q.allow_watch_bookmarks {
        return Err(forbidden_option(
            "allowWatchBookmarks",
            "sendInitialEvents requires setting allowWatchBookmarks to true",
        ));
    }
    match (
        q.send_initial_events.is_some(),
        q.resource_version_match.as_deref(),
    ) {
        (true, Some("NotOlderThan")) | (false, None) => {}
        (true, _) => {
            return Err(forbidden_option(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ))
        }
        (false, Some(_)) => {
            return Err(forbidden_option(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ))
        }
    }
    let filter = Filter {
        ns: ns.map(str::to_string),
        labels: LabelSelector::parse(q.label_selector.as_deref().unwrap_or(""))?,
        fields: FieldSelector::parse(q.field_selector.as_deref().unwrap_or(""), res)?,
    };
    let rv = q
        .resource_version
        .as_deref()
        .filter(|r| !r.is_empty() && *r != "0")
        .map(parse_rv)
        .transpose()?;
    let timeout = q
        .timeout_seconds
        .map_or(shared.config.watch_timeout, Duration::from_secs);
    let mut store = shared.store.lock();
    let (id, rx) = store.register(res.storage, res.plural, client, false);
    let mut pending = VecDeque::new();
    let mut finish_after_pending = false;
    if rv.is_none() || initial_events {
        if q.send_initial_events != Some(false) {
            for (_, obj) in store.iter_kind(res.storage, ns) {
                if filter.matches(obj) {
                    pending.push_back(event("ADDED", to_view(res, obj)));
                }
            }
        }
        if initial_events {
            pending.push_back(bookmark(res, store.revision(), true));
        }
    } else if let Some(rv) = rv {
        match store.changes_after(res.storage, rv) {
            Ok(changes) => {
                pending.extend(changes.iter().filter_map(|c| translate(&filter, res, c)))
            }
            Err(oldest) => {
                pending.push_back(expired_event(&format!(
                    "too old resource version: {rv} ({oldest})"
                )));
                finish_after_pending = true;
                store.unregister(id);
            }
        }
    }
    drop(store);
    let state = WatchState {
        pending,
        finish_after_pending,
        rx,
        deadline: Instant::now() + timeout,
        filter,
        res,
        bookmarks: q.allow_watch_bookmarks,
        _registration: Registration {
            shared: Arc::downgrade(shared),
            id,
        },
    };
    Ok(futures::stream::unfold(state, |mut st| async move {
        let item = st.next().await?;
        let frame = item.map(|ev| {
            let mut line = serde_json::to_vec(&ev).expect("JSON values serialize");
            line.push(b'\n');
            Frame::data(Bytes::from(line))
        });
        Some((frame, st))
    }))
}

fn translate_type(ty: ChangeType, before: bool, now: bool) -> Option<&'static str> {
    match (ty, before, now) {
        (ChangeType::Added, _, true) => Some("ADDED"),
        (ChangeType::Modified, true, true) => Some("MODIFIED"),
        (ChangeType::Modified, false, true) => Some("ADDED"),
        (ChangeType::Modified, true, false) => Some("DELETED"),
        (ChangeType::Deleted, b, n) if b || n => Some("DELETED"),
        _ => None,
    }
}

/// A committed change as this watch sees it (or not at all).
fn translate(filter: &Filter, res: &ApiResource, c: &Change) -> Option<Value> {
    let now = filter.matches(&c.object);
    let before = c.prev.as_ref().is_some_and(|p| filter.matches(p));
    translate_type(c.ty, before, now).map(|ty| event(ty, to_view(res, &c.object)))
}
