//! LIST: selectors, `resourceVersion` semantics and `limit`/`continue` paging.
//!
//! Paging is a consistent snapshot, as on etcd: the continue token carries
//! the revision of the first page and the last key returned (same JSON shape
//! as kube-apiserver's token, base64url), and later pages are read *at that
//! revision* by undoing newer changes from the history. Once the history no
//! longer reaches that revision (window overflow or [`crate::FakeKube::compact`]),
//! the token has expired: HTTP 410 `Expired`, whose `Status.metadata.continue`
//! offers an inconsistent token (revision -1) for the remainder, as upstream.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::convert::to_view;
use crate::error::ApiError;
use crate::meta;
use crate::query::Query;
use crate::resource::ApiResource;
use crate::selector::{FieldSelector, LabelSelector};
use crate::store::Store;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn encode_continue(rv: i64, ns: &str, name: &str) -> String {
    let token = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{ns}/{name}\u{0}")});
    B64.encode(token.to_string())
}

fn decode_continue(token: &str) -> Result<(i64, String, String), ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("continue key is not valid: {why}"));
    let raw = B64
        .decode(token.trim_end_matches('='))
        .map_err(|_| bad("incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad("not JSON"))?;
    if v["v"] != "meta.k8s.io/v1" {
        return Err(bad("server does not recognize this encoded key"));
    }
    let rv = v["rv"].as_i64().ok_or_else(|| bad("missing rv"))?;
    let start = v["start"]
        .as_str()
        .ok_or_else(|| bad("missing start"))?
        .trim_end_matches('\u{0}');
    let (ns, name) = start.split_once('/').ok_or_else(|| bad("bad start key"))?;
    Ok((rv, ns.to_string(), name.to_string()))
}

/// Parses a resourceVersion parameter.
pub fn parse_rv(rv: &str) -> Result<u64, ApiError> {
    rv.parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv:?}")))
}

fn too_large(rv: u64, current: u64) -> ApiError {
    let mut e = ApiError::timeout(format!(
        "Too large resource version: {rv}, current: {current}"
    ));
    e.details = Some(Box::new(json!({
        "causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
        "retryAfterSeconds": 1,
    })));
    e.retry_after = Some(1);
    e
}

/// Which revision to read and where to start.
fn read_point(store: &Store, q: &Query) -> Result<(u64, Option<(String, String)>), ApiError> {
    let current = store.revision();
    if let Some(token) = &q.continue_token {
        if q.resource_version
            .as_deref()
            .is_some_and(|rv| !rv.is_empty() && rv != "0")
        {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let (rv, ns, name) = decode_continue(token)?;
        if rv < 0 {
            return Ok((current, Some((ns, name))));
        }
        let rv = rv.unsigned_abs();
        if rv < store.oldest_resumable() {
            let mut e = ApiError::expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.");
            e.metadata = Some(Box::new(
                json!({"continue": encode_continue(-1, &ns, &name)}),
            ));
            return Err(e);
        }
        return Ok((rv, Some((ns, name))));
    }
    let rv = q.resource_version.as_deref().filter(|r| !r.is_empty());
    let exact = match (rv, q.resource_version_match.as_deref()) {
        (None, Some(_)) => {
            return Err(ApiError::bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ))
        }
        (None, None) => return Ok((current, None)),
        (Some("0"), Some("Exact")) => {
            return Err(ApiError::bad_request(
                "resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"",
            ))
        }
        (Some("0"), _) => return Ok((current, None)),
        (Some(_), Some("Exact")) => true,
        (Some(_), Some("NotOlderThan")) => false,
        // Legacy: a resourceVersion with a limit and no match means Exact.
        (Some(_), None) => q.limit.is_some(),
        (Some(_), Some(other)) => {
            return Err(ApiError::bad_request(format!(
                "unsupported resourceVersionMatch {other:?}"
            )))
        }
    };
    let rv = parse_rv(rv.unwrap_or_default())?;
    if rv > current {
        return Err(too_large(rv, current));
    }
    Ok((if exact { rv } else { current }, None))
}

/// Handles a LIST; returns the `<Kind>List` body.
pub fn list(
    store: &Store,
    res: &ApiResource,
    ns: Option<&str>,
    q: &Query,
) -> Result<Value, ApiError> {
    let labels = LabelSelector::parse(q.label_selector.as_deref().unwrap_or(""))?;
    let fields = FieldSelector::parse(q.field_selector.as_deref().unwrap_or(""), res)?;
    let (rv, start) = read_point(store, q)?;
    let entries: Vec<((String, String), Arc<Value>)> = if rv == store.revision() {
        store
            .iter_kind(res.storage, ns)
            .map(|(k, v)| ((k.1.clone(), k.2.clone()), v.clone()))
            .collect()
    } else {
        store
            .snapshot(res.storage, ns, rv)
            .map_err(|_| {
                ApiError::expired("The resourceVersion for the provided list is too old.")
            })?
            .into_iter()
            .collect()
    };
    let matching = entries
        .into_iter()
        .filter(|(k, _)| start.as_ref().is_none_or(|s| k > s))
        .filter(|(_, v)| labels.matches(&meta::labels(v)) && fields.matches(v));
    let mut items = Vec::new();
    let mut last = None;
    let mut remaining = 0usize;
    for (k, v) in matching {
        if q.limit.is_some_and(|l| items.len() >= l) {
            remaining += 1;
            continue;
        }
        let mut item = to_view(res, &v);
        if let Some(o) = item.as_object_mut() {
            // List items carry no TypeMeta on the wire; the list does.
            o.remove("kind");
            o.remove("apiVersion");
        }
        items.push(item);
        last = Some(k);
    }
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if remaining > 0 {
        let (lns, lname) = last.unwrap_or_default();
        metadata["continue"] = json!(encode_continue(
            i64::try_from(rv).unwrap_or(i64::MAX),
            &lns,
            &lname
        ));
        if labels.is_empty() && fields.is_empty() {
            metadata["remainingItemCount"] = json!(remaining);
        }
    }
    Ok(json!({
        "kind": format!("{}List", res.kind),
        "apiVersion": res.api_version(),
        "metadata": metadata,
        "items": items,
    }))
}
