//! One spawn or stop attempt, run by the leader's controller as a task. Every step either
//! proposes a command (naming the attempt's generation, so a stale attempt cannot overwrite a
//! newer one) or acts on the backend, and checks leadership first.

use std::sync::Arc;
use std::time::Duration;

use rafthub_raft::command::{Command, Outcome};
use rafthub_raft::state::model::{
    ClientKind, OAuthClient, Owner, ProgressEvent, Route, Token, TokenHash,
};
use serde_json::{json, Value};

use super::Controller;
use crate::spawner::env::{server_env, EnvInputs};
use crate::spawner::{SpawnError, SpawnSpec};
use crate::{secrets, timefmt};

/// `jupyterhub-user-<quoted user>[-<quoted server>]`, quoted like Python's `quote(safe='/')`.
pub fn client_id(user: &str, server: &str) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    const SAFE: &percent_encoding::AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'/');
    let q = |s: &str| utf8_percent_encode(s, SAFE).to_string();
    if server.is_empty() {
        format!("jupyterhub-user-{}", q(user))
    } else {
        format!("jupyterhub-user-{}-{}", q(user), q(server))
    }
}

fn event(progress: u8, message: &str) -> ProgressEvent {
    ProgressEvent {
        progress: Some(progress),
        message: message.to_string(),
        html_message: None,
        ts: timefmt::now(),
    }
}

/// Progress messages a spawner may queue before the attempt records them; more are dropped
/// (the spawner uses `try_send`), which only thins the progress bar.
const PROGRESS_BUFFER: usize = 64;

enum Step {
    Failed(String),
    /// Leadership lost or the attempt was superseded: stop quietly.
    Abandoned,
}

impl From<SpawnError> for Step {
    fn from(e: SpawnError) -> Step {
        Step::Failed(e.to_string())
    }
}

impl Controller {
    async fn propose(&self, cmd: Command) -> Result<Outcome, Step> {
        if !self.hub.node.is_leader() {
            return Err(Step::Abandoned);
        }
        match self.hub.node.write(cmd).await {
            Ok(Outcome::Conflict(_)) | Ok(Outcome::NotFound(_)) => Err(Step::Abandoned),
            Ok(o) => Ok(o),
            Err(_) => Err(Step::Abandoned),
        }
    }

    /// Runs spawn attempt `generation` of `user`/`server` to ready or failure.
    pub(super) async fn spawn_attempt(
        self: Arc<Self>,
        user: String,
        server: String,
        generation: u64,
    ) {
        let prefix = self.hub.server_prefix(&user, &server);
        match self.spawn_steps(&user, &server, generation, &prefix).await {
            Ok(()) | Err(Step::Abandoned) => {}
            Err(Step::Failed(message)) => {
                tracing::warn!(%user, %server, generation, %message, "spawn failed");
                let state = self.server_state(&user, &server);
                let _ = self
                    .spawner
                    .stop(&state, Duration::from_secs(self.cfg.stop_grace_s))
                    .await;
                let _ = self
                    .propose(Command::SpawnFailed {
                        user: user.clone(),
                        server: server.clone(),
                        generation,
                        message,
                    })
                    .await;
            }
        }
        self.done(&user, &server);
    }

    pub(super) fn server_state(&self, user: &str, server: &str) -> Value {
        let st = self.hub.node.state();
        st.user(user)
            .and_then(|u| u.servers.get(server))
            .map(|s| s.state.clone())
            .unwrap_or(Value::Null)
    }

    async fn spawn_steps(
        &self,
        user: &str,
        server: &str,
        generation: u64,
        prefix: &str,
    ) -> Result<(), Step> {
        let (uid, user_options, reserved, resumed) = {
            let st = self.hub.node.state();
            let u = st.user(user).ok_or(Step::Abandoned)?;
            let s = u.servers.get(server).ok_or(Step::Abandoned)?;
            let begun = s.generation == generation && !s.progress.is_empty();
            (u.id, s.user_options.clone(), s.state.clone(), begun)
        };
        // Only an attempt begun before (by an old leader, or by this one before a retry)
        // can already run; listing the backend is a scan of every process for the local
        // spawner, which made each spawn cost O(running servers).
        let adopt = resumed
            && self
                .spawner
                .list_keys()
                .await
                .into_iter()
                .any(|(u, s, g)| u == user && s == server && g == generation);
        let mut env = Default::default();
        let mut reserved = reserved;
        if !adopt {
            // A fresh token for every started process (the secret is only known here).
            let secret = secrets::new_token();
            let token = Token {
                id: 0,
                prefix: secrets::prefix(&secret).to_string(),
                hash: TokenHash::Sha256(secrets::sha256_hex(&secret)),
                owner: Owner::User(uid),
                scopes: vec![
                    format!("access:servers!server={user}/{server}"),
                    format!("users:activity!user={user}"),
                ],
                note: format!("Server at {prefix}"),
                created: timefmt::now(),
                last_activity: None,
                expires_at: None,
                session_id: None,
                client_id: "jupyterhub".into(),
            };
            let token_id = match self.propose(Command::CreateToken { token }).await? {
                Outcome::Created(ids) => ids.first().copied(),
                _ => None,
            };
            let cid = client_id(user, server);
            let mut allowed = self.hub.cfg.oauth_client_allowed_scopes.clone();
            allowed.push(format!("access:servers!server={user}/{server}"));
            allowed.sort();
            allowed.dedup();
            self.propose(Command::PutOAuthClient {
                client: OAuthClient {
                    id: cid.clone(),
                    kind: ClientKind::Server {
                        user: user.to_string(),
                        server: server.to_string(),
                    },
                    description: format!("Server at {prefix}"),
                    secret_hash: Some(secrets::sha256_hex(&secret)),
                    redirect_uri: format!("{prefix}oauth_callback"),
                    allowed_scopes: allowed,
                },
            })
            .await?;
            reserved = self.spawner.reserve(user, server, generation);
            self.propose(Command::SpawnProgress {
                user: user.to_string(),
                server: server.to_string(),
                generation,
                event: event(10, "Spawning server..."),
                target: None,
                state: Some(reserved.clone()),
                token_id,
            })
            .await?;
            let hub_api_url = self.hub_api_url.clone();
            let public_host = self.hub.cfg.public_url.clone().unwrap_or_default();
            let inputs = EnvInputs {
                user,
                server,
                api_token: &secret,
                client_id: &cid,
                hub_api_url: &hub_api_url,
                base_url: &self.hub.cfg.base_url,
                prefix,
                public_host: &public_host,
                public_url: "",
                public_hub_url: "",
                oauth_client_allowed_scopes: &self.hub.cfg.oauth_client_allowed_scopes,
            };
            env = server_env(&inputs, &self.cfg, |k| std::env::var(k).ok());
        }
        if !self.hub.node.is_leader() {
            return Err(Step::Abandoned);
        }
        let (progress_tx, progress_rx) = tokio::sync::mpsc::channel(PROGRESS_BUFFER);
        let spec = SpawnSpec {
            user: user.to_string(),
            server: server.to_string(),
            generation,
            prefix: prefix.to_string(),
            env,
            user_options,
            reserved,
            resumed,
            progress: Some(progress_tx),
        };
        let start_timeout = Duration::from_secs(self.cfg.start_timeout_s);
        let mut last = 10;
        let started = match tokio::time::timeout(
            start_timeout,
            self.start_reporting(spec, progress_rx, &mut last),
        )
        .await
        {
            Err(_) => {
                return Err(Step::Failed(format!(
                    "Spawner failed to start within {} seconds",
                    self.cfg.start_timeout_s
                )))
            }
            Ok(r) => r?,
        };
        self.propose(Command::SpawnProgress {
            user: user.to_string(),
            server: server.to_string(),
            generation,
            event: event(last.max(50), "Server started, waiting for it to respond"),
            target: Some(started.target.clone()),
            state: Some(started.state.clone()),
            token_id: None,
        })
        .await?;
        self.wait_http(&started.target, prefix, &started.state)
            .await?;
        let route = Route {
            routespec: prefix.to_string(),
            target: started.target.clone(),
            data: json!({"user": user, "server_name": server, "jupyterhub": true}).into(),
        };
        self.propose(Command::ServerReady {
            user: user.to_string(),
            server: server.to_string(),
            generation,
            target: started.target,
            route,
        })
        .await?;
        // Users are redirected to the route right after: make sure every replica has it.
        let index = self.hub.node.applied().borrow().index;
        self.hub
            .node
            .wait_applied_everywhere(index, Duration::from_secs(2))
            .await;
        Ok(())
    }

    /// Runs the spawner's `start` while recording the progress it reports (one
    /// `SpawnProgress` per message, so every replica's progress stream shows it); `last` is
    /// the highest progress recorded, so later events never move the bar back.
    async fn start_reporting(
        &self,
        spec: SpawnSpec,
        mut rx: tokio::sync::mpsc::Receiver<crate::spawner::Progress>,
        last: &mut u8,
    ) -> Result<crate::spawner::Started, Step> {
        let (user, server, generation) = (spec.user.clone(), spec.server.clone(), spec.generation);
        let start = self.spawner.start(spec);
        tokio::pin!(start);
        let mut open = true;
        let result = loop {
            tokio::select! {
                r = &mut start => break r,
                p = rx.recv(), if open => match p {
                    Some(p) => self.record_progress(&user, &server, generation, p, last).await?,
                    None => open = false,
                },
            }
        };
        // Messages sent just before `start` returned.
        while let Ok(p) = rx.try_recv() {
            self.record_progress(&user, &server, generation, p, last)
                .await?;
        }
        Ok(result?)
    }

    async fn record_progress(
        &self,
        user: &str,
        server: &str,
        generation: u64,
        p: crate::spawner::Progress,
        last: &mut u8,
    ) -> Result<(), Step> {
        let pct = p.progress.unwrap_or(*last).clamp(*last, 99);
        *last = pct;
        self.propose(Command::SpawnProgress {
            user: user.to_string(),
            server: server.to_string(),
            generation,
            event: event(pct, &p.message),
            target: None,
            state: None,
            token_id: None,
        })
        .await?;
        Ok(())
    }

    /// Upstream's `_wait_up`: GET `<target><prefix>api` without following redirects until any
    /// status below 500, within `http_timeout`. Probes back off from 50 ms to 0.5 s: a probe
    /// of a port nobody listens on yet costs one refused connection, while doubling up to 5 s
    /// left a server that was up after 1.9 s unnoticed until 3 s.
    async fn wait_http(&self, target: &str, prefix: &str, state: &Value) -> Result<(), Step> {
        let url = format!("{target}{prefix}api");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(self.cfg.http_timeout_s);
        let mut delay = Duration::from_millis(50);
        loop {
            if let Ok(r) = self.http.get(&url).send().await {
                if r.status().as_u16() < 500 {
                    return Ok(());
                }
            }
            if let crate::spawner::Poll::Exited(code) = self.spawner.poll(state).await {
                let status = code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "unknown".into());
                return Err(Step::Failed(format!(
                    "Server exited before becoming ready [status={status}]"
                )));
            }
            if tokio::time::Instant::now() + delay > deadline {
                return Err(Step::Failed(format!(
                    "Server at {url} didn't respond in {} seconds",
                    self.cfg.http_timeout_s
                )));
            }
            if !self.hub.node.is_leader() {
                return Err(Step::Abandoned);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 3 / 2).min(Duration::from_millis(500));
        }
    }

    /// Stops every backend object of the slot, then records the stop of `generation`.
    pub(super) async fn stop_attempt(
        self: Arc<Self>,
        user: String,
        server: String,
        generation: u64,
    ) {
        let grace = Duration::from_secs(self.cfg.stop_grace_s);
        let mut states = vec![self.server_state(&user, &server)];
        states.extend(
            self.spawner
                .list()
                .await
                .into_iter()
                .filter(|f| f.user == user && f.server == server)
                .map(|f| f.state),
        );
        let mut ok = true;
        for st in &states {
            if let Err(e) = self.spawner.stop(st, grace).await {
                tracing::warn!(%user, %server, error = %e, "stop failed; will retry");
                ok = false;
            }
        }
        if ok && self.hub.node.is_leader() {
            let _ = self
                .propose(Command::ServerStopped {
                    user: user.clone(),
                    server: server.clone(),
                    generation,
                })
                .await;
            let _ = self
                .propose(Command::DeleteOAuthClient {
                    id: client_id(&user, &server),
                })
                .await;
        }
        self.done(&user, &server);
    }
}
