//! core/v1 Event ⇄ events.k8s.io/v1 Event, field for field as in
//! `k8s.io/kubernetes/pkg/apis/events/v1/conversion.go`.
//!
//! Events are stored in core/v1 shape; the events.k8s.io view is computed on
//! the way out and undone on the way in, so a `Recorder` write shows up in a
//! core/v1 `involvedObject.kind=Pod` watch, as on a real cluster.

use serde_json::{Map, Value};

use crate::resource::{ApiResource, View};

/// (events.k8s.io/v1 field, core/v1 field). `series` keeps its name.
const FIELDS: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename(obj: Value, api_version: &str, from_new: bool) -> Value {
    let Value::Object(mut map) = obj else {
        return obj;
    };
    let mut out = Map::new();
    for (k, v) in std::mem::take(&mut map) {
        let renamed = FIELDS.iter().find_map(|(new, old)| {
            if from_new {
                (k == *new).then_some(*old)
            } else {
                (k == *old).then_some(*new)
            }
        });
        out.insert(renamed.map_or(k, str::to_string), v);
    }
    out.insert("apiVersion".into(), Value::String(api_version.into()));
    out.insert("kind".into(), Value::String("Event".into()));
    Value::Object(out)
}

/// Stored (native) object → what `res` shows.
pub fn to_view(res: &ApiResource, stored: &Value) -> Value {
    match res.view {
        View::Native => stored.clone(),
        View::EventsV1 => rename(stored.clone(), "events.k8s.io/v1", false),
    }
}

/// What a client sent to `res` → the stored (native) shape.
pub fn from_view(res: &ApiResource, sent: Value) -> Value {
    match res.view {
        View::Native => sent,
        View::EventsV1 => rename(sent, "v1", true),
    }
}

/// A field-selector field name as `res` accepts it → the stored field name
/// (events.k8s.io selects on `regarding.kind`, storage has `involvedObject.kind`).
pub fn field_label(res: &ApiResource, field: &str) -> String {
    if res.view != View::EventsV1 {
        return field.to_string();
    }
    for (new, old) in FIELDS {
        if field == *new {
            return (*old).to_string();
        }
        if let Some(rest) = field.strip_prefix(&format!("{new}.")) {
            return format!("{old}.{rest}");
        }
    }
    field.to_string()
}
