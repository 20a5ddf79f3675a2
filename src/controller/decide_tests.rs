//! Table-driven tests of the controller's decisions.

use super::*;

const T: Timeouts = Timeouts {
    spawn_deadline_us: 100_000_000,
    missing_rounds: 2,
};

fn slot(phase: Phase, generation: u64, requested_at: Option<Ts>) -> Slot {
    Slot {
        user: "alice".into(),
        server: String::new(),
        desired: match phase {
            Phase::Spawning | Phase::Ready => Desired::Running,
            _ => Desired::Stopped,
        },
        phase,
        generation,
        requested_at,
    }
}

fn seen(gens: &[u64], missing: u32) -> Seen {
    Seen {
        generations: gens.to_vec(),
        missing_rounds: missing,
    }
}

#[track_caller]
fn check(s: Slot, seen: Seen, busy: Busy, now: Ts, expect: Vec<Action>) {
    assert_eq!(decide(&s, &seen, busy, now, &T), expect);
}

#[test]
fn spawning_without_an_attempt_starts_or_adopts_it() {
    // Fresh spawn, nothing in the backend: start attempt 3.
    check(
        slot(Phase::Spawning, 3, Some(0)),
        seen(&[], 0),
        Busy::Idle,
        1,
        vec![Action::Spawn { generation: 3 }],
    );
    // A new leader finds attempt 3 already running: the attempt adopts it (same action).
    check(
        slot(Phase::Spawning, 3, Some(0)),
        seen(&[3], 0),
        Busy::Idle,
        1,
        vec![Action::Spawn { generation: 3 }],
    );
    // A leftover of attempt 2 is stale and removed while attempt 3 starts.
    check(
        slot(Phase::Spawning, 3, Some(0)),
        seen(&[2], 0),
        Busy::Idle,
        1,
        vec![
            Action::Spawn { generation: 3 },
            Action::KillStale {
                generations: vec![2],
            },
        ],
    );
}

#[test]
fn an_attempt_in_progress_is_left_alone_until_its_deadline() {
    check(
        slot(Phase::Spawning, 3, Some(0)),
        seen(&[3], 0),
        Busy::Spawning(3),
        50_000_000,
        vec![],
    );
    check(
        slot(Phase::Spawning, 3, Some(0)),
        seen(&[3], 0),
        Busy::Spawning(3),
        100_000_001,
        vec![Action::Fail {
            generation: 3,
            message: "Spawn timed out".into(),
        }],
    );
    // A task for an older attempt does not count as working on this one.
    check(
        slot(Phase::Spawning, 4, Some(0)),
        seen(&[], 0),
        Busy::Spawning(3),
        1,
        vec![Action::Spawn { generation: 4 }],
    );
}

#[test]
fn overdue_spawn_with_no_attempt_fails_instead_of_restarting() {
    check(
        slot(Phase::Spawning, 1, Some(0)),
        seen(&[], 0),
        Busy::Idle,
        200_000_000,
        vec![Action::Fail {
            generation: 1,
            message: "Spawn timed out".into(),
        }],
    );
}

#[test]
fn stopping_runs_one_stop_attempt() {
    check(
        slot(Phase::Stopping, 2, Some(0)),
        seen(&[2], 0),
        Busy::Idle,
        1,
        vec![Action::Stop { generation: 2 }],
    );
    check(
        slot(Phase::Stopping, 2, Some(0)),
        seen(&[2], 0),
        Busy::Stopping(2),
        1,
        vec![],
    );
    // Nothing left in the backend: the stop attempt only records it.
    check(
        slot(Phase::Stopping, 2, Some(0)),
        seen(&[], 0),
        Busy::Idle,
        1,
        vec![Action::Stop { generation: 2 }],
    );
}

#[test]
fn a_ready_server_that_vanished_is_marked_stopped_after_consecutive_misses() {
    check(
        slot(Phase::Ready, 5, None),
        seen(&[5], 0),
        Busy::Idle,
        1,
        vec![],
    );
    check(
        slot(Phase::Ready, 5, None),
        seen(&[], 1),
        Busy::Idle,
        1,
        vec![],
    );
    check(
        slot(Phase::Ready, 5, None),
        seen(&[], 2),
        Busy::Idle,
        1,
        vec![Action::MarkStopped {
            generation: 5,
            reason: "Server exited".into(),
        }],
    );
}

#[test]
fn stopped_servers_keep_nothing_running() {
    check(
        slot(Phase::Stopped, 5, None),
        seen(&[], 0),
        Busy::Idle,
        1,
        vec![],
    );
    check(
        slot(Phase::Stopped, 5, None),
        seen(&[5, 4], 0),
        Busy::Idle,
        1,
        vec![Action::KillStale {
            generations: vec![5, 4],
        }],
    );
    // Ready server plus a stale older attempt: only the stale one goes.
    check(
        slot(Phase::Ready, 5, None),
        seen(&[4, 5], 0),
        Busy::Idle,
        1,
        vec![Action::KillStale {
            generations: vec![4],
        }],
    );
}
