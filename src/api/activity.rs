//! `POST /users/{name}/activity` (contract §1.7): validated exactly as upstream, merged in
//! memory and replicated in batches (see [`crate::activity`]).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rafthub_rbac::{Builtin, Resource};
use serde_json::Value;

use super::auth::require;
use super::request::{json_body, py_repr};
use super::schema::ErrorBody;
use super::schema_io::Activity;
use super::ApiError;
use crate::hub::Hub;
use crate::timefmt;

/// Activity more than this far in the future is rejected (upstream: 59 minutes).
const MAX_FUTURE_US: i64 = 59 * 60 * 1_000_000;

/// 0001-01-01T00:00:00Z in µs: Python's `datetime.min`; upstream cannot parse earlier years.
const MIN_TS: i64 = -62_135_596_800_000_000;

fn parse_ts(v: &Value, now: i64) -> Result<i64, ApiError> {
    let ts = v
        .as_str()
        .and_then(timefmt::parse)
        .filter(|ts| *ts >= MIN_TS)
        .ok_or_else(|| ApiError::bad_request(format!("Not a valid timestamp: {}", py_repr(v))))?;
    if ts - now > MAX_FUTURE_US {
        return Err(ApiError::bad_request(format!(
            "Rejecting activity from more than an hour in the future: {}",
            timefmt::iso(ts)
        )));
    }
    Ok(ts)
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::Bool(true)) => true,
    }
}

/// Records activity of a user and its servers (`users:activity`): max() with what is known.
#[utoipa::path(
    post,
    path = "/api/users/{name}/activity",
    operation_id = "post_activity",
    tag = "users",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    request_body = Activity,
    responses(
        (status = 200, description = "Recorded (empty body); replicated within \
            `activity_flush_ms`."),
        (status = 400, description = "Not a dict, neither key, an unknown server, a bad \
            timestamp or one over 59 minutes in the future.", body = ErrorBody),
        (status = 404, description = "No such user, or not visible to the caller.",
            body = ErrorBody)
    )
)]
pub async fn post(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.user(&name).is_some()).await?;
    let data = json_body(body, hub.cfg.max_body_bytes).await;
    let st = hub.node.state();
    require(
        caller.as_ref(),
        &st,
        &[Builtin::UsersActivity],
        Resource::User(&name),
    )?;
    let u = st
        .user(&name)
        .ok_or_else(|| ApiError::not_found(format!("No such user: '{name}'")))?;
    let Some(Value::Object(body)) = data? else {
        return Err(ApiError::bad_request("body must be a json dict"));
    };
    let (last, servers) = (body.get("last_activity"), body.get("servers"));
    if !truthy(last) && !truthy(servers) {
        return Err(ApiError::bad_request(
            "body must contain at least one of `last_activity` or `servers`",
        ));
    }
    let now = timefmt::now();
    let mut server_ts = Vec::new();
    if truthy(servers) {
        let msg = "servers must be a dict of the form {server_name: {last_activity: timestamp}}";
        let Some(servers) = servers.and_then(Value::as_object) else {
            return Err(ApiError::bad_request(msg));
        };
        for (sname, info) in servers {
            if !u.servers.contains_key(sname) {
                return Err(ApiError::bad_request(format!(
                    "No such server '{sname}' for user {}",
                    u.name
                )));
            }
            let ts = info
                .as_object()
                .and_then(|o| o.get("last_activity"))
                .ok_or_else(|| ApiError::bad_request(msg))?;
            server_ts.push((sname.clone(), parse_ts(ts, now)?));
        }
    }
    let user_ts = match last {
        Some(v) if truthy(Some(v)) => Some(parse_ts(v, now)?),
        _ => None,
    };
    // Validated: merge into the replica's buffer; replicated within the flush interval.
    if let Some(ts) = user_ts {
        hub.activity.record(u.id, None, ts);
    }
    for (sname, ts) in server_ts {
        hub.activity.record(u.id, Some(&sname), ts);
    }
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")]).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_outside_pythons_datetime_are_refused() {
        let now = timefmt::now();
        assert!(parse_ts(&Value::from("0001-01-01T00:00:00Z"), now).is_ok());
        for bad in ["0000-12-31T23:59:59Z", "9999-01-01T00:00:00Z", "yesterday"] {
            assert!(parse_ts(&Value::from(bad), now).is_err(), "{bad}");
        }
    }
}
