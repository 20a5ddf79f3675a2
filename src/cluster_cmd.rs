//! `rafthub cluster status|add|remove`: talks to replicas over the cluster port.

use std::time::Duration;

use anyhow::{bail, Context};
use rafthub_raft::network::ClusterClient;
use rafthub_raft::node::{MemberChange, MembershipError, NodeStatus};
use rafthub_raft::NodeInfo;

use crate::cli::{AddArgs, ClusterArgs, ClusterCommand, RemoveArgs};
use crate::config::Config;

pub async fn run(cmd: ClusterCommand) -> anyhow::Result<()> {
    match cmd {
        ClusterCommand::Status(a) => status(a).await,
        ClusterCommand::Add(a) => add(a).await,
        ClusterCommand::Remove(a) => remove(a).await,
    }
}

fn client(cfg: &Config) -> anyhow::Result<ClusterClient> {
    let secret = cfg.secret()?.context(
        "the cluster secret is needed (--cluster-secret-file, RAFTHUB_CLUSTER_SECRET or --config)",
    )?;
    Ok(ClusterClient::new(&secret, None, cfg.cluster.tls.as_ref())?)
}

async fn status(a: ClusterArgs) -> anyhow::Result<()> {
    let cfg = a.resolve()?;
    let client = client(&cfg)?;
    let mut rows: Vec<(u64, String, Result<NodeStatus, String>)> = Vec::new();
    for (id, info) in cfg.peer_map() {
        let r = client
            .post::<_, NodeStatus>(
                &info.cluster_addr,
                "/cluster/info",
                &(),
                Duration::from_secs(2),
            )
            .await
            .map_err(|e| e.to_string());
        rows.push((id, info.cluster_addr, r));
    }
    if a.json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|(id, addr, r)| match r {
                Ok(s) => serde_json::to_value(s).unwrap_or_default(),
                Err(e) => serde_json::json!({"id": id, "cluster_addr": addr, "error": e}),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_table(&rows);
    }
    if rows.iter().all(|(_, _, r)| r.is_err()) {
        bail!("no replica answered");
    }
    Ok(())
}

fn print_table(rows: &[(u64, String, Result<NodeStatus, String>)]) {
    let opt = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_else(|| "-".into());
    println!(
        "{:<4} {:<22} {:<10} {:<7} {:>6} {:>9} {:>9} {:>9}  members",
        "id", "cluster addr", "state", "leader", "term", "last log", "commit", "applied"
    );
    for (id, addr, r) in rows {
        match r {
            Ok(s) => println!(
                "{:<4} {:<22} {:<10} {:<7} {:>6} {:>9} {:>9} {:>9}  voters {:?} learners {:?}",
                id,
                addr,
                s.state,
                opt(s.leader),
                s.term,
                opt(s.last_log_index),
                opt(s.committed),
                opt(s.applied),
                s.voters,
                s.learners
            ),
            Err(e) => println!("{id:<4} {addr:<22} unreachable: {e}"),
        }
    }
}

/// Sends a membership change to the first replica that answers; it forwards to the leader.
async fn change(cfg: &Config, change: MemberChange) -> anyhow::Result<()> {
    let client = client(cfg)?;
    let mut last = String::from("no replica configured");
    for info in cfg.peer_map().values() {
        match client
            .post::<_, Result<(), MembershipError>>(
                &info.cluster_addr,
                "/cluster/members",
                &change,
                Duration::from_secs(120),
            )
            .await
        {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => bail!("{e}"),
            Err(e) => last = e.to_string(),
        }
    }
    bail!("no replica answered: {last}")
}

async fn add(a: AddArgs) -> anyhow::Result<()> {
    let cfg = a.cluster.resolve()?;
    let (cluster_addr, api_addr) = match a.addr.split_once('/') {
        Some((c, api)) => (c.to_string(), api.to_string()),
        None => (a.addr.clone(), String::new()),
    };
    change(
        &cfg,
        MemberChange::Add {
            id: a.id,
            info: NodeInfo {
                cluster_addr,
                api_addr,
            },
        },
    )
    .await?;
    println!("node {} added as a voter", a.id);
    Ok(())
}

async fn remove(a: RemoveArgs) -> anyhow::Result<()> {
    let cfg = a.cluster.resolve()?;
    change(&cfg, MemberChange::Remove { id: a.id }).await?;
    println!(
        "node {} removed; stop it and delete its data directory",
        a.id
    );
    Ok(())
}
