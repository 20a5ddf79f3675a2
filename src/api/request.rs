//! Request parsing with upstream's errors: JSON bodies, query arguments, pagination, the
//! absolute `next.url`, and a Python-like repr for error messages that quote input.

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::Value;

use super::ApiError;

/// Reads a request body of at most `limit` bytes and parses it as JSON. An empty body is
/// `None` (upstream's `get_json_body`).
pub async fn json_body(body: Body, limit: usize) -> Result<Option<Value>, ApiError> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body exceeds the limit of {limit} bytes"),
        )
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(text)
        .map(Some)
        .map_err(|_| ApiError::bad_request("Invalid JSON in body of request"))
}

/// Query arguments in order; lookups return the last value, as Tornado's `get_argument`.
#[derive(Debug, Default, Clone)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `?consistency=linearizable` asks for a read-index barrier before a local read.
    pub fn linearizable(&self) -> bool {
        self.get("consistency") == Some("linearizable")
    }

    /// Upstream's `include_stopped_servers`: any value but `0`/`false` means yes.
    pub fn include_stopped_servers(&self) -> bool {
        self.get("include_stopped_servers")
            .is_some_and(|v| !matches!(v.to_lowercase().as_str(), "0" | "false"))
    }
}

/// Python's `abs(int(s))` for query arguments.
fn py_abs_int(s: &str) -> Option<usize> {
    let t = s.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    let t = t.strip_prefix('-').unwrap_or(t);
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit() || b == b'_') || t.starts_with('_') {
        return None;
    }
    let digits: String = t.chars().filter(|c| *c != '_').collect();
    // Values past usize are clamped like any large limit; offsets that large find nothing.
    Some(
        digits
            .parse::<u128>()
            .ok()
            .map_or(usize::MAX, |v| v.min(usize::MAX as u128) as usize),
    )
}

/// Whether the client asked for the pagination envelope: one of the comma-separated media
/// types, case-insensitively and without parameters, is upstream's (its
/// `accepts_pagination`; a `;q=` parameter makes it another type there too).
pub fn accepts_pagination(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|a| {
            a.trim()
                .eq_ignore_ascii_case("application/jupyterhub-pagination+json")
        })
}

#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub offset: usize,
    pub limit: usize,
    pub envelope: bool,
}

/// Upstream's `get_api_pagination`: without the envelope the default limit is the max.
pub fn page(
    q: &Query,
    headers: &HeaderMap,
    default_limit: usize,
    max_limit: usize,
) -> Result<Page, ApiError> {
    let envelope = accepts_pagination(headers);
    let bad = || ApiError::bad_request("Invalid argument type, offset and limit must be integers");
    let offset = match q.get("offset") {
        Some(s) => py_abs_int(s).ok_or_else(bad)?,
        None => 0,
    };
    let default = if envelope { default_limit } else { max_limit };
    let limit = match q.get("limit") {
        Some(s) => py_abs_int(s).ok_or_else(bad)?,
        None => default,
    };
    Ok(Page {
        offset,
        limit: limit.clamp(1, max_limit),
        envelope,
    })
}

/// The request's absolute URL as the client sees it, with `offset` and `limit` replaced.
pub fn next_url(headers: &HeaderMap, path: &str, q: &Query, offset: usize, limit: usize) -> String {
    let first = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or("").trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let scheme = first("x-forwarded-proto")
        .or_else(|| first("x-scheme"))
        .unwrap_or_else(|| "http".into());
    let host = first("x-forwarded-host")
        .or_else(|| first("host"))
        .unwrap_or_else(|| "localhost".into());
    let mut keys: Vec<String> = Vec::new();
    for (k, _) in &q.0 {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    for k in ["offset", "limit"] {
        if !keys.iter().any(|x| x == k) {
            keys.push(k.to_string());
        }
    }
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for k in &keys {
        match k.as_str() {
            "offset" => {
                ser.append_pair(k, &offset.to_string());
            }
            "limit" => {
                ser.append_pair(k, &limit.to_string());
            }
            _ => {
                for (_, v) in q.0.iter().filter(|(kk, _)| kk == k) {
                    ser.append_pair(k, v);
                }
            }
        }
    }
    format!("{scheme}://{host}{path}?{}", ser.finish())
}

/// The pagination envelope around `items`.
pub fn envelope(
    items: Value,
    p: Page,
    total: usize,
    headers: &HeaderMap,
    path: &str,
    q: &Query,
) -> Value {
    serde_json::json!({
        "items": items,
        "_pagination": pagination(p, total, headers, path, q),
    })
}

/// A paginated answer serialized without building its items as `Value`s; prints as
/// [`envelope`] does (`_pagination` first, as a `serde_json::Map` orders its keys).
#[derive(serde::Serialize)]
pub struct Paged<'i, T: serde::Serialize> {
    pub _pagination: Value,
    pub items: &'i [T],
}

/// The `_pagination` object of a paginated answer.
pub fn pagination(p: Page, total: usize, headers: &HeaderMap, path: &str, q: &Query) -> Value {
    let next_offset = p.offset.saturating_add(p.limit);
    let next = if next_offset < total {
        serde_json::json!({
            "offset": next_offset,
            "limit": p.limit,
            "url": next_url(headers, path, q, next_offset, p.limit),
        })
    } else {
        Value::Null
    };
    serde_json::json!({"offset": p.offset, "limit": p.limit, "total": total, "next": next})
}

/// A Python-like repr of a JSON value, for messages upstream builds with `{model!r}`.
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The Python type name of a JSON value, as `type(value)!r` prints it.
pub fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<class 'NoneType'>",
        Value::Bool(_) => "<class 'bool'>",
        Value::Number(n) if n.is_f64() => "<class 'float'>",
        Value::Number(_) => "<class 'int'>",
        Value::String(_) => "<class 'str'>",
        Value::Array(_) => "<class 'list'>",
        Value::Object(_) => "<class 'dict'>",
    }
}

/// Expected JSON type of a model key (upstream `_check_model`).
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Str,
    Bool,
    List,
    Dict,
}

impl Ty {
    fn matches(self, v: &Value) -> bool {
        match self {
            Ty::Str => v.is_string(),
            Ty::Bool => v.is_boolean(),
            Ty::List => v.is_array(),
            Ty::Dict => v.is_object(),
        }
    }
    fn py(self) -> &'static str {
        match self {
            Ty::Str => "<class 'str'>",
            Ty::Bool => "<class 'bool'>",
            Ty::List => "<class 'list'>",
            Ty::Dict => "<class 'dict'>",
        }
    }
}

/// Upstream `_check_model`: a dict whose keys are known and whose values have the right types.
pub fn check_model<'a>(
    v: &'a Value,
    types: &[(&str, Ty)],
    name: &str,
) -> Result<&'a serde_json::Map<String, Value>, ApiError> {
    let Some(obj) = v.as_object() else {
        return Err(ApiError::bad_request(format!(
            "Invalid JSON data: {}",
            py_repr(v)
        )));
    };
    if obj.keys().any(|k| !types.iter().any(|(t, _)| t == k)) {
        return Err(ApiError::bad_request(format!(
            "Invalid JSON keys: {}",
            py_repr(v)
        )));
    }
    for (k, val) in obj {
        let (_, ty) = types.iter().find(|(t, _)| t == k).expect("checked above");
        if !ty.matches(val) {
            return Err(ApiError::bad_request(format!(
                "{name}.{k} must be {}, not: {}",
                ty.py(),
                py_type(val)
            )));
        }
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_arguments_follow_upstream() {
        let h = HeaderMap::new();
        let p = page(&Query::parse(Some("offset=-5&limit=100000")), &h, 50, 200).expect("page");
        assert_eq!((p.offset, p.limit, p.envelope), (5, 200, false));
        let p = page(&Query::parse(Some("limit=0")), &h, 50, 200).expect("page");
        assert_eq!(p.limit, 1);
        assert!(page(&Query::parse(Some("offset=x")), &h, 50, 200).is_err());
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT,
            "application/json, application/jupyterhub-pagination+json"
                .parse()
                .unwrap(),
        );
        let p = page(&Query::default(), &h, 50, 200).expect("page");
        assert_eq!((p.limit, p.envelope), (50, true));
        // As upstream's `accepts_pagination`: case-insensitive, parameters make it another type.
        for (accept, envelope) in [
            ("Application/JupyterHub-Pagination+JSON", true),
            ("application/jupyterhub-pagination+json;q=0.9", false),
            ("application/json", false),
        ] {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT, accept.parse().unwrap());
            assert_eq!(accepts_pagination(&h), envelope, "{accept}");
        }
    }

    #[test]
    fn next_url_keeps_params_and_honours_forwarded_headers() {
        let mut h = HeaderMap::new();
        h.insert("host", "hub.example:8000".parse().unwrap());
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        let q = Query::parse(Some("state=ready&offset=0&name_filter=a%20b"));
        assert_eq!(
            next_url(&h, "/hub/api/users", &q, 50, 50),
            "https://hub.example:8000/hub/api/users?state=ready&offset=50&name_filter=a+b&limit=50"
        );
    }

    #[test]
    fn python_reprs() {
        let v: Value = serde_json::json!({"a": [true, null, "x'y"]});
        assert_eq!(py_repr(&v), "{'a': [True, None, 'x\\'y']}");
    }
}
