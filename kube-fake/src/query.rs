//! Query parameters of list, watch, write and delete requests.
//!
//! Unknown parameters are ignored, as the real server does; malformed
//! numbers and booleans are a 400, as they are there.

use crate::error::ApiError;
use crate::store::Propagation;

/// The parameters the fake understands.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// `watch=true|1`.
    pub watch: bool,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch` (`Exact` / `NotOlderThan`).
    pub resource_version_match: Option<String>,
    /// `limit` (0 means none).
    pub limit: Option<usize>,
    /// `continue`.
    pub continue_token: Option<String>,
    /// `labelSelector`.
    pub label_selector: Option<String>,
    /// `fieldSelector`.
    pub field_selector: Option<String>,
    /// `timeoutSeconds`.
    pub timeout_seconds: Option<u64>,
    /// `allowWatchBookmarks`.
    pub allow_watch_bookmarks: bool,
    /// `sendInitialEvents`.
    pub send_initial_events: Option<bool>,
    /// `gracePeriodSeconds` (DELETE).
    pub grace_period_seconds: Option<i64>,
    /// `propagationPolicy` (DELETE).
    pub propagation_policy: Option<Propagation>,
    /// `fieldManager` (writes).
    pub field_manager: Option<String>,
    /// `force` (apply).
    pub force: bool,
    /// `dryRun=All` (writes).
    pub dry_run: bool,
}

fn parse_bool(k: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" | "1" | "True" => Ok(true),
        "false" | "0" | "False" | "" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "invalid value for {k}: {v:?}"
        ))),
    }
}

fn parse_num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, ApiError> {
    v.parse()
        .map_err(|_| ApiError::bad_request(format!("invalid value for {k}: {v:?}")))
}

/// Parses a propagation policy name.
pub fn parse_propagation(v: &str) -> Result<Propagation, ApiError> {
    match v {
        "Orphan" => Ok(Propagation::Orphan),
        "Background" => Ok(Propagation::Background),
        "Foreground" => Ok(Propagation::Foreground),
        other => Err(ApiError::bad_request(format!(
            "invalid propagationPolicy {other:?}"
        ))),
    }
}

impl Query {
    /// Parses a raw query string (without `?`).
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let mut q = Query::default();
        for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
            let v = v.into_owned();
            match k.as_ref() {
                "watch" => q.watch = parse_bool(&k, &v)?,
                "resourceVersion" => q.resource_version = Some(v),
                "resourceVersionMatch" => {
                    q.resource_version_match = Some(v).filter(|v| !v.is_empty())
                }
                "limit" => q.limit = Some(parse_num::<usize>(&k, &v)?).filter(|l| *l > 0),
                "continue" => q.continue_token = Some(v).filter(|v| !v.is_empty()),
                "labelSelector" => q.label_selector = Some(v),
                "fieldSelector" => q.field_selector = Some(v),
                "timeoutSeconds" => q.timeout_seconds = Some(parse_num(&k, &v)?),
                "allowWatchBookmarks" => q.allow_watch_bookmarks = parse_bool(&k, &v)?,
                "sendInitialEvents" => q.send_initial_events = Some(parse_bool(&k, &v)?),
                "gracePeriodSeconds" => q.grace_period_seconds = Some(parse_num(&k, &v)?),
                "propagationPolicy" => q.propagation_policy = Some(parse_propagation(&v)?),
                "fieldManager" => q.field_manager = Some(v),
                "force" => q.force = parse_bool(&k, &v)?,
                "dryRun" => q.dry_run = v == "All",
                _ => {}
            }
        }
        Ok(q)
    }
}
