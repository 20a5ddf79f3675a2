//! Cluster control: N real `rafthub` processes on 127.0.0.11.. with their own data dirs and
//! logs, started, killed, paused and restarted by the nemesis, and waited on until they
//! converge. Every time a replica stops serving (kill, pause, removal) a down window is
//! recorded, from the fault until it answers `/hub/health` again.

pub mod config;
pub mod process;
pub mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio::time::{sleep, Instant};

use crate::history::Recorder;
use config::{NodeAddr, Timing};
use process::NodeProc;
pub use status::NodeStatus;

pub struct Cluster {
    pub bin: PathBuf,
    pub nodes: Vec<NodeProc>,
    /// Admin API token (a `[[hub.services]]` entry with `admin = true`).
    pub token: String,
    http: reqwest::Client,
    recorder: Recorder,
    down_since: BTreeMap<u64, u64>,
    /// Nodes a membership nemesis removed and has not added back yet.
    pub removed: BTreeSet<u64>,
}

impl Cluster {
    /// Writes configs for `n` replicas under `dir`; starts nothing yet.
    pub fn create(
        bin: &Path,
        dir: &Path,
        n: u64,
        timing: Timing,
        service_url: Option<&str>,
        recorder: Recorder,
    ) -> anyhow::Result<Cluster> {
        anyhow::ensure!((1..=5).contains(&n), "1 to 5 nodes (127.0.0.11-15)");
        let bin = bin
            .canonicalize()
            .with_context(|| format!("rafthub binary {}", bin.display()))?;
        let (token, files) = config::write_all(dir, n, timing, service_url)?;
        let nodes = files
            .into_iter()
            .enumerate()
            .map(|(i, f)| NodeProc::new(NodeAddr::new(i as u64 + 1), f))
            .collect();
        Ok(Cluster {
            bin,
            nodes,
            token,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(2))
                .build()?,
            recorder,
            down_since: BTreeMap::new(),
            removed: BTreeSet::new(),
        })
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(NodeProc::id).collect()
    }

    pub fn addrs(&self) -> Vec<NodeAddr> {
        self.nodes.iter().map(|n| n.addr.clone()).collect()
    }

    pub fn node(&mut self, id: u64) -> &mut NodeProc {
        let i = self
            .nodes
            .iter()
            .position(|n| n.id() == id)
            .expect("known node id");
        &mut self.nodes[i]
    }

    fn config_of(&self, id: u64) -> PathBuf {
        self.nodes
            .iter()
            .find(|n| n.id() == id)
            .map(|n| n.files.config.clone())
            .expect("known node id")
    }

    /// Starts every replica and waits until all answer `/hub/readyz` (a leader is known
    /// and the node is caught up).
    pub async fn start_all(&mut self, timeout: Duration) -> anyhow::Result<()> {
        for n in &mut self.nodes {
            n.start(&self.bin, "initial")?;
        }
        let deadline = Instant::now() + timeout;
        for a in self.addrs() {
            loop {
                if self.get_ok(&a, "/hub/readyz").await {
                    break;
                }
                if !self.node(a.id).is_running() {
                    anyhow::bail!(
                        "node {} exited at start-up; see {}",
                        a.id,
                        self.node(a.id).log_path().display()
                    );
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "node {} not ready after {timeout:?}",
                    a.id
                );
                sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }

    async fn get_ok(&self, a: &NodeAddr, path: &str) -> bool {
        let url = format!("http://{}{path}", a.api());
        matches!(self.http.get(url).send().await, Ok(r) if r.status().is_success())
    }

    /// Waits until the replica's process serves HTTP again (not necessarily caught up).
    async fn wait_healthy(&mut self, id: u64, timeout: Duration) -> bool {
        let a = NodeAddr::new(id);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.get_ok(&a, "/hub/health").await {
                return true;
            }
            if !self.node(id).is_running() {
                return false;
            }
            sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Waits until `/hub/readyz` answers 200 (leader known, caught up with its commit).
    async fn wait_ready(&mut self, id: u64, timeout: Duration) -> bool {
        let a = NodeAddr::new(id);
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.get_ok(&a, "/hub/readyz").await {
                return true;
            }
            if !self.node(id).is_running() {
                return false;
            }
            sleep(Duration::from_millis(50)).await;
        }
        false
    }

    fn mark_down(&mut self, id: u64) {
        let now = self.recorder.now();
        self.down_since.entry(id).or_insert(now);
    }

    fn mark_up(&mut self, id: u64) {
        if let Some(start) = self.down_since.remove(&id) {
            self.recorder.down(id, start, self.recorder.now());
        }
    }

    pub async fn kill(&mut self, id: u64) {
        self.mark_down(id);
        self.node(id).kill().await;
    }

    pub fn pause(&mut self, id: u64) -> anyhow::Result<()> {
        self.mark_down(id);
        self.node(id).pause()
    }

    pub fn resume(&mut self, id: u64) -> anyhow::Result<()> {
        self.node(id).resume()?;
        self.mark_up(id);
        Ok(())
    }

    /// Starts a stopped replica and waits until it serves HTTP.
    pub async fn restart(&mut self, id: u64, note: &str) -> anyhow::Result<()> {
        let bin = self.bin.clone();
        if !self.node(id).is_running() {
            self.node(id).start(&bin, note)?;
        }
        let ok = self.wait_healthy(id, Duration::from_secs(30)).await;
        if ok {
            // Down until ready, as a load balancer sees it: a replica that serves HTTP but has
            // not caught up (an empty one rejoining) is not in rotation yet. Not failing here:
            // a replica that needs an explicit `cluster add` gets it after this returns.
            self.wait_ready(id, Duration::from_secs(30)).await;
        }
        self.mark_up(id);
        anyhow::ensure!(
            ok,
            "node {id} did not come back; see {}",
            self.node(id).log_path().display()
        );
        Ok(())
    }

    /// Statuses of all replicas, asked through a running replica's config.
    pub async fn status(&self) -> anyhow::Result<Vec<NodeStatus>> {
        let cfg = self.nodes[0].files.config.clone();
        status::status(&self.bin, &cfg, self.nodes.len()).await
    }

    pub async fn leader(&self) -> Option<u64> {
        self.status().await.ok().and_then(|s| status::leader(&s))
    }

    /// Removes `id` from the membership through another replica.
    pub async fn remove_member(&mut self, id: u64) -> anyhow::Result<()> {
        let via = self
            .ids()
            .into_iter()
            .find(|&n| n != id)
            .context("no other node")?;
        status::remove(&self.bin, &self.config_of(via), id).await?;
        self.removed.insert(id);
        Ok(())
    }

    /// Adds `id` back (a replica started with a peer list that includes itself auto-joins;
    /// this is the explicit fallback).
    pub async fn add_member(&mut self, id: u64) -> anyhow::Result<()> {
        let via = self
            .ids()
            .into_iter()
            .find(|&n| n != id)
            .context("no other node")?;
        let a = NodeAddr::new(id);
        status::add(&self.bin, &self.config_of(via), id, &a.cluster(), &a.api()).await?;
        self.removed.remove(&id);
        Ok(())
    }

    /// Waits until `id` is a voter according to the leader.
    pub async fn wait_voter(&mut self, id: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(st) = self.status().await {
                let leader = status::leader(&st);
                if let Some(l) = st.iter().find(|s| Some(s.id) == leader) {
                    if l.voters.contains(&id) && !l.learners.contains(&id) {
                        self.removed.remove(&id);
                        return true;
                    }
                }
            }
            sleep(Duration::from_millis(500)).await;
        }
        false
    }

    /// Continues paused replicas and restarts dead ones.
    pub async fn revive_all(&mut self) -> anyhow::Result<()> {
        for id in self.ids() {
            if self.node(id).is_paused() {
                self.resume(id)?;
            }
            if !self.node(id).is_running() {
                self.restart(id, "heal").await?;
            }
        }
        Ok(())
    }

    /// Waits until every replica answers, agrees on one leader and the full membership, and
    /// has applied what was committed. Returns the last reason when it times out.
    pub async fn wait_converged(&mut self, timeout: Duration) -> anyhow::Result<Vec<NodeStatus>> {
        let expected: BTreeSet<u64> = self.ids().into_iter().collect();
        let deadline = Instant::now() + timeout;
        let mut why = String::from("not checked");
        while Instant::now() < deadline {
            match self.status().await {
                Ok(st) => match status::not_converged(&st, &expected, 5) {
                    None => {
                        let mut ready = true;
                        for a in self.addrs() {
                            ready &= self.get_ok(&a, "/hub/readyz").await;
                        }
                        if ready {
                            return Ok(st);
                        }
                        why = "a replica is not ready".into();
                    }
                    Some(w) => why = w,
                },
                Err(e) => why = e.to_string(),
            }
            sleep(Duration::from_millis(500)).await;
        }
        anyhow::bail!("cluster did not converge within {timeout:?}: {why}")
    }

    /// Stops every replica (SIGTERM, then SIGKILL).
    pub async fn stop_all(&mut self) {
        for n in &mut self.nodes {
            n.stop(Duration::from_secs(10)).await;
        }
    }
}
