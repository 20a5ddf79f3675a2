//! A stateful fake Kubernetes API server for rafthub's spawner tests.
//!
//! No kube-apiserver can run on the build machines or in CI, so this crate
//! stands in for one: storage with etcd-like revisions, list/watch with the
//! watch-cache behaviour kube's `watcher` depends on, the four patch types,
//! graceful deletion and finalizers, a simulated scheduler/kubelet, fault
//! injection and a request log. It serves core/v1 `pods` (+`/status`),
//! `persistentvolumeclaims` (+`/status`), `services` (+`/status`),
//! `secrets`, `configmaps`, `events`, `events.k8s.io/v1` `events` (a second
//! view of the same stored events) and `coordination.k8s.io/v1` `leases`.
//!
//! # Using it
//!
//! ```text
//! let fake = FakeKube::new();
//! // In-process (works under tokio::time::pause()):
//! let client = fake.client("hub-0");            // kube::Client, logged as "hub-0"
//! // Over TCP for multi-process tests:
//! let server = fake.start_server().await?;      // http://127.0.0.1:<port>
//! server.write_kubeconfig(&path, "hub-1")?;     // token "hub-1" names the client
//! // Drive pods:
//! fake.kubelet().start_auto(Timings::default());
//! // Faults:
//! fake.inject(RequestMatch::any().verb(Verb::Create).resource("persistentvolumeclaims"),
//!             Fault::forbidden("exceeded quota: user-quota").times(1));
//! fake.compact();                               // ERROR 410 into every open watch
//! // Assertions:
//! assert!(fake.requests().iter().filter(|r| r.is_successful_write()).all(|r| r.client == "hub-0"));
//! ```
//!
//! # Layout
//!
//! - [`fake`]: the [`FakeKube`] handle and its test-side API.
//! - `store`: objects, the global revision, the change history, open watches;
//!   `store::write` (create/update/patch) and `store::delete` (grace,
//!   finalizers, garbage collection).
//! - `handler`: request dispatch shared by both transports; `list`,
//!   `watch`, `patch`, `selector`, `query`, `kinds` (per-kind defaults and
//!   validation), `convert` (events.k8s.io view), `meta` (names, clock).
//! - [`service`] (in-process `tower::Service`) and [`server`] (hyper on TCP, kubeconfig).
//! - [`kubelet`]: the simulated scheduler/kubelet/PV binder; `events`: the Events they emit.
//! - [`faults`] and [`log`]: fault injection and the request log.
//!
//! Architecture invariant: the test-side API (direct storage access, the
//! kubelet) never goes through the request log or the fault rules; only
//! client requests do, so the log is exactly "what the hubs did".
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

mod convert;
pub mod error;
mod events;
pub mod fake;
pub mod faults;
mod handler;
mod kinds;
pub mod kubelet;
mod list;
pub mod log;
mod meta;
mod patch;
mod query;
mod resource;
mod selector;
pub mod server;
pub mod service;
mod store;
mod watch;

pub use error::{ApiError, FakeError, FieldError};
pub use fake::{FakeConfig, FakeKube, WatchSelect};
pub use faults::{Fault, FaultId, Gate, RequestMatch};
pub use kubelet::{Kubelet, Plan, Timings};
pub use log::{RequestRecord, Verb};
pub use server::{kubeconfig_yaml, serve, FakeServer};
pub use service::{FakeBody, FakeService, CLIENT_HEADER};
pub use store::{DeleteOptions, DeleteOutcome, Propagation};
