//! Cluster state as the replicas report it, through `rafthub cluster status --json` (the
//! CLI talks to every replica's cluster port from 127.0.0.1, which no partition touches),
//! and membership changes through `rafthub cluster add|remove`.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;
use tokio::process::Command;

/// One replica's answer (or its error).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct NodeStatus {
    pub id: u64,
    pub state: String,
    pub leader: Option<u64>,
    pub term: u64,
    pub committed: Option<u64>,
    pub applied: Option<u64>,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    pub error: Option<String>,
}

impl NodeStatus {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
}

async fn rafthub(
    bin: &Path,
    args: &[&str],
    config: &Path,
    timeout: Duration,
) -> anyhow::Result<String> {
    let fut = Command::new(bin)
        .args(args)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(timeout, fut)
        .await
        .with_context(|| format!("rafthub {} timed out", args.join(" ")))??;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        anyhow::bail!(
            "rafthub {} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim(),
            stdout.trim()
        );
    }
    Ok(stdout)
}

/// Every configured replica's status. A replica that does not answer has `error` set.
pub async fn status(bin: &Path, config: &Path, nodes: usize) -> anyhow::Result<Vec<NodeStatus>> {
    // The CLI waits up to 2 s per silent replica (paused ones never answer).
    let timeout = Duration::from_secs(5 + 3 * nodes as u64);
    let out = rafthub(bin, &["cluster", "status", "--json"], config, timeout).await?;
    parse(&out)
}

pub fn parse(json: &str) -> anyhow::Result<Vec<NodeStatus>> {
    serde_json::from_str(json).with_context(|| format!("unexpected cluster status output: {json}"))
}

/// The leader with the highest term among replicas that say they lead.
pub fn leader(statuses: &[NodeStatus]) -> Option<u64> {
    statuses
        .iter()
        .filter(|s| s.ok() && s.state == "Leader")
        .max_by_key(|s| s.term)
        .map(|s| s.id)
}

/// Why the cluster has not converged yet, or `None` when it has: every replica answers,
/// all agree on one leader and term, the voters are exactly `expected`, there are no
/// learners, and applied indexes are within `lag` of each other and of the commit index.
pub fn not_converged(
    statuses: &[NodeStatus],
    expected: &BTreeSet<u64>,
    lag: u64,
) -> Option<String> {
    if let Some(s) = statuses.iter().find(|s| !s.ok()) {
        return Some(format!(
            "node {} does not answer: {}",
            s.id,
            s.error.as_deref().unwrap_or("")
        ));
    }
    let leaders: BTreeSet<_> = statuses.iter().map(|s| (s.leader, s.term)).collect();
    if leaders.len() != 1 || leaders.iter().any(|(l, _)| l.is_none()) {
        return Some(format!("no single leader: {leaders:?}"));
    }
    for s in statuses {
        let voters: BTreeSet<u64> = s.voters.iter().copied().collect();
        if &voters != expected || !s.learners.is_empty() {
            return Some(format!(
                "node {} sees voters {:?} learners {:?}",
                s.id, s.voters, s.learners
            ));
        }
    }
    let applied: Vec<u64> = statuses.iter().map(|s| s.applied.unwrap_or(0)).collect();
    let committed = statuses
        .iter()
        .filter_map(|s| s.committed)
        .max()
        .unwrap_or(0);
    let (lo, hi) = (
        applied.iter().min().copied().unwrap_or(0),
        applied.iter().max().copied().unwrap_or(0),
    );
    if hi - lo > lag || committed.saturating_sub(lo) > lag {
        return Some(format!(
            "applied indexes {applied:?}, committed {committed}"
        ));
    }
    None
}

/// `rafthub cluster remove --id N`, through any replica (it forwards to the leader).
pub async fn remove(bin: &Path, config: &Path, id: u64) -> anyhow::Result<()> {
    let id = id.to_string();
    rafthub(
        bin,
        &["cluster", "remove", "--id", &id],
        config,
        Duration::from_secs(60),
    )
    .await?;
    Ok(())
}

/// `rafthub cluster add --id N --addr CLUSTER/API`.
pub async fn add(
    bin: &Path,
    config: &Path,
    id: u64,
    cluster: &str,
    api: &str,
) -> anyhow::Result<()> {
    let (id, addr) = (id.to_string(), format!("{cluster}/{api}"));
    rafthub(
        bin,
        &["cluster", "add", "--id", &id, "--addr", &addr],
        config,
        Duration::from_secs(60),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"[
      {"id": 1, "cluster_addr": "127.0.0.11:8082", "api_addr": "127.0.0.11:8081", "state": "Leader",
       "initialized": true, "leader": 1, "term": 3, "last_log_index": 10, "committed": 10,
       "applied": 10, "snapshot": null, "voters": [1, 2, 3], "learners": [], "cluster_id": "x",
       "leaderless_ms": null},
      {"id": 2, "state": "Follower", "leader": 1, "term": 3, "committed": 10, "applied": 9,
       "voters": [1, 2, 3], "learners": []},
      {"id": 3, "cluster_addr": "127.0.0.13:8082", "error": "connection refused"}
    ]"#;

    #[test]
    fn parses_status_and_finds_the_leader() {
        let s = parse(SAMPLE).expect("parse");
        assert_eq!(leader(&s), Some(1));
        let all: BTreeSet<u64> = [1, 2, 3].into();
        assert!(not_converged(&s, &all, 2)
            .expect("node 3 down")
            .contains("node 3"));
        let two = &s[..2];
        let expected: BTreeSet<u64> = [1, 2, 3].into();
        assert_eq!(not_converged(two, &expected, 2), None);
        assert!(not_converged(two, &expected, 0).is_some());
        assert!(not_converged(two, &[1, 2].into(), 2).is_some());
    }
}
