//! The spawn progress stream (contract §1.6): `GET /users/{name}/server/progress` and its
//! named-server twin, as Server-Sent Events. A pending spawn is followed as its progress
//! events are applied; a ready or failed server answers with its one final event.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use rafthub_raft::state::model::Phase;
use rafthub_rbac::{Builtin, Resource};
use serde_json::{json, Value};

use super::auth::require;
use super::servers::log_name;
use super::ApiError;
use crate::hub::Hub;

fn event(v: Value) -> Result<Event, Infallible> {
    Ok(Event::default().data(v.to_string()))
}

/// `GET .../progress`: Server-Sent Events for a pending spawn.
pub async fn progress(
    hub: Hub,
    user: String,
    server: String,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.user(&user).is_some()).await?;
    let (generation, phase, failure) = {
        let st = hub.node.state();
        require(
            caller.as_ref(),
            &st,
            &[Builtin::ReadServers],
            Resource::Server {
                user: &user,
                server: &server,
            },
        )?;
        let s = st
            .user(&user)
            .and_then(|u| u.servers.get(&server))
            .ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
        (s.generation, s.phase.clone(), s.failure.clone())
    };
    let url = hub.server_prefix(&user, &server);
    let ready = json!({
        "progress": 100, "ready": true, "message": format!("Server ready at {url}"),
        "html_message": format!("Server ready at <a href=\"{url}\">{url}</a>"), "url": url,
    });
    let failed = |m: Option<String>| json!({"progress": 100, "failed": true, "message": format!("Spawn failed: {}", m.unwrap_or_default())});
    let stream: std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>> =
        match phase {
            Phase::Ready => Box::pin(futures::stream::iter([event(ready)])),
            Phase::Spawning => Box::pin(follow(hub.clone(), user, server, generation, ready)),
            _ => match failure {
                Some(m) => Box::pin(futures::stream::iter([event(failed(Some(m)))])),
                None => {
                    return Err(ApiError::bad_request(format!(
                        "{} is not starting...",
                        log_name(&user, &server)
                    )))
                }
            },
        };
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(8)).text(""))
        .into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    Ok(res)
}

/// Streams the progress events of attempt `generation` as they are applied, then the final
/// ready or failed event.
fn follow(
    hub: Hub,
    user: String,
    server: String,
    generation: u64,
    ready: Value,
) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream(move |tx| async move {
        let _ = tx
            .send(event(json!({"progress": 0, "message": "Server requested"})))
            .await;
        let mut sent = 0usize;
        let mut applied = hub.node.applied();
        loop {
            let (events, phase, gen, failure) = {
                let st = hub.node.state();
                let Some(s) = st.user(&user).and_then(|u| u.servers.get(&server)) else {
                    break;
                };
                (
                    s.progress.clone(),
                    s.phase.clone(),
                    s.generation,
                    s.failure.clone(),
                )
            };
            if gen != generation {
                let _ = tx
                    .send(event(
                        json!({"progress": 100, "failed": true, "message": "Spawn cancelled"}),
                    ))
                    .await;
                return;
            }
            for e in events.iter().skip(sent) {
                if e.message.starts_with("Spawn failed") {
                    continue;
                }
                let mut v = json!({"message": e.message});
                if let Some(p) = e.progress {
                    v["progress"] = json!(p);
                }
                if let Some(h) = &e.html_message {
                    v["html_message"] = json!(h);
                }
                if tx.send(event(v)).await.is_err() {
                    return;
                }
            }
            sent = events.len();
            match phase {
                Phase::Ready => {
                    let _ = tx.send(event(ready)).await;
                    return;
                }
                Phase::Spawning => {}
                _ => {
                    let msg = format!(
                        "Spawn failed: {}",
                        failure.unwrap_or_else(|| "server stopped".into())
                    );
                    let _ = tx
                        .send(event(
                            json!({"progress": 100, "failed": true, "message": msg}),
                        ))
                        .await;
                    return;
                }
            }
            if applied.changed().await.is_err() {
                return;
            }
        }
    })
}

/// A stream fed by a producer task through a channel (no macro crate needed).
fn async_stream<F, Fut>(f: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Event, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(f(tx));
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
