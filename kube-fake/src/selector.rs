//! `labelSelector` and `fieldSelector` parsing and matching.
//!
//! Label selectors follow `k8s.io/apimachinery/pkg/labels`: `=`, `==`, `!=`,
//! `in (...)`, `notin (...)`, `key` (exists), `!key`, and `>`/`<` on integers;
//! `!=` and `notin` also match objects without the key. Field selectors
//! accept only the fields each registry declares (`field label not
//! supported` otherwise), as the real server does.

use serde_json::{Map, Value};

use crate::convert::field_label;
use crate::error::ApiError;
use crate::resource::{ApiResource, StorageKind};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Eq,
    NotEq,
    In,
    NotIn,
    Exists,
    NotExists,
    Gt,
    Lt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// A parsed label selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

/// Splits on commas that are not inside parentheses.
fn split_terms(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn bad(term: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("unable to parse requirement: {why}: {term:?}"))
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

impl LabelSelector {
    /// Parses a selector string (400 BadRequest on syntax errors).
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for term in split_terms(s) {
            let req = if let Some(key) = term.strip_prefix('!') {
                Requirement {
                    key: key.trim().to_string(),
                    op: Op::NotExists,
                    values: vec![],
                }
            } else if let Some(open) = term.find('(') {
                let close = term
                    .rfind(')')
                    .filter(|c| *c > open)
                    .ok_or_else(|| bad(term, "missing ')'"))?;
                let mut head = term[..open].split_whitespace();
                let (key, op) = (head.next().unwrap_or(""), head.next().unwrap_or(""));
                let op = match op {
                    "in" => Op::In,
                    "notin" => Op::NotIn,
                    _ => return Err(bad(term, "expected 'in' or 'notin'")),
                };
                let values = term[open + 1..close]
                    .split(',')
                    .map(|v| v.trim().to_string())
                    .collect();
                Requirement {
                    key: key.to_string(),
                    op,
                    values,
                }
            } else {
                let (key, op, value) = if let Some((k, v)) = term.split_once("!=") {
                    (k, Op::NotEq, v)
                } else if let Some((k, v)) = term.split_once("==") {
                    (k, Op::Eq, v)
                } else if let Some((k, v)) = term.split_once('=') {
                    (k, Op::Eq, v)
                } else if let Some((k, v)) = term.split_once('>') {
                    (k, Op::Gt, v)
                } else if let Some((k, v)) = term.split_once('<') {
                    (k, Op::Lt, v)
                } else {
                    (term, Op::Exists, "")
                };
                let values = if op == Op::Exists {
                    vec![]
                } else {
                    vec![value.trim().to_string()]
                };
                Requirement {
                    key: key.trim().to_string(),
                    op,
                    values,
                }
            };
            if !valid_key(&req.key) {
                return Err(bad(term, "invalid label key"));
            }
            if matches!(req.op, Op::Gt | Op::Lt) && req.values[0].parse::<i64>().is_err() {
                return Err(bad(
                    term,
                    "for 'Gt', 'Lt' operators, the value must be an integer",
                ));
            }
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    /// Whether a label map satisfies every requirement.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        self.0.iter().all(|r| {
            let v = labels.get(&r.key).and_then(Value::as_str);
            match r.op {
                Op::Eq | Op::In => v.is_some_and(|v| r.values.iter().any(|x| x == v)),
                Op::NotEq | Op::NotIn => v.is_none_or(|v| r.values.iter().all(|x| x != v)),
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
                Op::Gt | Op::Lt => {
                    let (Some(have), Ok(want)) = (
                        v.and_then(|v| v.parse::<i64>().ok()),
                        r.values[0].parse::<i64>(),
                    ) else {
                        return false;
                    };
                    if r.op == Op::Gt {
                        have > want
                    } else {
                        have < want
                    }
                }
            }
        })
    }

    /// True for the empty selector.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Fields each storage kind supports in field selectors (besides metadata.name/namespace).
fn supported_fields(kind: StorageKind) -> &'static [&'static str] {
    match kind {
        StorageKind::Pod => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        StorageKind::Event => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        StorageKind::Secret => &["type"],
        _ => &[],
    }
}

/// A parsed field selector (conjunction of `field=value` / `field!=value`).
#[derive(Debug, Clone, Default)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses and checks the fields against what `res` supports.
    pub fn parse(s: &str, res: &ApiResource) -> Result<Self, ApiError> {
        let mut reqs = Vec::new();
        for term in split_terms(s) {
            let (field, negate, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, false, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{s}'; can't understand '{term}'"
                )));
            };
            let field = field_label(res, field.trim());
            let known = matches!(field.as_str(), "metadata.name" | "metadata.namespace")
                || supported_fields(res.storage).contains(&field.as_str());
            if !known {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {}",
                    field.trim()
                )));
            }
            reqs.push((field, negate, value.trim().to_string()));
        }
        Ok(Self(reqs))
    }

    /// Whether a stored object satisfies every requirement; missing fields read as "".
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(field, negate, want)| {
            let path = if field == "source" {
                "source.component"
            } else {
                field.as_str()
            };
            let have = path.split('.').try_fold(obj, |v, k| v.get(k));
            let have = match have {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (have == *want) != *negate
        })
    }

    /// True for the empty selector.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
