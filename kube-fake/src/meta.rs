//! Object metadata helpers: field access on `serde_json::Value`, the
//! apimachinery name/label validation rules, generated names and the clock.
//!
//! Objects are kept as JSON values so whatever a client sends round-trips,
//! including fields k8s-openapi does not know yet.

use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::error::FieldError;

/// Reads a string at a JSON path.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// `metadata`, created on demand.
pub fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    let obj = v.as_object_mut().expect("objects are JSON objects");
    let m = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    m.as_object_mut().expect("just made an object")
}

/// `metadata.name` or `""`.
pub fn name(v: &Value) -> &str {
    str_at(v, &["metadata", "name"]).unwrap_or("")
}

/// `metadata.namespace` or `""`.
pub fn namespace(v: &Value) -> &str {
    str_at(v, &["metadata", "namespace"]).unwrap_or("")
}

/// `metadata.uid` or `""`.
pub fn uid(v: &Value) -> &str {
    str_at(v, &["metadata", "uid"]).unwrap_or("")
}

/// `metadata.resourceVersion` or `""`.
pub fn resource_version(v: &Value) -> &str {
    str_at(v, &["metadata", "resourceVersion"]).unwrap_or("")
}

/// `metadata.finalizers` as strings.
pub fn finalizers(v: &Value) -> Vec<String> {
    v.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_terminating(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

/// `metadata.labels` as (key, value) pairs.
pub fn labels(v: &Value) -> Map<String, Value> {
    v.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Which naming rule a resource's names follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// RFC 1123 subdomain, at most 253 characters (pods, secrets, PVCs, events).
    Subdomain,
    /// RFC 1123 label, at most 63 characters (container names, namespaces).
    Label,
    /// RFC 1035 label, at most 63 characters (services).
    Dns1035,
}

/// Validates a name; returns the apimachinery detail messages.
pub fn check_name(rule: NameRule, name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let (max, ok, msg) = match rule {
        NameRule::Subdomain => (
            253,
            !name.is_empty() && name.split('.').all(is_dns_label),
            SUBDOMAIN_MSG,
        ),
        NameRule::Label => (63, is_dns_label(name), LABEL_MSG),
        NameRule::Dns1035 => (
            63,
            is_dns_label(name) && name.as_bytes()[0].is_ascii_lowercase(),
            DNS1035_MSG,
        ),
    };
    if name.len() > max {
        errs.push(format!("must be no more than {max} characters"));
    }
    if !ok {
        errs.push(msg.to_string());
    }
    errs
}

fn is_qualified_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Validates `metadata.labels` and `metadata.annotations` keys, and label values.
pub fn check_labels_and_annotations(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (field, check_values) in [("labels", true), ("annotations", false)] {
        let Some(map) = obj
            .pointer(&format!("/metadata/{field}"))
            .and_then(Value::as_object)
        else {
            continue;
        };
        for (k, v) in map {
            let path = format!("metadata.{field}");
            let (prefix, part) = k
                .rsplit_once('/')
                .map_or((None, k.as_str()), |(p, n)| (Some(p), n));
            if let Some(p) = prefix {
                if !check_name(NameRule::Subdomain, p).is_empty() {
                    errs.push(FieldError::invalid(
                        &path,
                        k,
                        format!("prefix part {SUBDOMAIN_MSG}"),
                    ));
                }
            }
            if !is_qualified_part(part) {
                errs.push(FieldError::invalid(&path, k, QUALIFIED_MSG));
            }
            let value = v.as_str().unwrap_or_default();
            if check_values && !value.is_empty() && !is_qualified_part(value) {
                errs.push(FieldError::invalid(
                    format!("{path}.{k}"),
                    value,
                    LABEL_VALUE_MSG,
                ));
            }
        }
    }
    errs
}

/// The alphabet of `generateName` suffixes (no vowels, no look-alikes), as in apimachinery.
const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `generateName` + 5 pseudo-random characters; the prefix is cut to 58 characters.
pub fn generate_name(prefix: &str, seed: u64) -> String {
    let base: String = prefix.chars().take(58).collect();
    // splitmix64: deterministic per fake, so test runs are reproducible.
    let mut x = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    let suffix: String = (0..5)
        .map(|i| SUFFIX_ALPHABET[((x >> (i * 8)) % SUFFIX_ALPHABET.len() as u64) as usize] as char)
        .collect();
    format!("{base}{suffix}")
}

/// A UUID-shaped uid; unique per fake and per object incarnation.
pub fn make_uid(instance: u32, seq: u64) -> String {
    format!(
        "{instance:08x}-{:04x}-4{:03x}-8{:03x}-{seq:012x}",
        (seq >> 48) & 0xffff,
        0,
        0
    )
}

/// Wall-clock time that advances with the tokio clock, so timestamps written
/// under `tokio::time::pause()` agree with the timers that act on them.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: chrono::DateTime<chrono::Utc>,
    start: Instant,
}

impl Clock {
    /// Anchors the clock at the current wall time.
    pub fn new() -> Self {
        Self {
            wall: chrono::Utc::now(),
            start: Instant::now(),
        }
    }

    /// Now, offset by `seconds`, in RFC 3339 seconds precision (`metav1.Time`).
    pub fn timestamp(&self, seconds: i64) -> String {
        self.at(seconds).format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }

    /// Now in microsecond precision (`metav1.MicroTime`, used by `eventTime`).
    pub fn micro_timestamp(&self) -> String {
        self.at(0).format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }

    fn at(&self, seconds: i64) -> chrono::DateTime<chrono::Utc> {
        let elapsed = chrono::Duration::from_std(self.start.elapsed()).unwrap_or_default();
        self.wall + elapsed + chrono::Duration::seconds(seconds)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
