//! Configuration: one TOML file format, plus environment variables and flags for the same keys.
//!
//! Precedence: command-line flag > environment variable (`RAFTHUB_*`) > config file > default.
//! The defaults run a single replica on 127.0.0.1; `rafthub up` writes one file per replica of
//! a local three-replica cluster. See `docs/configuration.md` for every key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rafthub_raft::network::TlsConfig;
use rafthub_raft::{NodeId, NodeInfo};
use serde::{Deserialize, Serialize};

use crate::hub_config::HubConfig;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This replica's id: the StatefulSet ordinal + 1, or 1..N locally. Never reuse an id for
    /// a different machine's data.
    pub node_id: NodeId,
    /// Where the Raft log, state machine and snapshots live.
    pub data_dir: PathBuf,
    pub listen: Listen,
    pub cluster: Cluster,
    pub hub: HubConfig,
    pub proxy: ProxySection,
    pub spawner: crate::spawner::SpawnerConfig,
    pub auth: crate::web::authenticator::AuthConfig,
}

/// More data-path threads than this is a mistake, not a tuning (each is an OS thread).
const MAX_IO_THREADS: usize = 256;

/// `[proxy]`: the embedded proxy on the public port.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySection {
    /// Listener for the configurable-http-proxy-compatible route API (`/api/routes`); off
    /// when unset.
    pub api: Option<SocketAddr>,
    /// Token for the route API (`CONFIGPROXY_AUTH_TOKEN`). Prefer `auth_token_file`.
    pub auth_token: Option<String>,
    pub auth_token_file: Option<PathBuf>,
    /// TLS termination on the public port (PEM files; reloaded when they change).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Upstream request timeout; none by default (kernels are long-lived).
    pub request_timeout_ms: Option<u64>,
    /// Idle upstream connections kept per target (default 1024); idle ones close after 60 s.
    pub upstream_max_idle_per_host: Option<usize>,
    /// PEM roots `https://` targets are verified against besides the system's (an internal CA).
    pub upstream_ca_file: Option<PathBuf>,
    /// Threads of the data path, each with its own single-threaded runtime; default one per
    /// core, 0 serves the public port on the hub's runtime.
    pub io_threads: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// Public port: the proxy (user traffic and the hub's pages through the default route).
    pub public: SocketAddr,
    /// Hub API and pages (what `JUPYTERHUB_API_URL` points at).
    pub api: SocketAddr,
    /// Raft RPCs and forwarded writes between replicas.
    pub cluster: SocketAddr,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    /// Shared secret authenticating every cluster request. Prefer `secret_file`.
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// The initial members. Empty means a single-replica cluster of this node.
    pub peers: Vec<Peer>,
    /// Bind outgoing cluster connections to the cluster listen address, so firewall rules on
    /// source addresses see this replica's real address.
    pub bind_outgoing: bool,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    pub heartbeat_ms: u64,
    /// Snapshot (and compact the log) every this many entries.
    pub snapshot_every: u64,
    /// How long a write may wait for the cluster before answering 503.
    pub write_timeout_ms: u64,
    /// Ask the leader to add this replica when it is not a member yet.
    pub auto_join: bool,
    /// Mutual TLS between replicas.
    pub tls: Option<TlsConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Peer {
    pub id: NodeId,
    /// `host:port` of the peer's cluster port (a stable DNS name in Kubernetes).
    pub cluster: String,
    /// `host:port` of the peer's API port, shown by `cluster status`.
    #[serde(default)]
    pub api: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_id: 1,
            data_dir: PathBuf::from("data/node-1"),
            listen: Listen::default(),
            cluster: Cluster::default(),
            hub: HubConfig::default(),
            proxy: ProxySection::default(),
            spawner: crate::spawner::SpawnerConfig::default(),
            auth: crate::web::authenticator::AuthConfig::default(),
        }
    }
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            public: ([127, 0, 0, 1], 8000).into(),
            api: ([127, 0, 0, 1], 8081).into(),
            cluster: ([127, 0, 0, 1], 8082).into(),
        }
    }
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            secret: None,
            secret_file: None,
            peers: Vec::new(),
            bind_outgoing: true,
            // Measured on the 2-core bench machine: p50 failover about 0.7 s (docs/benchmarks.md).
            election_timeout_min_ms: 200,
            election_timeout_max_ms: 400,
            heartbeat_ms: 50,
            snapshot_every: 20_000,
            write_timeout_ms: 10_000,
            auto_join: true,
            tls: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid peer {spec:?}: expected ID=CLUSTER_ADDR or ID=CLUSTER_ADDR/API_ADDR")]
    PeerSpec { spec: String },
    #[error("invalid value for {key}: {message}")]
    Invalid { key: &'static str, message: String },
    #[error("cannot read the cluster secret from {path}: {source}")]
    Secret {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Config {
    /// Reads a config file; unknown keys and wrong types are errors naming the file and key.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// The peers as a map, with this node alone when none are configured.
    pub fn peer_map(&self) -> BTreeMap<NodeId, NodeInfo> {
        if self.cluster.peers.is_empty() {
            return BTreeMap::from([(
                self.node_id,
                NodeInfo {
                    cluster_addr: self.listen.cluster.to_string(),
                    api_addr: self.listen.api.to_string(),
                },
            )]);
        }
        self.cluster
            .peers
            .iter()
            .map(|p| {
                (
                    p.id,
                    NodeInfo {
                        cluster_addr: p.cluster.clone(),
                        api_addr: p.api.clone(),
                    },
                )
            })
            .collect()
    }

    /// The cluster secret from `secret` or `secret_file`.
    pub fn secret(&self) -> Result<Option<String>, ConfigError> {
        if let Some(s) = &self.cluster.secret {
            return Ok(Some(s.clone()));
        }
        match &self.cluster.secret_file {
            None => Ok(None),
            Some(p) => std::fs::read_to_string(p)
                .map(|s| Some(s.trim().to_string()))
                .map_err(|source| ConfigError::Secret {
                    path: p.clone(),
                    source,
                }),
        }
    }

    /// Checks everything that can be checked without touching the network or the data dir.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let c = &self.cluster;
        let invalid = |key, message: &str| ConfigError::Invalid {
            key,
            message: message.to_string(),
        };
        if self.node_id == 0 {
            return Err(invalid("node_id", "must be 1 or more (0 is reserved)"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &c.peers {
            if !seen.insert(p.id) {
                return Err(invalid(
                    "cluster.peers",
                    &format!("node id {} appears twice", p.id),
                ));
            }
            if p.id == 0 {
                return Err(invalid("cluster.peers", "node ids must be 1 or more"));
            }
            if !p.cluster.contains(':') {
                return Err(invalid(
                    "cluster.peers",
                    &format!("peer {} address {:?} has no port", p.id, p.cluster),
                ));
            }
        }
        if !c.peers.is_empty() && !seen.contains(&self.node_id) {
            return Err(invalid(
                "node_id",
                &format!("node {} is not in cluster.peers ({:?})", self.node_id, seen),
            ));
        }
        if c.heartbeat_ms == 0 || c.election_timeout_min_ms <= c.heartbeat_ms {
            return Err(invalid(
                "cluster.heartbeat_ms",
                "must be above 0 and below election_timeout_min_ms",
            ));
        }
        if c.election_timeout_max_ms <= c.election_timeout_min_ms {
            return Err(invalid(
                "cluster.election_timeout_max_ms",
                "must be greater than election_timeout_min_ms",
            ));
        }
        if c.snapshot_every < 100 {
            return Err(invalid("cluster.snapshot_every", "must be at least 100"));
        }
        if let Some(s) = self.secret()? {
            if s.len() < 16 {
                return Err(invalid("cluster.secret", "must be at least 16 characters"));
            }
        } else if c.peers.len() > 1 {
            return Err(invalid(
                "cluster.secret",
                "a multi-replica cluster needs a shared secret (cluster.secret_file, RAFTHUB_CLUSTER_SECRET)",
            ));
        }
        self.hub.validate()?;
        self.spawner
            .validate()
            .map_err(|m| invalid("spawner", &m))?;
        self.auth.validate().map_err(|m| invalid("auth", &m))?;
        if self.proxy.io_threads.is_some_and(|n| n > MAX_IO_THREADS) {
            return Err(invalid(
                "proxy.io_threads",
                &format!("at most {MAX_IO_THREADS} (one per core is the default)"),
            ));
        }
        if self.proxy.tls_cert.is_some() != self.proxy.tls_key.is_some() {
            return Err(invalid(
                "proxy.tls_cert",
                "tls_cert and tls_key must be set together",
            ));
        }
        if let Some(ca) = &self.proxy.upstream_ca_file {
            rafthub_proxy::read_certs(ca)
                .map_err(|e| invalid("proxy.upstream_ca_file", &e.to_string()))?;
        }
        Ok(())
    }

    /// The route API token from `auth_token` or `auth_token_file`.
    pub fn proxy_token(&self) -> Result<Option<String>, ConfigError> {
        if let Some(t) = &self.proxy.auth_token {
            return Ok(Some(t.clone()));
        }
        match &self.proxy.auth_token_file {
            None => Ok(None),
            Some(p) => std::fs::read_to_string(p)
                .map(|s| Some(s.trim().to_string()))
                .map_err(|source| ConfigError::Secret {
                    path: p.clone(),
                    source,
                }),
        }
    }

    pub fn election_timeouts(&self) -> (Duration, Duration) {
        (
            Duration::from_millis(self.cluster.election_timeout_min_ms),
            Duration::from_millis(self.cluster.election_timeout_max_ms),
        )
    }
}

/// Parses `ID=CLUSTER_ADDR[/API_ADDR]` (flags and environment variables).
pub fn parse_peer(spec: &str) -> Result<Peer, ConfigError> {
    let err = || ConfigError::PeerSpec {
        spec: spec.to_string(),
    };
    let (id, rest) = spec.split_once('=').ok_or_else(err)?;
    let id: NodeId = id.trim().parse().map_err(|_| err())?;
    let (cluster, api) = match rest.split_once('/') {
        Some((c, a)) => (c.trim(), a.trim()),
        None => (rest.trim(), ""),
    };
    if cluster.is_empty() || !cluster.contains(':') {
        return Err(err());
    }
    Ok(Peer {
        id,
        cluster: cluster.to_string(),
        api: api.to_string(),
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
