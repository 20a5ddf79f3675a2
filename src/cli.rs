//! Command line. Every config key that operators commonly set has a flag and an environment
//! variable (`RAFTHUB_*`); flags win over the environment, which wins over the file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{parse_peer, Config, ConfigError};

#[derive(Debug, Parser)]
#[command(
    name = "rafthub",
    version,
    about = "A replicated JupyterHub-compatible hub, proxy and spawner"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a local three-replica cluster on 127.0.0.1 (the default command).
    Up(UpArgs),
    /// Run one replica.
    Serve(ServeArgs),
    /// Inspect and change cluster membership.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Validate a configuration and print the effective settings.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Args, Default)]
pub struct UpArgs {
    /// Root of the local cluster's data (one directory per replica).
    #[arg(long, default_value = "data", env = "RAFTHUB_UP_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Number of replicas (3 or 5 make sense).
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
}

#[derive(Debug, Args, Default, Clone)]
pub struct ServeArgs {
    /// Config file (TOML).
    #[arg(long, short, env = "RAFTHUB_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(long, env = "RAFTHUB_NODE_ID")]
    pub node_id: Option<u64>,
    #[arg(long, env = "RAFTHUB_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    #[arg(long, env = "RAFTHUB_LISTEN_PUBLIC")]
    pub listen_public: Option<SocketAddr>,
    #[arg(long, env = "RAFTHUB_LISTEN_API")]
    pub listen_api: Option<SocketAddr>,
    #[arg(long, env = "RAFTHUB_LISTEN_CLUSTER")]
    pub listen_cluster: Option<SocketAddr>,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[arg(long, env = "RAFTHUB_ELECTION_TIMEOUT_MIN_MS")]
    pub election_timeout_min_ms: Option<u64>,
    #[arg(long, env = "RAFTHUB_ELECTION_TIMEOUT_MAX_MS")]
    pub election_timeout_max_ms: Option<u64>,
    #[arg(long, env = "RAFTHUB_HEARTBEAT_MS")]
    pub heartbeat_ms: Option<u64>,
    /// How long a write may wait for the cluster before answering 503.
    #[arg(long, env = "RAFTHUB_WRITE_TIMEOUT_MS")]
    pub write_timeout_ms: Option<u64>,
    #[arg(long, env = "RAFTHUB_BASE_URL")]
    pub base_url: Option<String>,
    /// Threads of the proxy's data path (default: one per core; 0: on the hub's runtime).
    #[arg(long, env = "RAFTHUB_PROXY_IO_THREADS")]
    pub proxy_io_threads: Option<usize>,
}

/// How to reach and authenticate to a cluster (shared by `serve` and `cluster`).
#[derive(Debug, Args, Default, Clone)]
pub struct ConnArgs {
    /// Members as `ID=CLUSTER_ADDR[/API_ADDR]`, comma-separated.
    #[arg(long, env = "RAFTHUB_PEERS", value_delimiter = ',')]
    pub peers: Vec<String>,
    #[arg(long, env = "RAFTHUB_CLUSTER_SECRET", hide_env_values = true)]
    pub cluster_secret: Option<String>,
    #[arg(long, env = "RAFTHUB_CLUSTER_SECRET_FILE")]
    pub cluster_secret_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Members, leader, term, commit and applied index of every replica.
    Status(ClusterArgs),
    /// Add a replica (learner first, then voter) through the leader.
    Add(AddArgs),
    /// Remove a replica through the leader. Stop it and delete its data afterwards.
    Remove(RemoveArgs),
}

#[derive(Debug, Args, Clone)]
pub struct ClusterArgs {
    #[arg(long, short, env = "RAFTHUB_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[arg(long)]
    pub id: u64,
    /// The new replica as `CLUSTER_ADDR[/API_ADDR]`.
    #[arg(long)]
    pub addr: String,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[arg(long)]
    pub id: u64,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (file + environment + flags) and print it as TOML.
    Check(ServeArgs),
}

impl ServeArgs {
    /// The effective configuration: file, then environment and flags on top.
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let mut c = match &self.config {
            Some(p) => Config::from_file(p)?,
            None => Config::default(),
        };
        if let Some(v) = self.node_id {
            c.node_id = v;
        }
        if let Some(v) = &self.data_dir {
            c.data_dir = v.clone();
        }
        if let Some(v) = self.listen_public {
            c.listen.public = v;
        }
        if let Some(v) = self.listen_api {
            c.listen.api = v;
        }
        if let Some(v) = self.listen_cluster {
            c.listen.cluster = v;
        }
        self.conn.apply(&mut c)?;
        if let Some(v) = self.election_timeout_min_ms {
            c.cluster.election_timeout_min_ms = v;
        }
        if let Some(v) = self.election_timeout_max_ms {
            c.cluster.election_timeout_max_ms = v;
        }
        if let Some(v) = self.heartbeat_ms {
            c.cluster.heartbeat_ms = v;
        }
        if let Some(v) = self.write_timeout_ms {
            c.cluster.write_timeout_ms = v;
        }
        if let Some(v) = &self.base_url {
            c.hub.base_url = v.clone();
        }
        if let Some(v) = self.proxy_io_threads {
            c.proxy.io_threads = Some(v);
        }
        c.validate()?;
        Ok(c)
    }
}

impl ConnArgs {
    pub fn apply(&self, c: &mut Config) -> Result<(), ConfigError> {
        if !self.peers.is_empty() {
            c.cluster.peers = self
                .peers
                .iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| parse_peer(s))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = &self.cluster_secret {
            c.cluster.secret = Some(v.clone());
        }
        if let Some(v) = &self.cluster_secret_file {
            c.cluster.secret_file = Some(v.clone());
            c.cluster.secret = None;
        }
        Ok(())
    }
}

impl ClusterArgs {
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let mut c = match &self.config {
            Some(p) => Config::from_file(p)?,
            None => Config::default(),
        };
        self.conn.apply(&mut c)?;
        Ok(c)
    }
}
