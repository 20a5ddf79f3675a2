//! Coalesced activity (DESIGN invariant 8).
//!
//! Activity reports (the activity API, proxied traffic, token use) are merged in memory with
//! max() and replicated as one `RecordActivity` command per flush interval. A storm of N
//! reports for the same server costs one map update each and one replicated item per interval,
//! so the replicated cost does not grow with the request rate.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rafthub_raft::command::{ActivityItem, Command, TokenActivity};
use rafthub_raft::node::Node;
use rafthub_raft::state::model::Ts;

/// Items per replicated command: keeps each Raft entry far below the entry size cap.
const CHUNK: usize = 1000;

#[derive(Default)]
struct Pending {
    /// (user id, server name or None for user-only activity) → newest timestamp.
    servers: HashMap<(u64, Option<String>), Ts>,
    tokens: HashMap<u64, Ts>,
}

#[derive(Default)]
pub struct ActivityBuffer {
    pending: Mutex<Pending>,
}

fn max_into<K: std::hash::Hash + Eq>(m: &mut HashMap<K, Ts>, k: K, ts: Ts) {
    m.entry(k).and_modify(|v| *v = (*v).max(ts)).or_insert(ts);
}

impl ActivityBuffer {
    /// User (and, with `server`, server) activity at `ts`.
    pub fn record(&self, user_id: u64, server: Option<&str>, ts: Ts) {
        let mut p = self.pending.lock();
        max_into(&mut p.servers, (user_id, server.map(str::to_string)), ts);
    }

    pub fn record_token(&self, token_id: u64, ts: Ts) {
        max_into(&mut self.pending.lock().tokens, token_id, ts);
    }

    /// Everything buffered so far, as replicable commands.
    pub fn drain(&self) -> Vec<Command> {
        let p = std::mem::take(&mut *self.pending.lock());
        let items: Vec<ActivityItem> = p
            .servers
            .into_iter()
            .map(|((user_id, server), ts)| ActivityItem {
                user_id,
                server,
                ts,
            })
            .collect();
        let tokens: Vec<TokenActivity> = p
            .tokens
            .into_iter()
            .map(|(token_id, ts)| TokenActivity { token_id, ts })
            .collect();
        let mut cmds = Vec::new();
        for chunk in items.chunks(CHUNK) {
            cmds.push(Command::RecordActivity {
                items: chunk.to_vec(),
                tokens: Vec::new(),
            });
        }
        for chunk in tokens.chunks(CHUNK) {
            cmds.push(Command::RecordActivity {
                items: Vec::new(),
                tokens: chunk.to_vec(),
            });
        }
        cmds
    }

    /// Puts a command's items back after a failed flush, so nothing is lost.
    pub fn restore(&self, cmd: &Command) {
        if let Command::RecordActivity { items, tokens } = cmd {
            for it in items {
                self.record(it.user_id, it.server.as_deref(), it.ts);
            }
            for t in tokens {
                self.record_token(t.token_id, t.ts);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        let p = self.pending.lock();
        p.servers.is_empty() && p.tokens.is_empty()
    }
}

/// Flushes the buffer every `every` until the node shuts down.
pub async fn flusher(
    node: Arc<Node>,
    buffer: Arc<ActivityBuffer>,
    every: Duration,
    extra: impl Fn() + Send + 'static,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        extra();
        for cmd in buffer.drain() {
            if let Err(e) = node.write(cmd.clone()).await {
                tracing::debug!(error = %e, "activity flush failed; keeping it for the next one");
                buffer.restore(&cmd);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storm_of_reports_coalesces_to_one_item_per_server() {
        let b = ActivityBuffer::default();
        for i in 0..10_000 {
            b.record(1, Some(""), 1000 + (i % 7));
            b.record(2, None, 5);
            b.record_token(9, i);
        }
        let cmds = b.drain();
        let mut items = Vec::new();
        let mut toks = Vec::new();
        for c in &cmds {
            if let Command::RecordActivity {
                items: i,
                tokens: t,
            } = c
            {
                items.extend(i.clone());
                toks.extend(t.clone());
            }
        }
        items.sort_by_key(|i| i.user_id);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].ts, 1006);
        assert_eq!(
            toks,
            vec![TokenActivity {
                token_id: 9,
                ts: 9999
            }]
        );
        assert!(b.is_empty());
        b.restore(&cmds[0]);
        assert!(!b.is_empty());
    }
}
