//! The set workload: clients create users with unique names on random replicas; at the
//! end the full user list is read from every replica (`final-read`). Also the failover
//! probe: the same operation, paced faster with a short timeout, so the first acknowledged
//! write after a leader loss is seen within tens of milliseconds.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokio::time::sleep;

use super::client::{Ctx, Pending};
use crate::cluster::config::NodeAddr;
use crate::history::Outcome;

/// Prefix of every user name this workload creates (the checker ignores other users).
pub const PREFIX: &str = "js-";

#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Pause between operations of one client.
    pub delay: Duration,
    /// Request timeout (then the outcome is `info`).
    pub timeout: Duration,
    /// Upper bound on operations per client.
    pub max_ops: usize,
}

/// One client: creates `js-<process>-<seq>` until the deadline or `max_ops`.
pub async fn client(ctx: Ctx, pace: Pace) {
    let mut process = ctx.new_process();
    for seq in 0..pace.max_ops {
        if !ctx.running() {
            break;
        }
        let node = ctx.api.random_node().clone();
        let name = format!("{PREFIX}{process}-{seq}");
        let p = Pending::start(
            &ctx.rec,
            process,
            "create",
            None,
            Value::String(name.clone()),
            node.id,
        );
        let reply = ctx
            .api
            .call(
                Method::POST,
                &node,
                &format!("/users/{name}"),
                None,
                true,
                pace.timeout,
            )
            .await;
        if p.finish(&ctx.rec, &reply, None) == Outcome::Info {
            process = ctx.new_process();
        }
        sleep(pace.delay).await;
    }
}

/// Reads every user name from one replica with a linearizable read, following pagination.
async fn read_all(ctx: &Ctx, node: &NodeAddr, timeout: Duration) -> Result<Vec<Value>, String> {
    let mut names = Vec::new();
    let mut offset = 0usize;
    for _ in 0..100 {
        let path = format!("/users?consistency=linearizable&offset={offset}&limit=100000");
        let reply = ctx
            .api
            .call(Method::GET, node, &path, None, false, timeout)
            .await;
        if reply.outcome != Outcome::Ok {
            return Err(reply.error.unwrap_or_else(|| "read failed".into()));
        }
        let items = match &reply.body {
            Value::Array(a) => a.clone(),
            v => v
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .ok_or("no items in the user list")?,
        };
        let n = items.len();
        names.extend(items.into_iter().filter_map(|u| u.get("name").cloned()));
        let next = reply
            .body
            .pointer("/_pagination/next")
            .filter(|v| !v.is_null());
        if next.is_none() || n == 0 {
            return Ok(names);
        }
        offset += n;
    }
    Err("more than 100 pages".into())
}

/// The final read from every replica, in rounds until one round finds every replica with
/// the same users (at most `rounds`; every read is recorded, and the checker keeps each
/// replica's last one). Rounds matter because a write that timed out ("outcome unknown") can
/// still commit after the cluster converged: its entry waits, uncommitted, in a log until a
/// leader of a later term commits it, so replicas read one after another can differ by the
/// writes that landed in between. Disagreement in the last round is divergence.
pub async fn final_reads(ctx: &Ctx, attempts: usize, rounds: usize) {
    let process = ctx.new_process();
    for round in 0..rounds {
        let mut seen: Vec<Option<Vec<Value>>> = Vec::new();
        for node in ctx.api.nodes.clone() {
            let mut got = None;
            for attempt in 0..attempts {
                let p = Pending::start(&ctx.rec, process, "final-read", None, Value::Null, node.id);
                let result = read_all(ctx, &node, Duration::from_secs(20)).await;
                let (reply, value) = match result {
                    Ok(names) => (ok_reply(), Value::Array(names)),
                    Err(e) => (failed_reply(e), Value::Null),
                };
                if p.finish(&ctx.rec, &reply, Some(value.clone())) == Outcome::Ok {
                    got = value.as_array().cloned();
                    break;
                }
                if attempt + 1 < attempts {
                    sleep(Duration::from_secs(1)).await;
                }
            }
            seen.push(got.map(|mut v| {
                v.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                v
            }));
        }
        let agree = seen.iter().all(Option::is_some) && seen.windows(2).all(|w| w[0] == w[1]);
        if agree || round + 1 == rounds {
            return;
        }
        sleep(Duration::from_secs(1)).await;
    }
}

fn ok_reply() -> super::client::Reply {
    super::client::Reply {
        outcome: Outcome::Ok,
        status: Some(200),
        body: Value::Null,
        error: None,
    }
}

fn failed_reply(e: String) -> super::client::Reply {
    super::client::Reply {
        outcome: Outcome::Fail,
        status: None,
        body: Value::Null,
        error: Some(e),
    }
}
