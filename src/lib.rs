//! rafthub: a JupyterHub-compatible hub, proxy and Kubernetes spawner in one binary, run as a
//! cluster of replicas that share every piece of hub state through Raft.
//!
//! # Layout
//! - [`config`], [`hub_config`], [`cli`]: configuration (file, environment, flags).
//! - [`server`]: wires one replica together: storage, Raft node, cluster port, API port.
//! - [`hub`]: the state the HTTP handlers share (the node, settings, activity buffer).
//! - [`api`]: the JupyterHub REST API, health and readiness.
//! - [`local_cluster`]: `rafthub up`, a local multi-replica cluster for development.
//! - [`cluster_cmd`]: `rafthub cluster status|add|remove`.
//!
//! The replicated state itself (commands, state machine, storage, Raft network) lives in the
//! `rafthub-raft` crate; this crate never mutates hub state except by proposing commands.

#![deny(unsafe_code)]

pub mod activity;
pub mod api;
pub mod authz;
pub mod cli;
pub mod cluster_cmd;
pub mod config;
pub mod controller;
pub mod hub;
pub mod hub_config;
pub mod leader;
pub mod local_cluster;
mod local_hub;
pub mod managed_services;
pub mod proxy_glue;
pub mod reconcile;
pub mod secrets;
pub mod server;
pub mod spawn;
pub mod spawner;
pub mod timefmt;
pub mod web;

/// The JupyterHub version whose REST API rafthub speaks. Clients compare major versions
/// (jupyterhub-singleuser) or minimum versions (jupyterhub-idle-culler) against it.
pub const JUPYTERHUB_VERSION: &str = "6.1.1";

/// rafthub's own version.
pub const RAFTHUB_VERSION: &str = env!("CARGO_PKG_VERSION");
