//! Server life-cycle requests shared by the REST API and the pages: admission (committed, so
//! cluster-wide limits hold on every replica), waiting for the controller's outcome, stops.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use rafthub_raft::command::{Command, Outcome};
use rafthub_raft::state::model::Phase;
use serde_json::Value;

use crate::api::ApiError;
use crate::hub::Hub;

/// How a start request ended from the requester's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// Ready within `slow_spawn_timeout` (201).
    Ready,
    /// Still spawning (202).
    Pending,
}

/// Upstream's 429 message rounds the retry delay to 10 s (or to minutes above 90 s).
fn retry_message(secs: u64) -> String {
    if secs <= 90 {
        let s = secs.div_ceil(10) * 10;
        format!("Too many users trying to log in right now. Try again in {s} seconds.")
    } else {
        format!(
            "Too many users trying to log in right now. Try again in {} minutes.",
            secs.div_ceil(60)
        )
    }
}

/// Admits and requests a spawn, then waits up to `slow_spawn_timeout` for it to be ready.
pub async fn start(
    hub: &Hub,
    user: &str,
    server: &str,
    user_options: Option<Value>,
    display_name: Option<String>,
    slow_spawn_timeout: Duration,
) -> Result<Started, ApiError> {
    let cmd = Command::RequestSpawn {
        user: user.to_string(),
        server: server.to_string(),
        user_options,
        display_name,
        concurrent_spawn_limit: hub.cfg.concurrent_spawn_limit,
        active_server_limit: hub.cfg.active_server_limit,
        named_server_limit: (!server.is_empty()).then_some(hub.cfg.named_server_limit_per_user),
    };
    let generation = match hub.node.write(cmd).await? {
        Outcome::Created(g) => g.first().copied().unwrap_or(0),
        Outcome::AlreadyPending(_) => return Ok(Started::Pending),
        Outcome::TooMany { retry: true, .. } => {
            // Upstream: a random retry delay in spawn_throttle_retry_range (30, 60).
            let secs = 30 + rand::random::<u64>() % 31;
            return Err(
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, retry_message(secs))
                    .with_header(header::RETRY_AFTER, HeaderValue::from(secs)),
            );
        }
        Outcome::TooMany { retry: false, .. } => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Active user limit exceeded. Try again in a few minutes.",
            ))
        }
        Outcome::Conflict(m) | Outcome::Invalid(m) => return Err(ApiError::bad_request(m)),
        Outcome::NotFound(_) => return Err(ApiError::bare(StatusCode::NOT_FOUND)),
        Outcome::Ok => 0,
    };
    match wait(hub, user, server, generation, slow_spawn_timeout).await {
        Some(Phase::Ready) => {
            // The user is sent to the route next: make sure every replica has it.
            let index = hub.node.applied().borrow().index;
            hub.node
                .wait_applied_everywhere(index, Duration::from_secs(2))
                .await;
            Ok(Started::Ready)
        }
        Some(Phase::Stopped) => {
            let msg = failure(hub, user, server).unwrap_or_else(|| "Spawn failed".into());
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, msg))
        }
        _ => Ok(Started::Pending),
    }
}

/// The last spawn failure of a server, if any.
pub fn failure(hub: &Hub, user: &str, server: &str) -> Option<String> {
    let st = hub.node.state();
    st.user(user)?.servers.get(server)?.failure.clone()
}

/// Waits until attempt `generation` leaves `Spawning` (or `Stopping`), at most `timeout`.
/// Returns the phase it reached, or `None` on timeout.
pub async fn wait(
    hub: &Hub,
    user: &str,
    server: &str,
    generation: u64,
    timeout: Duration,
) -> Option<Phase> {
    let mut applied = hub.node.applied();
    let check = || {
        let st = hub.node.state();
        // A row that is gone (`remove: true` once stopped, or its user deleted) is stopped.
        let Some(s) = st.user(user).and_then(|u| u.servers.get(server)) else {
            return Some(Phase::Stopped);
        };
        if s.generation != generation {
            return Some(Phase::Stopped);
        }
        match s.phase {
            Phase::Spawning | Phase::Stopping => None,
            ref p => Some(p.clone()),
        }
    };
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(p) = check() {
            return Some(p);
        }
        match tokio::time::timeout_at(deadline, applied.changed()).await {
            Ok(Ok(())) => continue,
            _ => return check(),
        }
    }
}

/// Requests a stop and waits up to `slow_stop_timeout`. `Ok(true)`: stopped (204);
/// `Ok(false)`: still stopping (202).
pub async fn stop(
    hub: &Hub,
    user: &str,
    server: &str,
    remove: bool,
    slow_stop_timeout: Duration,
) -> Result<bool, ApiError> {
    let cmd = Command::RequestStop {
        user: user.to_string(),
        server: server.to_string(),
        remove,
    };
    match hub.node.write(cmd).await? {
        Outcome::Ok => Ok(true),
        Outcome::AlreadyPending(_) => Ok(false),
        Outcome::Created(g) => {
            let generation = g.first().copied().unwrap_or(0);
            Ok(wait(hub, user, server, generation, slow_stop_timeout)
                .await
                .is_some())
        }
        Outcome::NotFound(m) => Err(ApiError::not_found(m)),
        Outcome::Invalid(m) | Outcome::Conflict(m) => Err(ApiError::bad_request(m)),
        Outcome::TooMany { message, .. } => {
            Err(ApiError::new(StatusCode::TOO_MANY_REQUESTS, message))
        }
    }
}

/// Requests a stop of every active server (`POST /hub/api/shutdown` with `servers: true`).
pub async fn stop_all(hub: &Hub) {
    let targets: Vec<(String, String)> = {
        let st = hub.node.state();
        st.users()
            .flat_map(|u| {
                u.servers
                    .values()
                    .filter(|s| s.active())
                    .map(move |s| (u.name.clone(), s.name.clone()))
            })
            .collect()
    };
    for (user, server) in targets {
        if let Err(e) = stop(hub, &user, &server, false, Duration::ZERO).await {
            tracing::warn!(error = ?e, "could not request a server stop during shutdown");
        }
    }
}

/// Requests a stop of every active server of `user` (upstream's `_shutdown_servers`), waiting
/// up to the slow-stop timeout for each as the API's stop does.
pub async fn stop_user_servers(hub: &Hub, user: &str) {
    let names: Vec<String> = hub
        .node
        .state()
        .user(user)
        .map(|u| {
            u.servers
                .values()
                .filter(|s| s.active())
                .map(|s| s.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let timeout = Duration::from_secs(hub.spawner_cfg.slow_stop_timeout_s);
    let stops = names.iter().map(|s| stop(hub, user, s, false, timeout));
    for (name, r) in names.iter().zip(futures::future::join_all(stops).await) {
        if let Err(e) = r {
            tracing::warn!(user, server = %name, error = ?e, "stopping a server at logout failed");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn retry_messages_round_like_upstream() {
        assert_eq!(
            super::retry_message(31),
            "Too many users trying to log in right now. Try again in 40 seconds."
        );
        assert_eq!(
            super::retry_message(60),
            "Too many users trying to log in right now. Try again in 60 seconds."
        );
        assert_eq!(
            super::retry_message(120),
            "Too many users trying to log in right now. Try again in 2 minutes."
        );
    }
}
