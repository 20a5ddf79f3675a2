//! rafthub-jepsen: a Jepsen-style chaos harness against real `rafthub` processes.
//!
//! - [`cluster`]: configs, processes (start, kill -9, SIGSTOP/SIGCONT, restart), status.
//! - [`net`]: iptables partitions and packet loss in the `RAFTHUB_CHAOS` chain.
//! - [`nemesis`]: the faults and their timeline.
//! - [`workload`]: clients (set, register, failover probe, proxy availability).
//! - [`history`]: the recorded operations, nemesis windows and node down-times.
//! - [`checker`]: pure checkers (set, per-key linearizability, failover, proxy).
//! - [`report`], [`summary`]: history.jsonl, results.json, report.html, Markdown summaries.
//! - [`run`]: one run from start to finish; [`guard`]: one run per address base.

pub mod checker;
pub mod cluster;
pub mod guard;
pub mod history;
pub mod nemesis;
pub mod net;
pub mod report;
pub mod run;
pub mod summary;
pub mod workload;
