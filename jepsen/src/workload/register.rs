//! The register workload: per-key read/write of a group property.
//!
//! A key is a group `jr-<slot>-<generation>`; its register is `properties.v` (absent =
//! initial `None`). Writes are `PUT /groups/{key}/properties {"v": n}` with values unique
//! across the run; reads are `GET /groups/{key}?consistency=linearizable`. Clients pick a
//! random slot; after `ops_per_key` operations on a slot the slot moves to a fresh group, so
//! every key's history stays short for the linearizability search (P-compositionality).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::time::sleep;

use super::client::{Ctx, Pending};
use super::set::Pace;
use crate::history::Outcome;

pub struct Keys {
    slots: Vec<Slot>,
    /// Reads ask for `consistency=linearizable`. Off only as a negative control: local
    /// reads on a partitioned replica are stale and the checker must say so.
    linearizable: bool,
    ops_per_key: usize,
    next_value: AtomicU64,
}

struct Slot {
    generation: AtomicU64,
    ops: AtomicUsize,
}

impl Keys {
    pub fn new(slots: usize, ops_per_key: usize, linearizable: bool) -> Arc<Keys> {
        Arc::new(Keys {
            linearizable,
            slots: (0..slots)
                .map(|_| Slot {
                    generation: AtomicU64::new(0),
                    ops: AtomicUsize::new(0),
                })
                .collect(),
            ops_per_key,
            next_value: AtomicU64::new(1),
        })
    }

    pub fn name(slot: usize, generation: u64) -> String {
        format!("jr-{slot}-{generation}")
    }

    pub fn initial_names(&self) -> Vec<String> {
        (0..self.slots.len()).map(|s| Keys::name(s, 0)).collect()
    }
}

/// Creates a group, retrying through faults until it exists (201 or 409) or the deadline.
pub async fn create_group(ctx: &Ctx, name: &str) -> bool {
    for _ in 0..600 {
        let node = ctx.api.random_node().clone();
        let r = ctx
            .api
            .call(
                Method::POST,
                &node,
                &format!("/groups/{name}"),
                None,
                true,
                Duration::from_secs(5),
            )
            .await;
        if r.outcome == Outcome::Ok || r.status == Some(409) {
            return true;
        }
        if !ctx.running() {
            return false;
        }
        sleep(Duration::from_millis(200)).await;
    }
    false
}

/// One client of the register workload.
pub async fn client(ctx: Ctx, keys: Arc<Keys>, pace: Pace) {
    let mut process = ctx.new_process();
    for _ in 0..pace.max_ops {
        if !ctx.running() {
            break;
        }
        let (slot, write) = {
            let mut rng = rand::thread_rng();
            (rng.gen_range(0..keys.slots.len()), rng.gen_bool(0.5))
        };
        let s = &keys.slots[slot];
        let generation = s.generation.load(Ordering::SeqCst);
        let key = Keys::name(slot, generation);
        let node = ctx.api.random_node().clone();
        let outcome = if write {
            let v = keys.next_value.fetch_add(1, Ordering::SeqCst);
            let p = Pending::start(
                &ctx.rec,
                process,
                "write",
                Some(key.clone()),
                json!(v),
                node.id,
            );
            let path = format!("/groups/{key}/properties");
            let reply = ctx
                .api
                .call(
                    Method::PUT,
                    &node,
                    &path,
                    Some(&json!({"v": v})),
                    true,
                    pace.timeout,
                )
                .await;
            p.finish(&ctx.rec, &reply, None)
        } else {
            let p = Pending::start(
                &ctx.rec,
                process,
                "read",
                Some(key.clone()),
                Value::Null,
                node.id,
            );
            let path = match keys.linearizable {
                true => format!("/groups/{key}?consistency=linearizable"),
                false => format!("/groups/{key}"),
            };
            let reply = ctx
                .api
                .call(Method::GET, &node, &path, None, false, pace.timeout)
                .await;
            let value = reply
                .body
                .pointer("/properties/v")
                .cloned()
                .unwrap_or(Value::Null);
            p.finish(&ctx.rec, &reply, Some(value))
        };
        if outcome == Outcome::Info {
            process = ctx.new_process();
        }
        // The client that completes a key's last operation rotates the slot to a new group.
        if s.ops.fetch_add(1, Ordering::SeqCst) + 1 == keys.ops_per_key
            && s.generation
                .compare_exchange(
                    generation,
                    generation + 1,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok()
        {
            create_group(&ctx, &Keys::name(slot, generation + 1)).await;
            s.ops.store(0, Ordering::SeqCst);
        }
        sleep(pace.delay).await;
    }
}
