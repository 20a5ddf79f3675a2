//! The controller's decisions as a pure function (sans-IO, like openraft's `Engine`): given
//! what the replicated state wants for one server, what the backend shows, and what this
//! leader is already doing, return the actions to take. Unit-tested by asserting outputs.

use rafthub_raft::state::model::{Desired, Phase, Ts};

/// One server as the replicated state describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub user: String,
    pub server: String,
    pub desired: Desired,
    pub phase: Phase,
    pub generation: u64,
    pub requested_at: Option<Ts>,
}

/// What the backend shows for a slot: the generations of the objects it runs for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    pub generations: Vec<u64>,
    /// Consecutive controller rounds in which a ready server was not seen.
    pub missing_rounds: u32,
}

/// What this leader is doing for a slot right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    Idle,
    Spawning(u64),
    Stopping(u64),
}

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// start_timeout + http_timeout + slack, in microseconds: past this a spawn is failed
    /// even if its attempt task never reported (lost task, stuck backend).
    pub spawn_deadline_us: i64,
    /// Rounds a ready server may be missing from the backend before it counts as exited.
    pub missing_rounds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run (or adopt) the spawn attempt `generation`.
    Spawn { generation: u64 },
    /// Stop the backend object(s) of the slot, then record the stop of `generation`.
    Stop { generation: u64 },
    /// The server is gone on its own: record the stop.
    MarkStopped { generation: u64, reason: String },
    /// Give up the spawn attempt.
    Fail { generation: u64, message: String },
    /// Remove backend objects that no longer belong to an active attempt.
    KillStale { generations: Vec<u64> },
}

/// Decides for one slot.
pub fn decide(slot: &Slot, seen: &Seen, busy: Busy, now: Ts, t: &Timeouts) -> Vec<Action> {
    let mut out = Vec::new();
    let g = slot.generation;
    // Objects of older attempts (or of a server that should not run) are stale.
    let keep = match slot.phase {
        Phase::Spawning | Phase::Ready => Some(g),
        Phase::Stopping | Phase::Stopped => None,
    };
    let stale: Vec<u64> = seen
        .generations
        .iter()
        .copied()
        .filter(|x| Some(*x) != keep)
        .collect();
    match slot.phase {
        Phase::Spawning => {
            let overdue = slot
                .requested_at
                .is_some_and(|r| now - r > t.spawn_deadline_us);
            match busy {
                Busy::Spawning(b) if b == g => {
                    if overdue {
                        out.push(Action::Fail {
                            generation: g,
                            message: "Spawn timed out".into(),
                        });
                    }
                }
                _ if overdue => out.push(Action::Fail {
                    generation: g,
                    message: "Spawn timed out".into(),
                }),
                _ => out.push(Action::Spawn { generation: g }),
            }
        }
        Phase::Stopping => {
            if busy != Busy::Stopping(g) {
                out.push(Action::Stop { generation: g });
            }
            // The stop attempt removes every object of the slot, stale ones included.
            return out;
        }
        Phase::Ready => {
            if !seen.generations.contains(&g)
                && seen.missing_rounds >= t.missing_rounds
                && busy == Busy::Idle
            {
                out.push(Action::MarkStopped {
                    generation: g,
                    reason: "Server exited".into(),
                });
            }
        }
        Phase::Stopped => {}
    }
    if !stale.is_empty() && !matches!(busy, Busy::Stopping(_)) {
        out.push(Action::KillStale { generations: stale });
    }
    let _ = slot.desired;
    out
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
