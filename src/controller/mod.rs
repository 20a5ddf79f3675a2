//! The controller: runs only on the leader and makes the backend match the replicated
//! desired state (DESIGN invariants 4 and 5).
//!
//! Level-triggered: every round (after each applied change other than activity, and at
//! least every second) it lists what the backend runs, compares with the state (`decide`),
//! and starts spawn or stop attempts as tasks. When leadership is lost every attempt is aborted at once; the next
//! leader's controller finds the same picture and adopts what is running.

mod attempt;
pub mod decide;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rafthub_raft::command::Command;
use rafthub_raft::state::model::{Phase, Server, User};
use tokio::task::JoinHandle;

pub use attempt::client_id;
use decide::{Action, Busy, Seen, Slot, Timeouts};

use crate::hub::Hub;
use crate::spawner::{Spawner, SpawnerConfig};

type Key = (String, String);

/// The longest time between two rounds while leading.
const ROUND_EVERY: Duration = Duration::from_secs(1);

pub struct Controller {
    hub: Hub,
    spawner: Arc<dyn Spawner>,
    cfg: SpawnerConfig,
    /// `JUPYTERHUB_API_URL` handed to servers.
    hub_api_url: String,
    http: reqwest::Client,
    busy: Mutex<HashMap<Key, (Busy, JoinHandle<()>)>>,
    missing: Mutex<HashMap<Key, u32>>,
    /// The term whose first entry this replica has applied as leader (see `run`).
    synced_term: Mutex<Option<u64>>,
}

impl Controller {
    pub fn new(
        hub: Hub,
        spawner: Arc<dyn Spawner>,
        cfg: SpawnerConfig,
        hub_api_url: String,
    ) -> Arc<Controller> {
        Arc::new(Controller {
            hub,
            spawner,
            cfg,
            hub_api_url,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(5))
                .build()
                .expect("http client"),
            busy: Mutex::new(HashMap::new()),
            missing: Mutex::new(HashMap::new()),
            synced_term: Mutex::new(None),
        })
    }

    fn done(&self, user: &str, server: &str) {
        self.busy
            .lock()
            .remove(&(user.to_string(), server.to_string()));
    }

    /// Aborts every attempt: this replica is no longer the leader.
    fn stand_down(&self) {
        for (_, (_, h)) in self.busy.lock().drain() {
            h.abort();
        }
        self.missing.lock().clear();
    }

    fn timeouts(&self) -> Timeouts {
        Timeouts {
            spawn_deadline_us: ((self.cfg.start_timeout_s + self.cfg.http_timeout_s + 30)
                * 1_000_000) as i64,
            missing_rounds: 3,
        }
    }

    /// One reconciliation round.
    async fn round(self: &Arc<Self>) {
        // Until the backend's cache is complete, "not seen" means nothing: no round.
        if !self.spawner.synced() {
            return;
        }
        let found = self.spawner.list_keys().await;
        let mut seen: HashMap<Key, Vec<u64>> = HashMap::new();
        for (user, server, generation) in &found {
            seen.entry((user.clone(), server.clone()))
                .or_default()
                .push(*generation);
        }
        // Interesting slots: every active server (an index of the state, so the cost follows
        // running servers, not users) and every server the backend runs.
        let slots: Vec<Slot> = {
            let st = self.hub.node.state();
            let slot = |u: &User, s: &Server| Slot {
                user: u.name.clone(),
                server: s.name.clone(),
                desired: s.desired,
                phase: s.phase.clone(),
                generation: s.generation,
                requested_at: s.requested_at,
            };
            let mut slots: Vec<Slot> = st.active_server_list().map(|(u, s)| slot(u, s)).collect();
            for (user, server) in seen.keys() {
                if let Some((u, s)) = st
                    .user(user)
                    .and_then(|u| u.servers.get(server).map(|s| (u, s)))
                {
                    if s.phase == Phase::Stopped {
                        slots.push(slot(u, s));
                    }
                }
            }
            slots
        };
        let now = crate::timefmt::now();
        let t = self.timeouts();
        let mut known = std::collections::HashSet::new();
        for slot in slots {
            let key = (slot.user.clone(), slot.server.clone());
            known.insert(key.clone());
            let gens = seen.get(&key).cloned().unwrap_or_default();
            let missing = {
                let mut m = self.missing.lock();
                let c = m.entry(key.clone()).or_insert(0);
                *c = if slot.phase == Phase::Ready && !gens.contains(&slot.generation) {
                    *c + 1
                } else {
                    0
                };
                *c
            };
            let busy = self
                .busy
                .lock()
                .get(&key)
                .map(|(b, _)| *b)
                .unwrap_or(Busy::Idle);
            let seen = Seen {
                generations: gens,
                missing_rounds: missing,
            };
            for action in decide::decide(&slot, &seen, busy, now, &t) {
                self.act(&slot, action).await;
            }
        }
        // Objects of users or servers the state no longer has: stop them.
        let orphaned = found
            .iter()
            .any(|(u, s, _)| !known.contains(&(u.clone(), s.clone())));
        let orphans = match orphaned {
            true => self.spawner.list().await,
            false => Vec::new(),
        };
        for f in orphans
            .iter()
            .filter(|f| !known.contains(&(f.user.clone(), f.server.clone())))
        {
            tracing::info!(user = %f.user, server = %f.server, "stopping an orphaned server");
            let _ = self
                .spawner
                .stop(&f.state, Duration::from_secs(self.cfg.stop_grace_s))
                .await;
        }
    }

    /// The backend objects of one slot, with their states (to stop them).
    async fn objects_of(&self, slot: &Slot) -> Vec<crate::spawner::Found> {
        let mut found = self.spawner.list().await;
        found.retain(|f| f.user == slot.user && f.server == slot.server);
        found
    }

    async fn act(self: &Arc<Self>, slot: &Slot, action: Action) {
        let key = (slot.user.clone(), slot.server.clone());
        match action {
            Action::Spawn { generation } => {
                let me = self.clone();
                let (u, s) = key.clone();
                let h = tokio::spawn(me.spawn_attempt(u, s, generation));
                if let Some((_, old)) = self
                    .busy
                    .lock()
                    .insert(key, (Busy::Spawning(generation), h))
                {
                    old.abort();
                }
            }
            Action::Stop { generation } => {
                let me = self.clone();
                let (u, s) = key.clone();
                let h = tokio::spawn(me.stop_attempt(u, s, generation));
                if let Some((_, old)) = self
                    .busy
                    .lock()
                    .insert(key, (Busy::Stopping(generation), h))
                {
                    old.abort();
                }
            }
            Action::MarkStopped { generation, reason } => {
                tracing::info!(user = %slot.user, server = %slot.server, %reason, "server is gone");
                // What is left of it (an evicted or exited pod) goes too, as upstream's
                // `delete_stopped_pods`; a no-op for a process that is gone.
                let state = self.server_state(&slot.user, &slot.server);
                let _ = self
                    .spawner
                    .stop(&state, Duration::from_secs(self.cfg.stop_grace_s))
                    .await;
                let _ = self
                    .hub
                    .node
                    .write(Command::ServerStopped {
                        user: slot.user.clone(),
                        server: slot.server.clone(),
                        generation,
                    })
                    .await;
            }
            Action::Fail {
                generation,
                message,
            } => {
                if let Some((_, h)) = self.busy.lock().remove(&key) {
                    h.abort();
                }
                for f in self.objects_of(slot).await {
                    let _ = self
                        .spawner
                        .stop(&f.state, Duration::from_secs(self.cfg.stop_grace_s))
                        .await;
                }
                let _ = self
                    .hub
                    .node
                    .write(Command::SpawnFailed {
                        user: slot.user.clone(),
                        server: slot.server.clone(),
                        generation,
                        message,
                    })
                    .await;
            }
            Action::KillStale { generations } => {
                let objects = self.objects_of(slot).await;
                for f in objects
                    .iter()
                    .filter(|f| generations.contains(&f.generation))
                {
                    tracing::info!(user = %f.user, server = %f.server, generation = f.generation, "stopping a stale server");
                    let _ = self
                        .spawner
                        .stop(&f.state, Duration::from_secs(self.cfg.stop_grace_s))
                        .await;
                }
            }
        }
    }

    /// Whether this leader has applied everything committed before its term. A new leader
    /// holds every committed entry but may not have applied them all, and an attempt the
    /// old leader began (and may have started) would look fresh and be started twice; the
    /// read index waits for the first entry of this term.
    async fn synced(&self) -> bool {
        let term = self.hub.node.raft().metrics().borrow().current_term;
        if *self.synced_term.lock() == Some(term) {
            return true;
        }
        let ok = self
            .hub
            .node
            .linearizable_barrier(Duration::from_secs(5))
            .await
            .is_ok();
        if ok {
            *self.synced_term.lock() = Some(term);
        }
        ok
    }

    /// Runs rounds while this replica leads; stands down the moment it does not.
    pub async fn run(self: Arc<Self>) {
        let mut applied = self.hub.node.applied();
        let mut metrics = self.hub.node.raft().metrics();
        // A round after every change but activity, and at least every second (timeouts).
        let mut last: Option<(u64, tokio::time::Instant)> = None;
        loop {
            if *self.hub.shutdown.borrow() {
                self.stand_down();
                return;
            }
            let leading =
                self.hub.node.is_leader() && self.hub.node.state().cluster_config().is_some();
            let version = applied.borrow_and_update().servers_version;
            let due = last.is_none_or(|(v, at)| v != version || at.elapsed() >= ROUND_EVERY);
            if leading && due && self.synced().await {
                self.round().await;
                last = Some((version, tokio::time::Instant::now()));
            } else if !leading {
                self.stand_down();
                last = None;
            }
            tokio::select! {
                _ = applied.changed() => {}
                _ = metrics.changed() => {}
                _ = tokio::time::sleep(ROUND_EVERY) => {}
            }
            if !self.hub.node.is_leader() {
                self.stand_down();
            }
            // Rounds are level-triggered: under a burst of applied changes one round every
            // 100 ms sees them all.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
