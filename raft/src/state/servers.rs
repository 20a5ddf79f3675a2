//! Apply of the server life cycle: named server rows, admission, spawn progress, ready,
//! failure and stop.
//!
//! Controller commands name the spawn attempt (`generation`): a command for an older attempt
//! (from a deposed leader's controller, or a stop racing a restart) is ignored, so a stale
//! actor can never mark a newer spawn ready or stopped.

use serde_json::Value;

use super::{model::*, Dirty, HubState, Key};
use crate::command::{Command, Outcome};

/// Progress events kept per spawn; a spawner that reports more loses the oldest ones.
const MAX_PROGRESS_EVENTS: usize = 200;

/// Upstream's `Spawner._log_name`, used in its error messages: `alice` or `alice:gpu`.
fn server_label(user: &str, server: &str) -> String {
    if server.is_empty() {
        user.to_string()
    } else {
        format!("{user}:{server}")
    }
}

impl HubState {
    fn server_mut(&mut self, user: &str, server: &str) -> Option<(u64, &mut Server)> {
        let id = *self.user_by_name.get(user)?;
        let u = self.users.get_mut(&id)?;
        u.servers.get_mut(server).map(|s| (id, s))
    }

    fn drop_route(&mut self, spec: Option<String>, dirty: &mut Dirty) {
        if let Some(spec) = spec {
            if self.routes.remove(&spec).is_some() {
                dirty.insert(Key::Route(spec));
            }
        }
    }

    pub(super) fn put_server(
        &mut self,
        user: &str,
        server: &str,
        display_name: &Option<String>,
        user_options: &Value,
        limit: Option<u32>,
        dirty: &mut Dirty,
    ) -> Outcome {
        let Some(&uid) = self.user_by_name.get(user) else {
            return Outcome::NotFound(format!("No such user: {user}"));
        };
        let u = self.users.get_mut(&uid).expect("indexed user exists");
        if server.is_empty() || u.servers.contains_key(server) {
            return Outcome::Conflict(format!("Server {user}/{server} already exists"));
        }
        if let Some(limit) = limit {
            let named = u.servers.keys().filter(|n| !n.is_empty()).count();
            if limit > 0 && named >= limit as usize {
                return Outcome::Invalid(format!(
                    "User {user} already has the maximum of {limit} named servers.  One must be deleted before a new server can be created"
                ));
            }
        }
        u.servers.insert(
            server.to_string(),
            Server {
                name: server.to_string(),
                display_name: display_name.clone(),
                user_options: user_options.clone(),
                ..Server::default()
            },
        );
        dirty.insert(Key::User(uid));
        Outcome::Ok
    }

    pub(super) fn request_spawn(&mut self, cmd: &Command, now: Ts, dirty: &mut Dirty) -> Outcome {
        let Command::RequestSpawn {
            user,
            server,
            user_options,
            display_name,
            concurrent_spawn_limit,
            active_server_limit,
            named_server_limit,
        } = cmd
        else {
            unreachable!("request_spawn is only called with RequestSpawn")
        };
        let Some(&uid) = self.user_by_name.get(user) else {
            return Outcome::NotFound(format!("No such user: {user}"));
        };
        let label = server_label(user, server);
        if let Some(s) = self.users[&uid].servers.get(server) {
            match s.phase {
                Phase::Spawning => {
                    return Outcome::AlreadyPending(format!("{label} is pending spawn"))
                }
                Phase::Ready => return Outcome::Conflict(format!("{label} is already running")),
                Phase::Stopping => return Outcome::Conflict(format!("{label} is pending stop")),
                Phase::Stopped => {}
            }
        } else if let Some(limit) = named_server_limit {
            let named = self.users[&uid]
                .servers
                .keys()
                .filter(|n| !n.is_empty())
                .count();
            if !server.is_empty() && *limit > 0 && named >= *limit as usize {
                return Outcome::Invalid(format!(
                    "User {user} already has the maximum of {limit} named servers.  One must be deleted before a new server can be created"
                ));
            }
        }
        if *concurrent_spawn_limit > 0 && self.pending_spawns() >= *concurrent_spawn_limit as usize
        {
            return Outcome::TooMany {
                message: "Too many users trying to log in right now. Try again in".into(),
                retry: true,
            };
        }
        if *active_server_limit > 0 && self.active_servers() >= *active_server_limit as usize {
            return Outcome::TooMany {
                message: "Active user limit exceeded. Try again in a few minutes.".into(),
                retry: false,
            };
        }
        let u = self.users.get_mut(&uid).expect("indexed user exists");
        let s = u.servers.get_or_insert_with(server, || Server {
            name: server.clone(),
            user_options: Value::Object(Default::default()),
            ..Server::default()
        });
        if let Some(o) = user_options {
            s.user_options = o.clone();
        }
        if display_name.is_some() {
            s.display_name = display_name.clone();
        }
        s.generation += 1;
        s.phase = Phase::Spawning;
        s.desired = Desired::Running;
        s.requested_at = Some(now);
        s.started = Some(now);
        s.last_activity = Some(now);
        s.target = None;
        s.failure = None;
        s.remove_on_stop = false;
        s.progress.clear();
        let generation = s.generation;
        u.last_activity = Some(u.last_activity.map_or(now, |t| t.max(now)));
        dirty.insert(Key::User(uid));
        Outcome::Created(vec![generation])
    }

    pub(super) fn spawn_progress(&mut self, cmd: &Command, dirty: &mut Dirty) -> Outcome {
        let Command::SpawnProgress {
            user,
            server,
            generation,
            event,
            target,
            state,
            token_id,
        } = cmd
        else {
            unreachable!("spawn_progress is only called with SpawnProgress")
        };
        let Some((uid, s)) = self.server_mut(user, server) else {
            return Outcome::NotFound(format!("No such server {user}/{server}"));
        };
        if s.generation != *generation || s.phase != Phase::Spawning {
            return Outcome::Conflict("stale spawn attempt".into());
        }
        if s.progress.len() >= MAX_PROGRESS_EVENTS {
            s.progress.remove(0);
        }
        s.progress.push(event.clone());
        if target.is_some() {
            s.target = target.clone();
        }
        if let Some(st) = state {
            s.state = st.clone();
        }
        if token_id.is_some() {
            s.token_id = *token_id;
        }
        dirty.insert(Key::User(uid));
        Outcome::Ok
    }

    pub(super) fn server_ready(
        &mut self,
        user: &str,
        server: &str,
        generation: u64,
        target: &str,
        route: &Route,
        dirty: &mut Dirty,
    ) -> Outcome {
        let Some((uid, s)) = self.server_mut(user, server) else {
            return Outcome::NotFound(format!("No such server {user}/{server}"));
        };
        if s.generation != generation || s.phase != Phase::Spawning {
            return Outcome::Conflict("stale spawn attempt".into());
        }
        s.phase = Phase::Ready;
        s.target = Some(target.to_string());
        s.routespec = Some(route.routespec.clone());
        dirty.insert(Key::User(uid));
        self.routes.insert(route.routespec.clone(), route.clone());
        dirty.insert(Key::Route(route.routespec.clone()));
        Outcome::Ok
    }

    pub(super) fn spawn_failed(
        &mut self,
        user: &str,
        server: &str,
        generation: u64,
        message: &str,
        now: Ts,
        dirty: &mut Dirty,
    ) -> Outcome {
        let Some((uid, s)) = self.server_mut(user, server) else {
            return Outcome::NotFound(format!("No such server {user}/{server}"));
        };
        if s.generation != generation || s.phase == Phase::Stopped {
            return Outcome::Conflict("stale spawn attempt".into());
        }
        s.phase = Phase::Stopped;
        s.desired = Desired::Stopped;
        s.failure = Some(message.to_string());
        s.target = None;
        s.started = None;
        s.progress.push(ProgressEvent {
            progress: Some(100),
            message: format!("Spawn failed: {message}"),
            html_message: None,
            ts: now,
        });
        let route = s.routespec.take();
        let token = s.token_id.take();
        dirty.insert(Key::User(uid));
        self.drop_route(route, dirty);
        if let Some(t) = token {
            self.remove_token(t, dirty);
        }
        Outcome::Ok
    }

    pub(super) fn request_stop(
        &mut self,
        user: &str,
        server: &str,
        remove: bool,
        now: Ts,
        dirty: &mut Dirty,
    ) -> Outcome {
        let Some(&uid) = self.user_by_name.get(user) else {
            return Outcome::NotFound(format!("No such user: {user}"));
        };
        if remove && server.is_empty() {
            return Outcome::Invalid("Cannot delete the default server".into());
        }
        let u = self.users.get_mut(&uid).expect("indexed user exists");
        let Some(s) = u.servers.get_mut(server) else {
            if server.is_empty() {
                return Outcome::Ok; // stopping a never-started default server is a no-op
            }
            return Outcome::NotFound(format!("{user} has no server named '{server}'"));
        };
        match s.phase {
            Phase::Stopped => {
                if remove {
                    u.servers.remove(server);
                }
                dirty.insert(Key::User(uid));
                return Outcome::Ok;
            }
            Phase::Stopping => {
                s.remove_on_stop |= remove;
                dirty.insert(Key::User(uid));
                return Outcome::AlreadyPending(format!(
                    "{} is pending stop",
                    server_label(user, server)
                ));
            }
            Phase::Spawning | Phase::Ready => {}
        }
        s.phase = Phase::Stopping;
        s.desired = Desired::Stopped;
        s.requested_at = Some(now);
        s.remove_on_stop = remove;
        let route = s.routespec.take();
        dirty.insert(Key::User(uid));
        // The route goes first, so traffic stops before the process does (contract §4.1).
        self.drop_route(route, dirty);
        Outcome::Created(vec![self.users[&uid]
            .servers
            .get(server)
            .map_or(0, |s| s.generation)])
    }

    pub(super) fn server_stopped(
        &mut self,
        user: &str,
        server: &str,
        generation: u64,
        now: Ts,
        dirty: &mut Dirty,
    ) -> Outcome {
        let Some(&uid) = self.user_by_name.get(user) else {
            return Outcome::NotFound(format!("No such user: {user}"));
        };
        let u = self.users.get_mut(&uid).expect("indexed user exists");
        let Some(s) = u.servers.get_mut(server) else {
            return Outcome::NotFound(format!("No such server {user}/{server}"));
        };
        if s.generation != generation {
            return Outcome::Conflict("stale spawn attempt".into());
        }
        let was_running = s.phase != Phase::Stopped;
        s.phase = Phase::Stopped;
        s.desired = Desired::Stopped;
        s.target = None;
        s.started = None;
        s.state = Value::Null;
        if was_running {
            s.last_activity = Some(s.last_activity.map_or(now, |t| t.max(now)));
        }
        let route = s.routespec.take();
        let token = s.token_id.take();
        if s.remove_on_stop {
            u.servers.remove(server);
        }
        dirty.insert(Key::User(uid));
        self.drop_route(route, dirty);
        if let Some(t) = token {
            self.remove_token(t, dirty);
        }
        Outcome::Ok
    }

    pub(super) fn rename_server(&mut self, cmd: &Command, dirty: &mut Dirty) -> Outcome {
        let Command::RenameServer {
            user,
            server,
            new_name,
            display_name,
            user_options,
        } = cmd
        else {
            unreachable!("rename_server is only called with RenameServer")
        };
        let Some(&uid) = self.user_by_name.get(user) else {
            return Outcome::NotFound(format!("No such user: {user}"));
        };
        let u = self.users.get_mut(&uid).expect("indexed user exists");
        let Some(s) = u.servers.get(server) else {
            return Outcome::NotFound(format!("No such server {user}/{server}"));
        };
        if s.active() {
            return Outcome::Invalid(format!(
                "Server {user}/{server} is active and cannot be modified"
            ));
        }
        if let Some(n) = new_name {
            if n != server && u.servers.contains_key(n) {
                return Outcome::Conflict(format!("Server {user}/{n} already exists"));
            }
        }
        let mut s = u.servers.remove(server).expect("checked above");
        if let Some(d) = display_name {
            s.display_name = Some(d.clone());
        }
        if let Some(o) = user_options {
            s.user_options = o.clone();
        }
        let key = new_name.clone().unwrap_or_else(|| server.clone());
        s.name = key.clone();
        u.servers.insert(key, s);
        dirty.insert(Key::User(uid));
        Outcome::Ok
    }
}
