//! The operation history: every client operation with its invoke and completion time and
//! outcome, plus the nemesis windows and node down-times, recorded while a run executes.
//!
//! Checkers work on [`History`], never on live state, so a saved history (JSON lines) can be
//! re-checked offline with `rafthub-jepsen check`. The JSON-lines form follows Jepsen: one
//! line per event (`invoke`, then `ok` / `fail` / `info` from the same process), so a process
//! has at most one operation outstanding; a process whose operation ended `info` retires.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How an operation ended. `Info` means the outcome is unknown (timeout, 503, connection
/// reset after sending): the operation may or may not have taken effect, at any later time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Fail,
    Info,
}

/// One client operation. Times are nanoseconds since the start of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    pub process: u64,
    /// What was done: `create`, `read`, `write`, `read-all`, `proxy-get`, ...
    pub f: String,
    /// The register or group the operation acts on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Argument of a write/create; result of a read (after completion).
    #[serde(default)]
    pub value: Value,
    /// Replica the request was sent to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<u64>,
    pub invoke_ns: u64,
    pub complete_ns: u64,
    pub outcome: Outcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Op {
    pub fn latency_ms(&self) -> f64 {
        self.complete_ns.saturating_sub(self.invoke_ns) as f64 / 1e6
    }
}

/// A fault the nemesis injected, from injection to heal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NemesisWindow {
    /// `kill`, `kill-leader`, `pause`, `partition-halves`, ...
    pub kind: String,
    pub description: String,
    #[serde(default)]
    pub nodes: Vec<u64>,
    pub start_ns: u64,
    pub end_ns: u64,
}

/// A replica that could not serve: from kill/pause until it was restarted and ready/resumed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownWindow {
    pub node: u64,
    pub start_ns: u64,
    pub end_ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub ops: Vec<Op>,
    pub nemesis: Vec<NemesisWindow>,
    pub down: Vec<DownWindow>,
    /// Periods in which the harness itself was not scheduled on time (its observations,
    /// e.g. timeouts, are unreliable then). `node` is 0.
    #[serde(default)]
    pub stalls: Vec<DownWindow>,
}

/// One line of the JSON-lines history: `{"type": "invoke" | "ok" | "fail" | "info" | ...}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum Line {
    Invoke(Invocation),
    Ok(Completion),
    Fail(Completion),
    Info(Completion),
    Nemesis(NemesisWindow),
    Down(DownWindow),
    Stall(DownWindow),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Invocation {
    process: u64,
    f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default)]
    value: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    node: Option<u64>,
    time: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Completion {
    process: u64,
    f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default)]
    value: Value,
    time: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl History {
    /// Writes one line per event, ordered by time.
    pub fn write_jsonl(&self, mut w: impl Write) -> std::io::Result<()> {
        let mut lines: Vec<(u64, u8, Line)> = Vec::with_capacity(self.ops.len() * 2);
        for o in &self.ops {
            let invoke_value = match (o.f.as_str(), o.outcome) {
                // Reads carry their result only on completion, as in Jepsen.
                ("read" | "read-all", _) => Value::Null,
                _ => o.value.clone(),
            };
            let invoke = Invocation {
                process: o.process,
                f: o.f.clone(),
                key: o.key.clone(),
                value: invoke_value,
                node: o.node,
                time: o.invoke_ns,
            };
            lines.push((o.invoke_ns, 0, Line::Invoke(invoke)));
            let done = Completion {
                process: o.process,
                f: o.f.clone(),
                key: o.key.clone(),
                value: o.value.clone(),
                time: o.complete_ns,
                error: o.error.clone(),
            };
            let line = match o.outcome {
                Outcome::Ok => Line::Ok(done),
                Outcome::Fail => Line::Fail(done),
                Outcome::Info => Line::Info(done),
            };
            lines.push((o.complete_ns, 1, line));
        }
        for n in &self.nemesis {
            lines.push((n.start_ns, 2, Line::Nemesis(n.clone())));
        }
        for d in &self.down {
            lines.push((d.start_ns, 2, Line::Down(d.clone())));
        }
        for d in &self.stalls {
            lines.push((d.start_ns, 2, Line::Stall(d.clone())));
        }
        lines.sort_by_key(|(t, k, _)| (*t, *k));
        for (_, _, l) in lines {
            serde_json::to_writer(&mut w, &l)?;
            w.write_all(b"\n")?;
        }
        w.flush()
    }

    /// Reads a history written by [`History::write_jsonl`]: a completion belongs to the
    /// outstanding invoke of the same process. An invoke never completed becomes `info`.
    pub fn read_jsonl(r: impl BufRead) -> anyhow::Result<History> {
        let mut h = History::default();
        let mut open: std::collections::HashMap<u64, Op> = Default::default();
        let mut last_time = 0;
        for (n, line) in r.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let l: Line = serde_json::from_str(&line)
                .map_err(|e| anyhow::anyhow!("history line {}: {e}", n + 1))?;
            let (outcome, done) = match l {
                Line::Invoke(i) => {
                    last_time = last_time.max(i.time);
                    let op = Op {
                        process: i.process,
                        f: i.f,
                        key: i.key,
                        value: i.value,
                        node: i.node,
                        invoke_ns: i.time,
                        complete_ns: i.time,
                        outcome: Outcome::Info,
                        error: None,
                    };
                    if open.insert(i.process, op).is_some() {
                        anyhow::bail!(
                            "history line {}: process {} invoked twice without completing",
                            n + 1,
                            i.process
                        );
                    }
                    continue;
                }
                Line::Ok(c) => (Outcome::Ok, c),
                Line::Fail(c) => (Outcome::Fail, c),
                Line::Info(c) => (Outcome::Info, c),
                Line::Nemesis(w) => {
                    h.nemesis.push(w);
                    continue;
                }
                Line::Down(d) => {
                    h.down.push(d);
                    continue;
                }
                Line::Stall(d) => {
                    h.stalls.push(d);
                    continue;
                }
            };
            last_time = last_time.max(done.time);
            let mut op = open.remove(&done.process).ok_or_else(|| {
                anyhow::anyhow!(
                    "history line {}: completion without invoke (process {})",
                    n + 1,
                    done.process
                )
            })?;
            op.outcome = outcome;
            op.value = done.value;
            op.complete_ns = done.time;
            op.error = done.error;
            h.ops.push(op);
        }
        for (_, mut op) in open {
            op.complete_ns = last_time;
            h.ops.push(op);
        }
        h.ops.sort_by_key(|o| (o.invoke_ns, o.process));
        Ok(h)
    }

    /// End of the history: the latest time anything happened.
    pub fn end_ns(&self) -> u64 {
        let ops = self.ops.iter().map(|o| o.complete_ns);
        let nem = self.nemesis.iter().map(|n| n.end_ns);
        ops.chain(nem).max().unwrap_or(0)
    }
}

/// Thread-safe recorder shared by every client and the nemesis during a run.
#[derive(Clone)]
pub struct Recorder {
    start: Instant,
    inner: Arc<std::sync::Mutex<History>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            start: Instant::now(),
            inner: Default::default(),
        }
    }

    /// Nanoseconds since the run started (monotonic).
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub fn push(&self, op: Op) {
        self.lock().ops.push(op);
    }

    pub fn nemesis(&self, w: NemesisWindow) {
        self.lock().nemesis.push(w);
    }

    pub fn down(&self, node: u64, start_ns: u64, end_ns: u64) {
        self.lock().down.push(DownWindow {
            node,
            start_ns,
            end_ns,
        });
    }

    pub fn stall(&self, start_ns: u64, end_ns: u64) {
        self.lock().stalls.push(DownWindow {
            node: 0,
            start_ns,
            end_ns,
        });
    }

    /// Watches the harness's own scheduling until `deadline`: a 50 ms sleep that returns
    /// more than `threshold` late means the harness (or the whole machine) was stalled, and
    /// the window is recorded. Checkers do not blame the cluster for what the harness could
    /// not observe in time.
    pub async fn watch_stalls(
        self,
        deadline: tokio::time::Instant,
        threshold: std::time::Duration,
    ) {
        let tick = std::time::Duration::from_millis(50);
        while tokio::time::Instant::now() < deadline {
            let start = self.now();
            let t0 = tokio::time::Instant::now();
            tokio::time::sleep(tick).await;
            if t0.elapsed() > tick + threshold {
                self.stall(start, self.now());
            }
        }
    }

    /// A copy of everything recorded so far, ops sorted by invoke time.
    pub fn snapshot(&self) -> History {
        let mut h = self.lock().clone();
        h.ops.sort_by_key(|o| (o.invoke_ns, o.process));
        h
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, History> {
        // A panicking client must not hide the history of the others.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_round_trips() {
        let op = |p, f: &str, v: Value, t0, t1, outcome| Op {
            process: p,
            f: f.into(),
            key: Some("k".into()),
            value: v,
            node: Some(1),
            invoke_ns: t0,
            complete_ns: t1,
            outcome,
            error: None,
        };
        let h = History {
            ops: vec![
                op(0, "write", 1.into(), 0, 10, Outcome::Ok),
                op(1, "read", 1.into(), 5, 20, Outcome::Ok),
                op(2, "write", 2.into(), 6, 30, Outcome::Info),
            ],
            nemesis: vec![NemesisWindow {
                kind: "kill".into(),
                description: "kill n1".into(),
                nodes: vec![1],
                start_ns: 3,
                end_ns: 40,
            }],
            down: vec![DownWindow {
                node: 1,
                start_ns: 3,
                end_ns: 45,
            }],
            stalls: vec![DownWindow {
                node: 0,
                start_ns: 7,
                end_ns: 9,
            }],
        };
        let mut buf = Vec::new();
        h.write_jsonl(&mut buf).expect("write");
        let text = String::from_utf8(buf.clone()).expect("utf8");
        assert!(text
            .lines()
            .next()
            .expect("line")
            .contains("\"type\":\"invoke\""));
        let back = History::read_jsonl(&buf[..]).expect("read");
        assert_eq!(back, h);
    }
}
