//! Shared helpers: one per kind of check, so tests state intent, not plumbing.

use std::fmt::Debug;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::core::Status;
use rafthub_kube_fake::FakeKube;
use serde_json::{json, Value};
use tokio::time::{timeout, Duration};
use tower_service::Service;

/// Namespace most tests use.
pub const NS: &str = "ns";

/// A minimal single-container pod manifest.
pub fn pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "jupyter", "component": "singleuser-server"}},
        "spec": {"containers": [{"name": "notebook", "image": "quay.io/jupyter/base-notebook:2025-01-01"}]}
    })
}

/// A typed pod from JSON.
pub fn typed_pod(v: Value) -> Pod {
    serde_json::from_value(v).expect("valid pod JSON")
}

/// `Api<Pod>` in [`NS`] for a named in-process client.
pub fn pods(fake: &FakeKube, client: &str) -> Api<Pod> {
    Api::namespaced(fake.client(client), NS)
}

/// Asserts that a kube call failed with an API `Status` of `code`/`reason`, and returns it.
#[track_caller]
pub fn assert_api_error<T: Debug>(r: Result<T, kube::Error>, code: u16, reason: &str) -> Status {
    match r {
        Err(kube::Error::Api(s)) => {
            assert_eq!(
                (s.code, s.reason.as_str()),
                (code, reason),
                "unexpected status: {s:?}"
            );
            *s
        }
        other => panic!("expected API error {code} {reason}, got {other:?}"),
    }
}

/// Sends one raw request through the in-process transport; returns status, headers and body.
pub async fn raw(
    fake: &FakeKube,
    method: Method,
    uri: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, http::HeaderMap, Value) {
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(ct) = content_type {
        builder = builder.header("content-type", ct);
    }
    let req = builder
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid request");
    let resp = fake.service_for("raw").call(req).await.expect("infallible");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("full body")
        .to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, v)
}

/// Opens a raw watch and collects its events until the stream ends, `max`
/// events arrived, or `wait` of (tokio) time passed without one.
pub async fn watch_events(
    fake: &FakeKube,
    uri: &str,
    max: usize,
    wait: Duration,
) -> (u16, Vec<Value>) {
    let req = Request::builder()
        .uri(uri)
        .body(Full::new(Bytes::new()))
        .expect("valid request");
    let resp = fake
        .service_for("raw-watch")
        .call(req)
        .await
        .expect("infallible");
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut events = Vec::new();
    while events.len() < max {
        match timeout(wait, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                let data = frame.into_data().unwrap_or_default();
                for line in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    events.push(serde_json::from_slice(line).expect("watch lines are JSON"));
                }
            }
            Ok(Some(Err(_)) | None) | Err(_) => break,
        }
    }
    (status, events)
}

/// `(type, name, resourceVersion)` of watch events, for compact assertions.
pub fn summarize(events: &[Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            let s = |p: &str| {
                e.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            (
                s("/type"),
                s("/object/metadata/name"),
                s("/object/metadata/resourceVersion"),
            )
        })
        .collect()
}

/// Reasons of the core/v1 events about one pod, oldest first.
pub fn event_reasons(fake: &FakeKube, pod: &str) -> Vec<String> {
    fake.list("events", Some(NS))
        .iter()
        .filter(|e| e.pointer("/involvedObject/name").and_then(Value::as_str) == Some(pod))
        .map(|e| e["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Request URIs (`path?query`) from the log, optionally only one client's.
pub fn uris(fake: &FakeKube, client: Option<&str>) -> Vec<String> {
    fake.requests()
        .iter()
        .filter(|r| client.is_none_or(|c| r.client == c))
        .map(|r| r.uri())
        .collect()
}
