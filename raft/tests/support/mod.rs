//! In-process cluster harness: N replicas in this test process, each with its own data dir
//! and cluster port on 127.0.0.1, sharing one fault table that can cut links.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rafthub_raft::command::{Command, NewUser, Outcome};
use rafthub_raft::network::{serve_http, Faults};
use rafthub_raft::node::{cluster_api, Node, NodeConfig};
use rafthub_raft::store;
use rafthub_raft::{NodeId, NodeInfo};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct TestNode {
    pub id: NodeId,
    pub addr: String,
    pub node: Option<Arc<Node>>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

pub struct TestCluster {
    pub nodes: Vec<TestNode>,
    pub faults: Arc<Faults>,
    pub peers: BTreeMap<NodeId, NodeInfo>,
    pub snapshot_every: u64,
    /// Mutual TLS on the cluster port, when set.
    pub tls: Option<rafthub_raft::network::TlsConfig>,
    /// Election timeout min and max, heartbeat, in ms.
    pub timing: (u64, u64, u64),
    pub tmp: tempfile::TempDir,
}

impl TestCluster {
    pub async fn start(n: usize) -> TestCluster {
        Self::start_with(n, 5000).await
    }

    pub async fn start_with(n: usize, snapshot_every: u64) -> TestCluster {
        Self::start_full(n, snapshot_every, None).await
    }

    pub async fn start_full(
        n: usize,
        snapshot_every: u64,
        tls: Option<rafthub_raft::network::TlsConfig>,
    ) -> TestCluster {
        Self::start_opts(n, snapshot_every, tls, (300, 600, 100)).await
    }

    /// With other Raft timing: election timeout min and max, heartbeat (ms).
    pub async fn start_timed(n: usize, timing: (u64, u64, u64)) -> TestCluster {
        Self::start_opts(n, 5000, None, timing).await
    }

    async fn start_opts(
        n: usize,
        snapshot_every: u64,
        tls: Option<rafthub_raft::network::TlsConfig>,
        timing: (u64, u64, u64),
    ) -> TestCluster {
        let mut listeners = Vec::new();
        let mut peers = BTreeMap::new();
        for i in 0..n {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = l.local_addr().expect("addr").to_string();
            peers.insert(
                i as u64 + 1,
                NodeInfo {
                    cluster_addr: addr.clone(),
                    api_addr: String::new(),
                },
            );
            listeners.push(l);
        }
        let mut c = TestCluster {
            nodes: Vec::new(),
            faults: Arc::new(Faults::default()),
            peers,
            snapshot_every,
            tls,
            timing,
            tmp: tempfile::tempdir().expect("tempdir"),
        };
        for (i, l) in listeners.into_iter().enumerate() {
            let id = i as u64 + 1;
            c.nodes.push(TestNode {
                id,
                addr: c.peers[&id].cluster_addr.clone(),
                node: None,
                stop: None,
                server: None,
            });
            c.run_node(i, l).await;
        }
        c
    }

    fn config(&self, id: NodeId) -> NodeConfig {
        NodeConfig {
            id,
            peers: self.peers.clone(),
            secret: "test-secret".into(),
            tls: self.tls.clone(),
            bind_ip: None,
            election_timeout_min: Duration::from_millis(self.timing.0),
            election_timeout_max: Duration::from_millis(self.timing.1),
            heartbeat: Duration::from_millis(self.timing.2),
            snapshot_every: self.snapshot_every,
            write_timeout: Duration::from_secs(5),
            auto_join: true,
            faults: Some(self.faults.clone()),
        }
    }

    async fn run_node(&mut self, i: usize, listener: TcpListener) {
        let id = self.nodes[i].id;
        let dir = self.tmp.path().join(format!("node-{id}"));
        // A killed node's sled lock is released once its last handle drops; retry briefly.
        let mut tries = 0;
        let st = loop {
            match store::open(&dir, id) {
                Ok(s) => break s,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("open store of node {id}: {e}"),
            }
        };
        let node = Node::start(self.config(id), st).await.expect("start node");
        let (tx, rx) = oneshot::channel::<()>();
        let router = cluster_api::router(node.clone());
        let server_tls = self
            .tls
            .as_ref()
            .map(|t| t.server_config().expect("server TLS"));
        let server = tokio::spawn(async move {
            let _ = serve_http(listener, router, server_tls, async move {
                let _ = rx.await;
            })
            .await;
        });
        let n = &mut self.nodes[i];
        n.node = Some(node);
        n.stop = Some(tx);
        n.server = Some(server);
    }

    /// Starts one more node that is not in the initial membership; with `auto_join` it asks the
    /// leader to add it. Returns its index.
    pub async fn add_node(&mut self) -> usize {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let id = self.nodes.len() as u64 + 1;
        self.peers.insert(
            id,
            NodeInfo {
                cluster_addr: addr.clone(),
                api_addr: String::new(),
            },
        );
        self.nodes.push(TestNode {
            id,
            addr,
            node: None,
            stop: None,
            server: None,
        });
        let i = self.nodes.len() - 1;
        self.run_node(i, l).await;
        i
    }

    /// Index of node `id` in `nodes`.
    pub fn idx(&self, id: NodeId) -> usize {
        (id - 1) as usize
    }

    pub fn node(&self, i: usize) -> &Arc<Node> {
        self.nodes[i].node.as_ref().expect("node is running")
    }

    /// Stops node `i` as abruptly as an in-process test can: openraft stops, the port closes.
    pub async fn kill(&mut self, i: usize) {
        if let Some(tx) = self.nodes[i].stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.nodes[i].server.take() {
            h.abort();
            let _ = h.await;
        }
        if let Some(n) = self.nodes[i].node.take() {
            n.shutdown().await;
        }
    }

    pub async fn restart(&mut self, i: usize) {
        let addr = self.nodes[i].addr.clone();
        let mut tries = 0;
        let l = loop {
            match TcpListener::bind(&addr).await {
                Ok(l) => break l,
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("rebind {addr}: {e}"),
            }
        };
        self.run_node(i, l).await;
    }

    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].node.is_some())
            .collect()
    }

    /// Waits until all of `among` agree on one leader that is among them.
    pub async fn wait_leader(&self, among: &[usize], timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let leaders: Vec<Option<NodeId>> = among
                .iter()
                .map(|i| self.node(*i).current_leader())
                .collect();
            if let Some(Some(l)) = leaders.first() {
                let li = self.idx(*l);
                if leaders.iter().all(|x| *x == Some(*l)) && among.contains(&li) {
                    return li;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no agreed leader among {among:?}: {leaders:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn partition(&self, groups: &[&[usize]]) {
        let g: Vec<Vec<String>> = groups
            .iter()
            .map(|grp| grp.iter().map(|i| self.nodes[*i].addr.clone()).collect())
            .collect();
        self.faults.partition(&g);
    }

    pub fn heal(&self) {
        self.faults.heal();
    }

    /// Waits until every running node has applied at least `index`.
    pub async fn wait_applied_all(&self, index: u64, timeout: Duration) {
        for i in self.running() {
            assert!(
                self.node(i).wait_applied(index, timeout).await,
                "node {} did not apply {index}",
                i + 1
            );
        }
    }

    pub fn max_applied(&self) -> u64 {
        self.running()
            .iter()
            .map(|i| self.node(*i).applied().borrow().index)
            .max()
            .unwrap_or(0)
    }

    pub async fn shutdown(mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i).await;
        }
    }
}

pub fn create_user(name: &str) -> Command {
    Command::CreateUsers {
        users: vec![NewUser {
            name: name.into(),
            admin: false,
            cookie_id: format!("cookie-{name}"),
        }],
        skip_existing_ok: false,
    }
}

#[track_caller]
pub fn assert_created(o: &Outcome) {
    assert!(
        matches!(o, Outcome::Created(ids) if ids.len() == 1),
        "expected one created id, got {o:?}"
    );
}
