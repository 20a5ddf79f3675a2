//! This host's processes as the local spawner sees them: liveness, identity (pid + start
//! time) and the adoption marker in the environment. The controller lists the backend
//! every round (about every 100 ms while state changes), so a scan must not cost a read of
//! every process's environment each time: a process's marker is read once per (pid, start
//! time) and remembered, and only process-group leaders (every server starts as one) are
//! looked at.

use std::collections::HashMap;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Environment variable carrying the adoption marker.
pub const MARKER: &str = "RAFTHUB_SERVER";

/// Who a server process belongs to: (cluster, generation, user, server).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Marker {
    pub c: String,
    pub g: u64,
    pub u: String,
    pub s: String,
}

/// The fields of `/proc/<pid>/stat` the spawner uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stat {
    /// `R`, `S`, ... (`Z` zombie, `X` dead).
    pub state: char,
    pub pgrp: i32,
    /// Start time in clock ticks since boot: with the pid it names one process for good,
    /// and unlike the environment it stays readable while the process execs (a wrapper such
    /// as `#!/usr/bin/env python3` or a pyenv shim has no readable environment for a moment
    /// at each exec, and a poll in that moment took the server for dead).
    pub start: u64,
}

impl Stat {
    pub fn alive(&self) -> bool {
        self.state != 'Z' && self.state != 'X'
    }
}

pub(super) fn stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: fields follow ") ".
    let (_, rest) = text.rsplit_once(") ")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: f.first()?.chars().next()?,
        pgrp: f.get(2)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

pub(super) fn alive(pid: i32) -> bool {
    stat(pid).is_some_and(|s| s.alive())
}

/// The marker and `RAFTHUB_PORT` of a process; `None` when its environment cannot be read
/// or is empty (gone, not ours to read, or in the middle of an exec).
fn environment(pid: i32) -> Option<(Option<Marker>, Option<u16>)> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    if env.is_empty() {
        return None;
    }
    let vars = || {
        env.split(|b| *b == 0)
            .filter_map(|kv| std::str::from_utf8(kv).ok())
    };
    let marker = vars()
        .find_map(|kv| kv.strip_prefix(MARKER).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| serde_json::from_str(v).ok());
    let port = vars()
        .find_map(|kv| kv.strip_prefix("RAFTHUB_PORT="))
        .and_then(|p| p.parse().ok());
    Some((marker, port))
}

pub(super) fn marker_of(pid: i32) -> Option<Marker> {
    environment(pid).and_then(|(m, _)| m)
}

/// One server process found by a scan.
pub(super) struct Seen {
    pub pid: i32,
    pub start: u64,
    pub marker: Marker,
    pub port: Option<u16>,
}

/// Markers already read, by pid, with the start time they were read for.
pub(super) type Known = HashMap<i32, (u64, Option<(Marker, Option<u16>)>)>;

#[derive(Default)]
pub(super) struct Scanner {
    pub(super) known: Mutex<Known>,
}

impl Scanner {
    /// Live processes carrying a marker of `cluster`.
    pub fn scan(&self, cluster: &str) -> Vec<Seen> {
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut known = self.known.lock();
        let mut next = Known::with_capacity(known.len());
        let mut out = Vec::new();
        for ent in rd.flatten() {
            let Some(pid) = ent.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Some(st) = stat(pid) else { continue };
            if !st.alive() || st.pgrp != pid {
                continue;
            }
            let entry = match known.remove(&pid) {
                Some((start, m)) if start == st.start => Some(m),
                _ => environment(pid).map(|(m, port)| m.map(|m| (m, port))),
            };
            // Unreadable now (mid-exec): not remembered, read again next scan.
            let Some(entry) = entry else { continue };
            if let Some((m, port)) = &entry {
                if m.c == cluster {
                    out.push(Seen {
                        pid,
                        start: st.start,
                        marker: m.clone(),
                        port: *port,
                    });
                }
            }
            next.insert(pid, (st.start, entry));
        }
        *known = next;
        out
    }
}
