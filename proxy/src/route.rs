//! A validated route: canonical spec → upstream target, plus opaque data.

use std::sync::Arc;

use hyper::http::uri::{Authority, Uri};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::path::{canonical_spec, trim_spec};

/// Why a route was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RouteError {
    #[error("invalid target URL {0:?}")]
    InvalidTarget(String),
    #[error("unsupported target scheme in {0:?} (http:// and https:// are proxied)")]
    UnsupportedScheme(String),
}

/// One route as the hub writes it (CHP `POST /api/routes/<spec>` body).
///
/// `spec` is kept canonical (see [`canonical_spec`]); `data` never contains
/// the `target` or `last_activity` keys, which are synthesised on listing.
/// The data is kept as compact JSON text behind an `Arc` (the replicated state
/// shares the same text): a `Map` cost ~600 bytes per route however small.
/// Serialised form is `{spec, target, data}` with the canonical spec, and
/// deserialising revalidates without decoding again, so it can be replicated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RouteRepr", into = "RouteRepr")]
pub struct Route {
    spec: String,
    target: String,
    data: Arc<str>,
    /// `"hub": true` in the data (checked per request by the in-process hub handler).
    #[serde(skip)]
    hub: bool,
    #[serde(skip)]
    parsed: Target,
}

#[derive(Serialize, Deserialize)]
struct RouteRepr {
    spec: String,
    target: String,
    #[serde(default)]
    data: Map<String, Value>,
}

impl TryFrom<RouteRepr> for Route {
    type Error = RouteError;
    fn try_from(r: RouteRepr) -> Result<Self, RouteError> {
        Route::from_canonical(&r.spec, &r.target, r.data)
    }
}

impl From<Route> for RouteRepr {
    fn from(r: Route) -> Self {
        let data = r.data();
        RouteRepr {
            spec: r.spec,
            target: r.target,
            data,
        }
    }
}

impl Route {
    /// Build from a routespec in the hub's escaped form (`/user/a%40b/`),
    /// which is decoded once into the canonical key.
    pub fn new(spec: &str, target: &str, data: Map<String, Value>) -> Result<Route, RouteError> {
        Self::from_canonical(&canonical_spec(spec), target, data)
    }

    /// As [`Route::new`], with the data as JSON text that is shared, not copied, when it is
    /// an object without the synthesised keys (the replicated state's form). Anything else
    /// is rebuilt as `new` would (data that is not an object becomes `{}`).
    pub fn with_json_data(spec: &str, target: &str, data: Arc<str>) -> Result<Route, RouteError> {
        let spec = canonical_spec(spec);
        match serde_json::from_str::<Value>(&data) {
            Ok(Value::Object(m))
                if !m.contains_key("target") && !m.contains_key("last_activity") =>
            {
                Ok(Route {
                    parsed: Target::parse(target)?,
                    spec: trim_spec(&spec),
                    target: target.to_owned(),
                    hub: is_hub(&m),
                    data,
                })
            }
            Ok(Value::Object(m)) => Self::from_canonical(&spec, target, m),
            _ => Self::from_canonical(&spec, target, Map::new()),
        }
    }

    /// Build from an already-canonical spec (as listed by the table or
    /// handed to a `RouteWriter`); only slashes are normalised, no decoding.
    pub fn from_canonical(
        spec: &str,
        target: &str,
        mut data: Map<String, Value>,
    ) -> Result<Route, RouteError> {
        let parsed = Target::parse(target)?;
        data.remove("target");
        data.remove("last_activity");
        Ok(Route {
            spec: trim_spec(spec),
            target: target.to_owned(),
            hub: is_hub(&data),
            data: Arc::from(Value::Object(data).to_string()),
            parsed,
        })
    }

    /// Canonical CHP key, e.g. `/user/alice`.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// Target URL as given, e.g. `http://127.0.0.1:8888`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Route data (`user`, `server_name`, `jupyterhub`, ...), decoded.
    pub fn data(&self) -> Map<String, Value> {
        match serde_json::from_str(&self.data) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    /// Route data as compact JSON text.
    pub fn data_json(&self) -> &Arc<str> {
        &self.data
    }

    /// Whether the data says `"hub": true`.
    pub fn is_hub(&self) -> bool {
        self.hub
    }

    pub(crate) fn parsed_target(&self) -> &Target {
        &self.parsed
    }
}

fn is_hub(data: &Map<String, Value>) -> bool {
    data.get("hub").and_then(Value::as_bool) == Some(true)
}

/// Parsed upstream target: `http[s]://authority[/base]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub authority: Authority,
    /// Base path without trailing slash ("" for a host-only target).
    pub base: String,
    /// `https://`: the upstream connection is TLS (a service behind https, internal TLS).
    pub tls: bool,
}

impl Default for Target {
    fn default() -> Self {
        Target {
            authority: Authority::from_static("127.0.0.1"),
            base: String::new(),
            tls: false,
        }
    }
}

impl Target {
    pub fn parse(target: &str) -> Result<Target, RouteError> {
        let uri: Uri = target
            .parse()
            .map_err(|_| RouteError::InvalidTarget(target.to_owned()))?;
        let tls = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(_) => return Err(RouteError::UnsupportedScheme(target.to_owned())),
            None => return Err(RouteError::InvalidTarget(target.to_owned())),
        };
        let authority = uri
            .authority()
            .filter(|a| !a.host().is_empty())
            .cloned()
            .ok_or_else(|| RouteError::InvalidTarget(target.to_owned()))?;
        Ok(Target {
            authority,
            base: uri.path().trim_end_matches('/').to_owned(),
            tls,
        })
    }

    /// Upstream URI: target base + the (normalised) request path + query.
    /// Like http-proxy's `urlJoin`, the slash between them is not doubled.
    pub fn join(&self, path: &str, query: Option<&str>) -> Result<Uri, hyper::http::Error> {
        let mut s = String::with_capacity(16 + self.base.len() + path.len());
        s.push_str(if self.tls { "https://" } else { "http://" });
        s.push_str(self.authority.as_str());
        s.push_str(&self.base);
        s.push_str(path);
        if let Some(q) = query {
            s.push('?');
            s.push_str(q);
        }
        Ok(Uri::try_from(s)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn targets() {
        let t = Target::parse("http://127.0.0.1:8888").expect("valid");
        assert_eq!(t.authority.as_str(), "127.0.0.1:8888");
        assert_eq!(
            t.join("/user/a/x", Some("q=1")).expect("uri").to_string(),
            "http://127.0.0.1:8888/user/a/x?q=1"
        );
        let t = Target::parse("http://hub:8081/base/").expect("valid");
        assert_eq!(
            t.join("/x", None).expect("uri").to_string(),
            "http://hub:8081/base/x"
        );
        let t = Target::parse("https://svc.example.org/base").expect("https is proxied");
        assert!(t.tls);
        assert_eq!(
            t.join("/services/x/", None).expect("uri").to_string(),
            "https://svc.example.org/base/services/x/"
        );
        for bad in [
            "",
            "not a url",
            "/relative",
            "http://",
            "https://",
            "ftp://x",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn route_strips_synthesised_keys_and_round_trips() {
        let r = Route::new(
            "/user/a%40b/",
            "http://127.0.0.1:1",
            data(json!({"target": "x", "last_activity": "y", "user": "a@b"})),
        )
        .expect("valid");
        assert_eq!(r.spec(), "/user/a@b");
        assert_eq!(r.data().len(), 1);
        assert!(!r.is_hub());
        // Shared JSON text is kept as is; synthesised keys in it are still stripped.
        let text: Arc<str> = Arc::from(r#"{"hub":true}"#);
        let h = Route::with_json_data("/", "http://127.0.0.1:1", text.clone()).expect("valid");
        assert!(Arc::ptr_eq(h.data_json(), &text) && h.is_hub());
        let t = Route::with_json_data(
            "/x/",
            "http://127.0.0.1:1",
            Arc::from(r#"{"target":"y","u":1}"#),
        )
        .expect("valid");
        assert_eq!(&**t.data_json(), r#"{"u":1}"#);
        let n = Route::with_json_data("/n", "http://127.0.0.1:1", Arc::from("[1]")).expect("valid");
        assert_eq!(
            &**n.data_json(),
            "{}",
            "data that is not an object is not spliced as one"
        );
        assert_eq!(t.spec(), "/x");
        let s = serde_json::to_string(&r).expect("ser");
        let back: Route = serde_json::from_str(&s).expect("de");
        assert_eq!(back, r);
        // Canonical specs are not decoded a second time.
        let r = Route::new("/user/a%2540/", "http://127.0.0.1:1", Map::new()).expect("valid");
        let back: Route =
            serde_json::from_str(&serde_json::to_string(&r).expect("ser")).expect("de");
        assert_eq!(back.spec(), "/user/a%40");
    }
}
