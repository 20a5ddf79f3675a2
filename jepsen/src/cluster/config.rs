//! Per-replica TOML configuration, written by the harness (not `rafthub up`), so every
//! replica gets its own loopback address, data directory and outgoing source address.
//!
//! Replica `i` (1-based) lives on `127.0.0.(10 + i)` (see [`set_ip_base`]): public port 8000 (the proxy), API
//! 8081, cluster 8082, proxy route API 8001. Test clients talk from 127.0.0.1, which no partition rule touches.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

use anyhow::Context;
use serde::Serialize;

/// Replica `i` gets `127.0.0.(base + i)`; 10 by default (127.0.0.11-15). Another base lets
/// a second harness run at the same time on other addresses (and its own chaos chain).
static IP_BASE: AtomicU8 = AtomicU8::new(10);

pub fn set_ip_base(base: u8) {
    IP_BASE.store(base, Ordering::SeqCst);
}

pub fn ip_base() -> u8 {
    IP_BASE.load(Ordering::SeqCst)
}

pub const PUBLIC_PORT: u16 = 8000;
pub const API_PORT: u16 = 8081;
pub const CLUSTER_PORT: u16 = 8082;

/// Raft timing and limits handed to every replica.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Port of the CHP-compatible route API on each replica's address.
    pub proxy_api_port: u16,
    /// Raft timing; `None` leaves rafthub's own default (what users run).
    pub election_timeout_min_ms: Option<u64>,
    pub election_timeout_max_ms: Option<u64>,
    pub heartbeat_ms: Option<u64>,
    pub write_timeout_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            proxy_api_port: 8001,
            election_timeout_min_ms: None,
            election_timeout_max_ms: None,
            heartbeat_ms: None,
            write_timeout_ms: 3000,
        }
    }
}

/// Where one replica lives.
#[derive(Debug, Clone)]
pub struct NodeAddr {
    pub id: u64,
    pub ip: Ipv4Addr,
}

impl NodeAddr {
    pub fn new(id: u64) -> NodeAddr {
        NodeAddr {
            id,
            ip: Ipv4Addr::new(127, 0, 0, ip_base() + id as u8),
        }
    }
    pub fn api(&self) -> String {
        format!("{}:{API_PORT}", self.ip)
    }
    pub fn cluster(&self) -> String {
        format!("{}:{CLUSTER_PORT}", self.ip)
    }
    pub fn public(&self) -> String {
        format!("{}:{PUBLIC_PORT}", self.ip)
    }
    /// Base URL of the hub REST API.
    pub fn api_url(&self) -> String {
        format!("http://{}/hub/api", self.api())
    }
}

#[derive(Serialize)]
struct File<'a> {
    node_id: u64,
    data_dir: &'a Path,
    listen: Listen,
    cluster: Cluster<'a>,
    hub: Hub<'a>,
    proxy: Proxy<'a>,
}

/// `[proxy]`: the route API on `<ip>:<proxy_api_port>`, same token as the admin service.
#[derive(Serialize)]
struct Proxy<'a> {
    api: String,
    auth_token_file: &'a Path,
}

#[derive(Serialize)]
struct Listen {
    public: String,
    api: String,
    cluster: String,
}

#[derive(Serialize)]
struct Cluster<'a> {
    secret_file: &'a Path,
    bind_outgoing: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    election_timeout_min_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    election_timeout_max_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    heartbeat_ms: Option<u64>,
    write_timeout_ms: u64,
    peers: Vec<Peer>,
}

#[derive(Serialize)]
struct Peer {
    id: u64,
    cluster: String,
    api: String,
}

#[derive(Serialize)]
struct Hub<'a> {
    api_page_max_limit: usize,
    services: Vec<Service<'a>>,
}

#[derive(Serialize)]
struct Service<'a> {
    name: &'static str,
    api_token_file: &'a Path,
    admin: bool,
    /// With a URL the hub maintains the route `/services/jepsen/` to it (the proxy
    /// workload's backend), so the leader's route reconciliation keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
}

/// The admin service's name (and its route: `/services/<name>/`).
pub const SERVICE: &str = "jepsen";

/// Paths of one replica's files under the run directory.
#[derive(Debug, Clone)]
pub struct NodeFiles {
    pub config: PathBuf,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

/// Writes the shared secret, the admin token and every replica's config under `dir`.
/// `service_url` is the proxy workload's backend, if any. Returns the admin token and each
/// replica's files.
pub fn write_all(
    dir: &Path,
    n: u64,
    timing: Timing,
    service_url: Option<&str>,
) -> anyhow::Result<(String, Vec<NodeFiles>)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let secret_file = dir.join("cluster.secret");
    let token_file = dir.join("admin.token");
    let secret = hex(32);
    let token = hex(24);
    std::fs::write(&secret_file, format!("{secret}\n"))?;
    std::fs::write(&token_file, format!("{token}\n"))?;
    let peers = || {
        (1..=n)
            .map(|i| {
                let a = NodeAddr::new(i);
                Peer {
                    id: i,
                    cluster: a.cluster(),
                    api: a.api(),
                }
            })
            .collect()
    };
    let mut files = Vec::new();
    for i in 1..=n {
        let a = NodeAddr::new(i);
        let node_dir = dir.join(format!("n{i}"));
        std::fs::create_dir_all(&node_dir)?;
        let f = NodeFiles {
            config: node_dir.join("rafthub.toml"),
            data_dir: node_dir.join("data"),
            log: node_dir.join("rafthub.log"),
        };
        let file = File {
            node_id: i,
            data_dir: &f.data_dir,
            listen: Listen {
                public: a.public(),
                api: a.api(),
                cluster: a.cluster(),
            },
            cluster: Cluster {
                secret_file: &secret_file,
                bind_outgoing: true,
                election_timeout_min_ms: timing.election_timeout_min_ms,
                election_timeout_max_ms: timing.election_timeout_max_ms,
                heartbeat_ms: timing.heartbeat_ms,
                write_timeout_ms: timing.write_timeout_ms,
                peers: peers(),
            },
            hub: Hub {
                api_page_max_limit: 100_000,
                services: vec![Service {
                    name: SERVICE,
                    api_token_file: &token_file,
                    admin: true,
                    url: service_url.map(str::to_string),
                }],
            },
            proxy: Proxy {
                api: format!("{}:{}", a.ip, timing.proxy_api_port),
                auth_token_file: &token_file,
            },
        };
        std::fs::write(&f.config, toml::to_string_pretty(&file)?)
            .with_context(|| format!("writing {}", f.config.display()))?;
        files.push(f);
    }
    Ok((token, files))
}

fn hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_have_distinct_addresses_and_shared_peers() {
        let dir = std::env::temp_dir().join(format!("rafthub-jepsen-cfg-{}", std::process::id()));
        let (token, files) =
            write_all(&dir, 3, Timing::default(), Some("http://127.0.0.1:9")).expect("write");
        assert_eq!(token.len(), 48);
        let text = std::fs::read_to_string(&files[1].config).expect("read");
        let v: toml::Value = toml::from_str(&text).expect("toml");
        assert_eq!(v["node_id"].as_integer(), Some(2));
        assert_eq!(v["listen"]["cluster"].as_str(), Some("127.0.0.12:8082"));
        assert_eq!(v["cluster"]["peers"].as_array().map(Vec::len), Some(3));
        assert_eq!(v["cluster"]["bind_outgoing"].as_bool(), Some(true));
        assert_eq!(v["hub"]["services"][0]["admin"].as_bool(), Some(true));
        assert_eq!(
            v["hub"]["services"][0]["url"].as_str(),
            Some("http://127.0.0.1:9")
        );
        assert_eq!(v["proxy"]["api"].as_str(), Some("127.0.0.12:8001"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
