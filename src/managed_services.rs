//! Hub-managed services (`[[hub.services]]` with a `command`, e.g. jupyterhub-idle-culler):
//! run by the leader only, restarted if they exit, stopped the moment leadership is lost, so
//! exactly one culler acts on the cluster at a time.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use rafthub_raft::command::Command;
use rafthub_raft::state::model::{Owner, Token, TokenHash};

use crate::hub::Hub;
use crate::hub_config::ServiceConfig;
use crate::{secrets, timefmt};

/// Note on tokens this module mints for services without a configured token.
const MANAGED_NOTE: &str = "managed service token";

/// The environment upstream gives a managed service (contract §3.1, services).
pub fn service_env(
    hub: &Hub,
    svc: &ServiceConfig,
    token: &str,
    hub_api_url: &str,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for key in [
        "PATH",
        "PYTHONPATH",
        "LANG",
        "LC_ALL",
        "VIRTUAL_ENV",
        "HOME",
    ] {
        if let Ok(v) = std::env::var(key) {
            env.insert(key.to_string(), v);
        }
    }
    env.insert("JUPYTERHUB_SERVICE_NAME".into(), svc.name.clone());
    env.insert("JUPYTERHUB_API_TOKEN".into(), token.to_string());
    env.insert("JPY_API_TOKEN".into(), token.to_string());
    env.insert("JUPYTERHUB_API_URL".into(), hub_api_url.to_string());
    env.insert("JUPYTERHUB_BASE_URL".into(), hub.cfg.base_url.clone());
    env.insert(
        "JUPYTERHUB_CLIENT_ID".into(),
        format!("service-{}", svc.name),
    );
    env.insert(
        "JUPYTERHUB_HOST".into(),
        hub.cfg.public_url.clone().unwrap_or_default(),
    );
    if let Some(url) = &svc.url {
        let prefix = format!(
            "{}services/{}/",
            hub.cfg.base_url,
            crate::api::names::quote_name(&svc.name)
        );
        env.insert("JUPYTERHUB_SERVICE_URL".into(), url.clone());
        env.insert("JUPYTERHUB_SERVICE_PREFIX".into(), prefix.clone());
        env.insert(
            "JUPYTERHUB_OAUTH_CALLBACK_URL".into(),
            format!("{prefix}oauth_callback"),
        );
    }
    for (k, v) in &svc.environment {
        env.insert(k.clone(), v.clone());
    }
    env
}

/// The service's token: from the config, or minted now (replacing earlier minted ones).
async fn token_for(hub: &Hub, svc: &ServiceConfig) -> Option<String> {
    if let Ok(Some(t)) = svc.token() {
        return Some(t);
    }
    let owner = Owner::Service(svc.name.clone());
    let old: Vec<u64> = {
        let st = hub.node.state();
        st.tokens_of(&owner)
            .iter()
            .filter(|t| t.note == MANAGED_NOTE)
            .map(|t| t.id)
            .collect()
    };
    for id in old {
        let _ = hub.node.write(Command::DeleteToken { id }).await;
    }
    let secret = secrets::new_token();
    let token = Token {
        id: 0,
        prefix: secrets::prefix(&secret).to_string(),
        hash: TokenHash::Sha256(secrets::sha256_hex(&secret)),
        owner,
        scopes: vec!["inherit".into()],
        note: MANAGED_NOTE.into(),
        created: timefmt::now(),
        last_activity: None,
        expires_at: None,
        session_id: None,
        client_id: "jupyterhub".into(),
    };
    hub.node.write(Command::CreateToken { token }).await.ok()?;
    Some(secret)
}

/// Runs one managed service while this replica leads.
async fn supervise(hub: Hub, svc: ServiceConfig, hub_api_url: String) {
    let mut backoff = Duration::from_secs(1);
    loop {
        if *hub.shutdown.borrow() {
            return;
        }
        if !hub.node.is_leader() || hub.node.state().service(&svc.name).is_none() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let Some(token) = token_for(&hub, &svc).await else {
            tokio::time::sleep(backoff).await;
            continue;
        };
        if svc.url.is_some() {
            // A minted token is the OAuth client's secret too (configured ones are handled
            // with the other leader duties).
            let client = crate::leader::service_oauth_client(&hub.cfg, &svc.name, &token);
            let differs = crate::leader::client_differs(&hub.node.state(), &client);
            if differs
                && hub
                    .node
                    .write(Command::PutOAuthClient { client })
                    .await
                    .is_err()
            {
                tokio::time::sleep(backoff).await;
                continue;
            }
        }
        let env = service_env(&hub, &svc, &token, &hub_api_url);
        let mut cmd = tokio::process::Command::new(&svc.command[0]);
        cmd.args(&svc.command[1..])
            .env_clear()
            .envs(&env)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        // A replica killed with SIGKILL cannot drop the child; without this its service would
        // keep running next to the one the new leader starts (two cullers).
        // SAFETY: the closure runs between fork and exec; prctl is async-signal-safe and
        // touches no memory of the parent. The crate's only unsafe block.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(service = %svc.name, error = %e, "cannot start managed service");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
                continue;
            }
        };
        tracing::info!(service = %svc.name, "managed service started");
        // Role changes only; the full metrics change after every batch of writes.
        let mut metrics = hub.node.raft().server_metrics();
        let started = tokio::time::Instant::now();
        loop {
            tokio::select! {
                status = child.wait() => {
                    tracing::warn!(service = %svc.name, ?status, "managed service exited; restarting");
                    break;
                }
                _ = metrics.changed() => {
                    if !hub.node.is_leader() || *hub.shutdown.borrow() {
                        tracing::info!(service = %svc.name, "no longer leader: stopping managed service");
                        let _ = child.kill().await;
                        break;
                    }
                }
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if !hub.node.is_leader() || *hub.shutdown.borrow() {
                        let _ = child.kill().await;
                        break;
                    }
                }
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}

/// Starts a supervisor per managed service.
pub fn start(hub: &Hub, hub_api_url: &str) -> Vec<tokio::task::JoinHandle<()>> {
    hub.cfg
        .services
        .iter()
        .filter(|s| !s.command.is_empty())
        .map(|s| tokio::spawn(supervise(hub.clone(), s.clone(), hub_api_url.to_string())))
        .collect()
}
