//! In-process hub clusters for API tests: N full replicas (API, proxy, cluster port) in this
//! test process on 127.0.0.1 ports chosen by the OS.

#![allow(dead_code)]

pub mod browser;

use std::time::Duration;

use rafthub::config::{Config, Peer};
use rafthub::hub_config::ServiceConfig;
use rafthub::server::{self, Listeners};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";

pub struct HubNode {
    pub cfg: Config,
    stop: Option<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub struct Hubs {
    pub nodes: Vec<HubNode>,
    pub http: reqwest::Client,
    pub tmp: tempfile::TempDir,
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind")
}

impl Hubs {
    pub async fn start(n: u64) -> Hubs {
        Self::start_with(n, |_| {}).await
    }

    /// Starts `n` replicas; `tweak` adjusts each replica's config before start.
    pub async fn start_with(n: u64, tweak: impl Fn(&mut Config)) -> Hubs {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut listeners = Vec::new();
        for _ in 0..n {
            listeners.push((bind().await, bind().await, bind().await));
        }
        let peers: Vec<Peer> = listeners
            .iter()
            .enumerate()
            .map(|(i, (_, api, cluster))| Peer {
                id: i as u64 + 1,
                cluster: cluster.local_addr().unwrap().to_string(),
                api: api.local_addr().unwrap().to_string(),
            })
            .collect();
        let mut hubs = Hubs {
            nodes: Vec::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            tmp,
        };
        for (i, (public, api, cluster)) in listeners.into_iter().enumerate() {
            let mut cfg = Config {
                node_id: i as u64 + 1,
                data_dir: hubs.tmp.path().join(format!("node-{}", i + 1)),
                ..Config::default()
            };
            cfg.listen.public = public.local_addr().unwrap();
            cfg.listen.api = api.local_addr().unwrap();
            cfg.listen.cluster = cluster.local_addr().unwrap();
            cfg.cluster.peers = peers.clone();
            cfg.cluster.secret = Some("test-cluster-secret-0123456789".into());
            cfg.cluster.election_timeout_min_ms = 300;
            cfg.cluster.election_timeout_max_ms = 600;
            cfg.cluster.heartbeat_ms = 100;
            cfg.hub.activity_flush_ms = 200;
            cfg.hub.admin_users = vec!["admin".into()];
            cfg.hub.services = vec![ServiceConfig {
                name: "admin-service".into(),
                api_token: Some(ADMIN_TOKEN.into()),
                api_token_file: None,
                admin: true,
                url: None,
                display: true,
                command: vec![],
                environment: Default::default(),
                oauth_no_confirm: false,
            }];
            tweak(&mut cfg);
            let l = Listeners {
                public,
                api,
                cluster,
                proxy_api: None,
            };
            let mut node = HubNode {
                cfg,
                stop: None,
                task: None,
            };
            run(&mut node, l);
            hubs.nodes.push(node);
        }
        hubs.wait_ready().await;
        hubs
    }

    /// `http://127.0.0.1:<api port>{base_url}hub/api` of replica `i`.
    pub fn api(&self, i: usize) -> String {
        let n = &self.nodes[i].cfg;
        format!("http://{}{}hub/api", n.listen.api, n.hub.base_url)
    }

    pub fn public(&self, i: usize) -> String {
        format!("http://{}", self.nodes[i].cfg.listen.public)
    }

    /// Waits until every replica answers the admin token (leader duties ran, all applied).
    pub async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        for i in 0..self.nodes.len() {
            if self.nodes[i].task.is_none() {
                continue;
            }
            loop {
                let r = self
                    .http
                    .get(format!("{}/user", self.api(i)))
                    .header("Authorization", format!("token {ADMIN_TOKEN}"))
                    .send()
                    .await;
                if r.is_ok_and(|r| r.status() == StatusCode::OK) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "replica {} never became ready",
                    i + 1
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// Sends a request with the admin token; returns status and JSON (Null if empty).
    pub async fn call(
        &self,
        i: usize,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(i, ADMIN_TOKEN, method, path, body).await
    }

    pub async fn call_as(
        &self,
        i: usize,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut rb = self
            .http
            .request(method, format!("{}{}", self.api(i), path));
        if !token.is_empty() {
            rb = rb.header("Authorization", format!("token {token}"));
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("request");
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    pub async fn stop(&mut self, i: usize) {
        if let Some(s) = self.nodes[i].stop.take() {
            s.send_replace(true);
        }
        if let Some(t) = self.nodes[i].task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }

    pub async fn restart(&mut self, i: usize) {
        let cfg = self.nodes[i].cfg.clone();
        for attempt in 0.. {
            let mut tries = 0;
            let l = loop {
                match Listeners::bind(&cfg).await {
                    Ok(l) => break l,
                    Err(_) if tries < 100 => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => panic!("rebind: {e}"),
                }
            };
            run(&mut self.nodes[i], l);
            // The replica stopped before lived in this process: its background threads (a
            // log purge, the flusher) may hold its database a moment after `server::run`
            // returned, and sled then refuses the new open (its lock). A separate process
            // cannot meet that; here the replica is started again, as a supervisor would.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let exited = self.nodes[i].task.as_ref().is_some_and(|t| t.is_finished());
            if !exited {
                return;
            }
            let t = self.nodes[i].task.take().expect("task");
            let res = t.await;
            assert!(attempt < 30, "replica {} cannot restart: {res:?}", i + 1);
            eprintln!(
                "replica {} exited at start ({res:?}); starting it again",
                i + 1
            );
        }
    }

    pub async fn shutdown(mut self) {
        for i in 0..self.nodes.len() {
            self.stop(i).await;
        }
    }
}

fn run(node: &mut HubNode, l: Listeners) {
    let (tx, mut rx) = watch::channel(false);
    let cfg = node.cfg.clone();
    node.task = Some(tokio::spawn(async move {
        server::run(cfg, l, async move {
            let _ = rx.wait_for(|s| *s).await;
        })
        .await
    }));
    node.stop = Some(tx);
}

/// Asserts a status, showing the body on failure.
#[track_caller]
pub fn check_status(got: &(StatusCode, Value), want: u16) {
    assert_eq!(got.0.as_u16(), want, "body: {}", got.1);
}

/// Asserts an upstream-shaped JSON error: status and (a fragment of) the message.
#[track_caller]
pub fn check_error(got: &(StatusCode, Value), want: u16, message: Option<&str>) {
    check_status(got, want);
    assert_eq!(got.1["status"], want, "error body {}", got.1);
    match message {
        Some(m) => assert!(
            got.1["message"].as_str().is_some_and(|s| s.contains(m)),
            "message {:?} should contain {m:?}",
            got.1["message"]
        ),
        None => assert!(
            got.1["message"].is_null(),
            "message should be null: {}",
            got.1
        ),
    }
}
