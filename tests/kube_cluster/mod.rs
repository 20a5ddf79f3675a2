//! Three real `rafthub serve` processes with `kind = "kubernetes"` against one kube-fake
//! served on 127.0.0.1. Each replica has its own kubeconfig whose token names it (`hub-1`,
//! `hub-2`, `hub-3`), so the fake's request log says which replica did what.
//!
//! Pods never really run, so `pod_connect_ip = "127.0.0.1"` points every server at one
//! local responder that answers 200 to the hub's readiness check.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use rafthub_kube_fake::{FakeConfig, FakeKube, FakeServer, Timings};
use serde_json::Value;

use crate::procs::{Cluster, Extra};

pub struct KubeCluster {
    pub rt: tokio::runtime::Runtime,
    pub fake: FakeKube,
    pub server: FakeServer,
    pub cluster: Cluster,
    pub dir: tempfile::TempDir,
}

/// The kube-fake client name of replica `i` (0-based).
pub fn client(i: usize) -> String {
    format!("hub-{}", i + 1)
}

impl KubeCluster {
    pub fn start(hub_extra: &str, timings: Timings) -> KubeCluster {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let fake = FakeKube::with_config(FakeConfig {
            // A real API server's watch cache spans minutes of changes; a spawn storm
            // makes tens of thousands.
            history_window: 200_000,
            ..FakeConfig::default()
        });
        let server = rt.block_on(fake.start_server()).unwrap();
        rt.block_on(async { fake.kubelet().start_auto(timings) });
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        rt.spawn(async move {
            let app = axum::Router::new().fallback(|| async { axum::Json(serde_json::json!({})) });
            let _ = axum::serve(listener, app).await;
        });
        let dir = tempfile::tempdir().unwrap();
        let mut env = Vec::new();
        for i in 0..3 {
            let path = dir.path().join(format!("{}.kubeconfig", client(i)));
            server.write_kubeconfig(&path, &client(i)).unwrap();
            env.push(vec![("KUBECONFIG".to_string(), path.display().to_string())]);
        }
        let extra = Extra {
            hub: format!("{hub_extra}\napi_page_max_limit = 10000\n"),
            tail: format!(
                r#"
[spawner]
kind = "kubernetes"
slow_spawn_timeout_s = 0
start_timeout_s = 60
http_timeout_s = 30
[spawner.kubernetes]
port = {port}
pod_connect_ip = "127.0.0.1"
"#
            ),
            env,
        };
        let mut cluster = Cluster::start_with(3, &[], &extra);
        for i in 0..3 {
            cluster.wait_ready(i, Duration::from_secs(60));
        }
        KubeCluster {
            rt,
            fake,
            server,
            cluster,
            dir,
        }
    }

    /// Creates users in batches (one write per batch).
    pub fn create_users(&self, names: &[String]) {
        for chunk in names.chunks(500) {
            let body = serde_json::json!({ "usernames": chunk });
            let (code, text) = self.cluster.post_json(0, "/api/users", &body).unwrap();
            assert_eq!(code, 201, "{text}");
        }
    }

    /// `(ready, pending)` server counts as replica `i` sees them.
    pub fn server_counts(&self, i: usize) -> Option<(usize, usize)> {
        const PAGE: usize = 5000;
        let (mut ready, mut pending) = (0, 0);
        for offset in (0..).step_by(PAGE) {
            let path = format!("/api/users?state=active&limit={PAGE}&offset={offset}");
            let (code, body) = self.cluster.get(i, &path)?;
            if code != 200 {
                return None;
            }
            let users: Vec<Value> = serde_json::from_str(&body).ok()?;
            for u in &users {
                for s in u["servers"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                {
                    if s["ready"] == true {
                        ready += 1;
                    } else if !s["pending"].is_null() {
                        pending += 1;
                    }
                }
            }
            if users.len() < PAGE {
                break;
            }
        }
        Some((ready, pending))
    }

    /// Waits until replica `i` sees `n` ready servers and none pending.
    pub fn wait_all_ready(&self, i: usize, n: usize, timeout: Duration) -> (usize, usize) {
        let deadline = Instant::now() + timeout;
        let mut last = (0, 0);
        while Instant::now() < deadline {
            if let Some(c) = self.server_counts(i) {
                last = c;
                if c == (n, 0) {
                    return c;
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        last
    }

    /// A live replica other than `not`.
    pub fn other(&self, not: usize) -> usize {
        (0..3)
            .find(|i| *i != not && self.cluster.procs[*i].child.is_some())
            .expect("a live replica")
    }
}

/// CPU seconds (user + system) and peak/current resident memory (KiB) of a process.
pub fn usage(pid: u32) -> Option<(f64, u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(") ")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are 12 and 13 after the state field.
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // USER_HZ is 100 on every Linux this runs on.
    Some((ticks as f64 / 100.0, kib("VmHWM:"), kib("VmRSS:")))
}
