//! A route's data (`{"user": ..., "server_name": ..., "jupyterhub": true}`), kept as its compact
//! JSON text behind an `Arc`.
//!
//! Every replica holds each route in the state, in its proxy's table and in the glue that keeps
//! the two in step. As a `serde_json::Map` (a `BTreeMap`) the data cost about 600 bytes per copy
//! even with two keys; as shared text it is one allocation of a few dozen bytes, shared by all
//! three holders, and "did the data change" is a string comparison. On the wire (log entries,
//! rows, snapshots) it is the JSON value itself, as before.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RouteData(Arc<str>);

impl RouteData {
    /// Compact JSON of `v`. Object keys come out sorted (`serde_json::Map` is a `BTreeMap`), so
    /// equal data has equal text.
    pub fn new(v: &Value) -> RouteData {
        RouteData(Arc::from(v.to_string()))
    }

    /// The shared JSON text.
    pub fn json(&self) -> &Arc<str> {
        &self.0
    }

    pub fn to_value(&self) -> Value {
        // The text was written by `new` from a `Value`: it always parses.
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }

    /// The data as an object (empty when it is not one).
    pub fn to_map(&self) -> Map<String, Value> {
        match self.to_value() {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// The value at `key` of an object.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.to_map().remove(key)
    }
}

impl Default for RouteData {
    fn default() -> Self {
        RouteData(Arc::from("{}"))
    }
}

impl From<Value> for RouteData {
    fn from(v: Value) -> Self {
        RouteData::new(&v)
    }
}

impl fmt::Debug for RouteData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for RouteData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for RouteData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(|v| RouteData::new(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_data_is_equal_text_and_the_wire_form_is_the_value() {
        let a = RouteData::new(&json!({"user": "a", "server_name": "", "jupyterhub": true}));
        let b = RouteData::new(&json!({"jupyterhub": true, "server_name": "", "user": "a"}));
        assert_eq!(a, b);
        assert_eq!(
            &**a.json(),
            r#"{"jupyterhub":true,"server_name":"","user":"a"}"#
        );
        assert_eq!(a.get("user"), Some(json!("a")));
        assert_eq!(a.get("hub"), None);
        // MessagePack (log entries, rows, snapshots) carries the value, not a string.
        let packed = rmp_serde::to_vec_named(&a).expect("encode");
        let as_value: Value = rmp_serde::from_slice(&packed).expect("decode as a value");
        assert_eq!(as_value, a.to_value());
        let old = rmp_serde::to_vec_named(&json!({"service": "x"})).expect("encode");
        let back: RouteData = rmp_serde::from_slice(&old).expect("decode old form");
        assert_eq!(back.get("service"), Some(json!("x")));
        assert_eq!(RouteData::default().to_map(), Map::new());
    }
}
