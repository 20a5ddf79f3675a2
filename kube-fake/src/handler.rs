//! HTTP dispatch: log the request, apply injected faults, route to the verb.
//!
//! Shared by both transports ([`crate::FakeService`] in-process and
//! [`crate::serve`] over TCP), so a test sees identical behaviour either way.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use serde_json::{json, Value};

use crate::convert::to_view;
use crate::error::ApiError;
use crate::fake::Shared;
use crate::faults::Action;
use crate::log::{RequestRecord, Verb};
use crate::patch::{self, PatchType};
use crate::query::{parse_propagation, Query};
use crate::resource::{parse_path, Route};
use crate::service::FakeBody;
use crate::store::{DeleteOptions, DeleteOutcome, Propagation};
use crate::{list, meta, watch};

/// Who sent a request.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// Identity used in the log and by [`crate::RequestMatch::client`].
    pub name: String,
    /// TCP peer, if any.
    pub peer: Option<SocketAddr>,
}

fn json_response(code: u16, body: &Value) -> Response<FakeBody> {
    let bytes = serde_json::to_vec(body).expect("JSON values serialize");
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "application/json")
        .body(
            Full::new(Bytes::from(bytes))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("static response parts are valid")
}

/// The response for an API error: its `Status` body, plus `Retry-After`.
pub fn error_response(e: &ApiError) -> Response<FakeBody> {
    let mut resp = json_response(e.code, &e.to_status());
    if let Some(secs) = e.retry_after {
        resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
    }
    resp
}

fn verb_of(method: &Method, route: Option<&Route>, query: &str) -> Verb {
    let Some(route) = route else {
        return Verb::Other;
    };
    let named = route.name.is_some();
    let watch = Query::parse(query).map(|q| q.watch).unwrap_or(false);
    match *method {
        Method::GET if named => Verb::Get,
        Method::GET if watch => Verb::Watch,
        Method::GET => Verb::List,
        Method::POST => Verb::Create,
        Method::PUT => Verb::Update,
        Method::PATCH => Verb::Patch,
        Method::DELETE if named => Verb::Delete,
        Method::DELETE => Verb::DeleteCollection,
        _ => Verb::Other,
    }
}

/// Handles one request with a fully read body.
pub async fn handle(
    shared: Arc<Shared>,
    req: Request<Bytes>,
    client: ClientInfo,
) -> Response<FakeBody> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let route = parse_path(&path);
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let record = RequestRecord {
        seq: 0,
        client: client.name.clone(),
        peer: client.peer,
        method: parts.method.clone(),
        path: path.clone(),
        query: raw_query.clone(),
        content_type: content_type.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
        verb: verb_of(&parts.method, route.as_ref().ok(), &raw_query),
        resource: route.as_ref().ok().map(|r| r.resource.plural.to_string()),
        group: route.as_ref().ok().map(|r| r.resource.group.to_string()),
        namespace: route.as_ref().ok().and_then(|r| r.namespace.clone()),
        name: route.as_ref().ok().and_then(|r| r.name.clone()),
        subresource: route.as_ref().ok().and_then(|r| r.subresource.clone()),
        status: None,
        at: tokio::time::Instant::now(),
    };
    let seq = shared.log.push(record.clone());
    let action = shared.faults.lock().take(&record);
    let mut hold_answer = None;
    let resp = 'resp: {
        match action {
            Some(Action::Error(e)) => break 'resp error_response(&e),
            Some(Action::Forbidden(why)) => {
                // A create names its object in the body (quota errors quote it).
                let body_name = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .map(|b| meta::name(&b).to_string());
                let e = match &route {
                    Ok(r) => {
                        let name = r.name.clone().or(body_name).unwrap_or_default();
                        ApiError::forbidden(r.resource, &name, &why)
                    }
                    Err(_) => ApiError::new(403, "Forbidden", why),
                };
                break 'resp error_response(&e);
            }
            Some(Action::Delay(d)) => tokio::time::sleep(d).await,
            Some(Action::Stall(gate)) => gate.waiter().await,
            Some(Action::StallAfterCommit(gate)) => hold_answer = Some(gate.waiter()),
            None => {}
        }
        if path == "/version" {
            break 'resp json_response(200, &version());
        }
        let result = match route {
            Ok(route) => dispatch(
                &shared,
                record.verb,
                &route,
                &raw_query,
                content_type.as_deref(),
                &body,
                &client,
            ),
            Err(e) => Err(e),
        };
        result.unwrap_or_else(|e| error_response(&e))
    };
    shared.log.set_status(seq, resp.status().as_u16());
    if let Some(waiter) = hold_answer {
        waiter.await;
    }
    resp
}

fn version() -> Value {
    json!({"major": "1", "minor": "37", "gitVersion": "v1.37.0-kube-fake", "platform": "linux/amd64"})
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}")))
}

fn delete_options(q: &Query, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut o = DeleteOptions {
        grace_period_seconds: q.grace_period_seconds,
        propagation: q.propagation_policy,
        ..DeleteOptions::default()
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(o);
    }
    let b = parse_json(body)?;
    if let Some(g) = b.get("gracePeriodSeconds").and_then(Value::as_i64) {
        o.grace_period_seconds = Some(g);
    }
    if let Some(p) = b.get("propagationPolicy").and_then(Value::as_str) {
        o.propagation = Some(parse_propagation(p)?);
    } else if let Some(orphan) = b.get("orphanDependents").and_then(Value::as_bool) {
        o.propagation = Some(if orphan {
            Propagation::Orphan
        } else {
            Propagation::Background
        });
    }
    o.uid = b
        .pointer("/preconditions/uid")
        .and_then(Value::as_str)
        .map(str::to_string);
    o.resource_version = b
        .pointer("/preconditions/resourceVersion")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(o)
}

fn dispatch(
    shared: &Arc<Shared>,
    verb: Verb,
    route: &Route,
    raw_query: &str,
    content_type: Option<&str>,
    body: &[u8],
    client: &ClientInfo,
) -> Result<Response<FakeBody>, ApiError> {
    let q = Query::parse(raw_query)?;
    if q.dry_run {
        return Err(ApiError::bad_request("kube-fake does not implement dryRun"));
    }
    let res = route.resource;
    let ns = route.namespace.as_deref();
    let name = route.name.as_deref().unwrap_or("");
    let status_only = route.subresource.as_deref() == Some("status");
    let need_ns = || {
        ns.ok_or_else(|| {
            ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            )
        })
    };
    let view = |v: &Value| to_view(res, v);
    let not_allowed = || {
        ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )
    };
    match verb {
        Verb::Create if route.name.is_some() => return Err(not_allowed()),
        Verb::Update | Verb::Patch if route.name.is_none() => return Err(not_allowed()),
        _ => {}
    }
    match verb {
        Verb::Get => {
            let store = shared.store.lock();
            let obj = store
                .get(res.storage, need_ns()?, name)
                .ok_or_else(|| ApiError::not_found(res, name))?;
            Ok(json_response(200, &view(obj)))
        }
        Verb::List => Ok(json_response(
            200,
            &list::list(&shared.store.lock(), res, ns, &q)?,
        )),
        Verb::Watch => {
            let stream = watch::start(shared, res, ns, &q, &client.name)?;
            Ok(Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(StreamBody::new(stream).boxed_unsync())
                .expect("static response parts are valid"))
        }
        Verb::Create => {
            let obj = parse_json(body)?;
            let created = shared.with_store(|s| s.create(res, need_ns()?, obj))?;
            Ok(json_response(201, &view(&created)))
        }
        Verb::Update => {
            let obj = parse_json(body)?;
            let updated =
                shared.with_store(|s| s.update(res, need_ns()?, name, obj, status_only))?;
            Ok(json_response(200, &view(&updated)))
        }
        Verb::Patch => {
            let ty = PatchType::from_content_type(content_type.unwrap_or(""))?;
            let p = patch::parse_body(ty, body)?;
            let fm = q.field_manager.as_deref();
            let (obj, created) =
                shared.with_store(|s| s.patch(res, need_ns()?, name, ty, &p, status_only, fm))?;
            Ok(json_response(if created { 201 } else { 200 }, &view(&obj)))
        }
        Verb::Delete => {
            let opts = delete_options(&q, body)?;
            match shared.with_store(|s| s.delete(res, need_ns()?, name, &opts))? {
                DeleteOutcome::Pending(obj) => Ok(json_response(200, &view(&obj))),
                DeleteOutcome::Gone(obj) if res.return_deleted_object => {
                    Ok(json_response(200, &view(&obj)))
                }
                DeleteOutcome::Gone(obj) => Ok(json_response(200, &success_status(res, &obj))),
            }
        }
        Verb::DeleteCollection => {
            let opts = delete_options(&q, body)?;
            let ns = need_ns()?;
            let items = shared.with_store(|s| -> Result<Vec<Value>, ApiError> {
                let page = list::list(
                    s,
                    res,
                    Some(ns),
                    &Query {
                        limit: None,
                        continue_token: None,
                        ..q.clone()
                    },
                )?;
                let names: Vec<String> = page["items"]
                    .as_array()
                    .map(|a| a.iter().map(|i| meta::name(i).to_string()).collect())
                    .unwrap_or_default();
                let mut out = Vec::new();
                for n in names {
                    if let Ok(DeleteOutcome::Pending(o) | DeleteOutcome::Gone(o)) =
                        s.delete(res, ns, &n, &opts)
                    {
                        out.push(view(&o));
                    }
                }
                Ok(out)
            })?;
            let rv = shared.store.lock().revision().to_string();
            let list = json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(),
                "metadata": {"resourceVersion": rv}, "items": items});
            Ok(json_response(200, &list))
        }
        Verb::Other => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

fn success_status(res: &crate::resource::ApiResource, obj: &Value) -> Value {
    let mut details = json!({"name": meta::name(obj), "kind": res.plural, "uid": meta::uid(obj)});
    if !res.group.is_empty() {
        details["group"] = json!(res.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}
