//! rafthub's embedded proxy: the HTTP/websocket data path and route table
//! that replace configurable-http-proxy (CHP).
//!
//! The crate knows nothing about Raft. The binary owns a [`RouteTable`] and
//! feeds it the replicated routes ([`RouteTable::replace_all`],
//! [`RouteTable::upsert`], [`RouteTable::remove`]); it drains
//! [`RouteTable::take_activity`] every few seconds and replicates that. The
//! CHP-compatible admin API ([`RouteApi`]) reads the local table but sends
//! writes through a [`RouteWriter`] the binary implements (Raft commit, then
//! local apply), so every replica's table changes the same way.
//!
//! Entry points: [`serve`] (public listener, optional TLS) and [`serve_api`].
//!
//! ```ignore
//! let table = RouteTable::new(false);
//! table.replace_all(routes_from_raft_state);            // on snapshot install
//! table.upsert(Route::new("/user/alice/", "http://10.0.0.5:8888", data)?); // on apply
//! let proxy = Proxy::new(table.clone(), ProxyConfig {
//!     error_target: Some("http://127.0.0.1:8081/hub/error".into()),
//!     ..Default::default()
//! })?;
//! tokio::spawn(serve(public_listener, proxy.clone(), shutdown.clone().cancelled_owned()));
//! let api = RouteApi::new(table.clone(), raft_writer, Some(token)).with_metrics(proxy.metrics().clone());
//! tokio::spawn(serve_api(api_listener, api, shutdown.cancelled_owned()));
//! // every few seconds: for rec in table.take_activity() { replicate max(rec) }
//! // after applying replicated activity: table.merge_activity(&spec, t)
//! ```
//!
//! Spec forms: [`Route::new`] takes the hub's escaped routespec and decodes
//! it once ([`canonical_spec`]); everything else (table keys, listings,
//! [`RouteWriter`] arguments, serialised [`Route`]s) uses the canonical form,
//! which is never decoded again.
#![forbid(unsafe_code)]

mod activity;
mod api;
mod body;
mod client;
mod config;
mod errors;
mod forward;
mod local;
mod metrics;
pub mod path;
mod proxy;
mod relay;
mod route;
mod server;
mod table;
mod tls;
pub mod trie;
mod upstream;
mod websocket;
mod workers;

pub use activity::{format_iso, parse_iso, ActivityRecord, DEBOUNCE_MS};
pub use api::{serve_api, InMemoryRouteWriter, RouteApi, RouteWriteError, RouteWriter};
pub use client::{client_config as tls_client_config, ProxyBody};
pub use config::{ProxyConfig, TlsConfig};
pub use forward::ConnInfo;
pub use local::LocalHandler;
pub use metrics::{Metrics, LATENCY_BUCKETS};
pub use path::canonical_spec;
pub use proxy::{Proxy, ProxyError};
pub use route::{Route, RouteError};
pub use server::serve;
pub use table::{RouteInfo, RouteTable};
pub use tls::{read_certs, TlsError};
