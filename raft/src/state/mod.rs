//! The replicated hub state and its pure `apply`.
//!
//! [`HubState`] holds every table in memory with the indexes the hot reads need (name → user,
//! token prefix → tokens, user → groups). `apply` is a pure function of (state, proposal): it
//! never does IO and never reads a clock. It reports which rows it touched ([`Dirty`]) so the
//! storage shell can write exactly those rows to sled in one atomic batch.

pub mod model;

mod dedup;
mod groups;
pub mod image;
mod image_stream;
pub mod route_data;
pub mod server_map;
mod servers;
mod sharded;
mod shares;
mod tokens;
mod users;

#[cfg(test)]
mod shares_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::command::{Command, Outcome, Proposal};
use crate::types::{LogId, StoredMembership};
pub use dedup::Dedup;
pub use image::{Image, Key};
pub use image_stream::ImageRef;
use model::*;
use sharded::ShardedMap;

/// Counters for ids allocated by `apply`, persisted with the state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub next_user_id: u64,
    pub next_group_id: u64,
    pub next_token_id: u64,
    /// Ids of shares and share codes (one sequence).
    #[serde(default)]
    pub next_share_id: u64,
}

/// Rows touched by one apply, in key order (so the sled batch is deterministic too).
pub type Dirty = BTreeSet<Key>;

/// All hub tables. Fields are private so the indexes can never drift from the tables; read
/// through the accessor methods.
#[derive(Debug, Clone, Default)]
pub struct HubState {
    pub(crate) last_applied: Option<LogId>,
    pub(crate) membership: StoredMembership,
    pub(crate) config: Option<ClusterConfig>,
    pub(crate) counters: Counters,
    pub(crate) users: imbl::OrdMap<u64, User>,
    pub(crate) groups: BTreeMap<u64, Group>,
    pub(crate) roles: BTreeMap<String, Role>,
    pub(crate) services: BTreeMap<String, Service>,
    pub(crate) tokens: imbl::HashMap<u64, Token>,
    pub(crate) oauth_clients: BTreeMap<String, OAuthClient>,
    pub(crate) oauth_codes: imbl::HashMap<String, OAuthCode>,
    pub(crate) routes: imbl::OrdMap<String, Route>,
    pub(crate) dedup: Dedup,
    // ---- derived indexes, rebuilt on load, never persisted ----
    // No plain hash maps: one doubles its table (rehashing every entry) when it fills, under
    // the state's write lock, on every replica at the same log index (at 229,376 users, an
    // ~80 ms stall of the whole cluster). Per-user string keys go in a [`ShardedMap`] (one
    // hash per lookup, growth a 256th at a time), the rest in B-trees.
    user_by_name: ShardedMap<u64>,
    /// Login-cookie id → user id (the signed hub cookie carries the cookie id).
    user_by_cookie: ShardedMap<u64>,
    group_by_name: BTreeMap<String, u64>,
    groups_of_user: BTreeMap<u64, BTreeSet<u64>>,
    tokens_by_prefix: ShardedMap<Vec<u64>>,
    /// Owner → its token ids: listing or deleting a user's tokens follows what it owns, not
    /// every token in the hub.
    tokens_by_owner: BTreeMap<Owner, BTreeSet<u64>>,
    /// Login session id → the tokens issued in it (revoked together at logout).
    tokens_by_session: ShardedMap<Vec<u64>>,
    /// User id → names of its active (not stopped) servers. The controller, the spawn
    /// limits and metrics walk this instead of every user: their cost follows running
    /// servers, not the user count.
    active_by_user: BTreeMap<u64, BTreeSet<String>>,
    /// Share recipient → `(owner id, server name)` of the servers shared with it.
    shared_with: BTreeMap<ShareWith, BTreeSet<(u64, String)>>,
    /// Share-code prefix → `(owner id, server name, code id)`.
    share_codes_by_prefix: BTreeMap<String, Vec<(u64, String, u64)>>,
    /// What the two indexes above hold per owner (to undo it when the owner's row changes).
    sharing_owners: BTreeMap<u64, shares::OwnerEntries>,
    /// Bumped by every command that can change who holds which scopes (roles, groups,
    /// admin flags, renames, services). Caches of effective scopes are valid while it holds.
    authz_epoch: u64,
}

impl HubState {
    /// See the `authz_epoch` field: changes whenever effective scopes may have changed.
    pub fn authz_epoch(&self) -> u64 {
        self.authz_epoch
    }

    /// Keeps the epoch monotonic when a snapshot replaces the whole state in this process.
    pub(crate) fn continue_authz_epoch(&mut self, previous: &HubState) {
        self.authz_epoch = previous.authz_epoch + 1;
    }

    pub fn last_applied(&self) -> Option<LogId> {
        self.last_applied
    }
    pub fn membership(&self) -> &StoredMembership {
        &self.membership
    }
    pub fn cluster_config(&self) -> Option<&ClusterConfig> {
        self.config.as_ref()
    }

    // ---- users ----
    pub fn user(&self, name: &str) -> Option<&User> {
        self.user_by_name
            .get(name)
            .and_then(|id| self.users.get(id))
    }
    /// The user whose login cookie carries `cookie_id`.
    pub fn user_by_cookie(&self, cookie_id: &str) -> Option<&User> {
        self.user_by_cookie
            .get(cookie_id)
            .and_then(|id| self.users.get(id))
    }
    pub fn user_by_id(&self, id: u64) -> Option<&User> {
        self.users.get(&id)
    }
    /// Users in id order (upstream's default sort).
    pub fn users(&self) -> impl DoubleEndedIterator<Item = &User> + '_ {
        self.users.values()
    }
    /// Rows a snapshot of this state holds, roughly: what loading it costs.
    pub fn row_count(&self) -> usize {
        self.users.len()
            + self.groups.len()
            + self.roles.len()
            + self.services.len()
            + self.tokens.len()
            + self.oauth_clients.len()
            + self.oauth_codes.len()
            + self.routes.len()
            + self.dedup.len()
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }
    /// Names of the groups a user belongs to, sorted.
    pub fn user_group_names(&self, user_id: u64) -> Vec<String> {
        let mut names: Vec<String> = self
            .groups_of_user
            .get(&user_id)
            .into_iter()
            .flatten()
            .filter_map(|gid| self.groups.get(gid).map(|g| g.name.clone()))
            .collect();
        names.sort();
        names
    }
    pub fn user_group_ids(&self, user_id: u64) -> impl Iterator<Item = u64> + '_ {
        self.groups_of_user
            .get(&user_id)
            .into_iter()
            .flatten()
            .copied()
    }

    // ---- groups, roles, services ----
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.group_by_name
            .get(name)
            .and_then(|id| self.groups.get(id))
    }
    pub fn group_by_id(&self, id: u64) -> Option<&Group> {
        self.groups.get(&id)
    }
    pub fn groups(&self) -> impl DoubleEndedIterator<Item = &Group> + '_ {
        self.groups.values()
    }
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.roles.get(name)
    }
    pub fn roles(&self) -> impl Iterator<Item = &Role> + '_ {
        self.roles.values()
    }
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.get(name)
    }
    pub fn services(&self) -> impl Iterator<Item = &Service> + '_ {
        self.services.values()
    }

    // ---- tokens and OAuth ----
    pub fn token(&self, id: u64) -> Option<&Token> {
        self.tokens.get(&id)
    }
    /// Candidate tokens for a secret, by its 4-character prefix; the caller compares hashes.
    pub fn tokens_with_prefix(&self, prefix: &str) -> impl Iterator<Item = &Token> + '_ {
        self.tokens_by_prefix
            .get(prefix)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tokens.get(id))
    }
    /// An owner's tokens, by id.
    pub fn tokens_of(&self, owner: &Owner) -> Vec<&Token> {
        self.tokens_by_owner
            .get(owner)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tokens.get(id))
            .collect()
    }
    fn token_ids_of(&self, owner: &Owner) -> Vec<u64> {
        self.tokens_by_owner
            .get(owner)
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default()
    }
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }
    pub fn oauth_client(&self, id: &str) -> Option<&OAuthClient> {
        self.oauth_clients.get(id)
    }
    pub fn oauth_clients(&self) -> impl Iterator<Item = &OAuthClient> + '_ {
        self.oauth_clients.values()
    }
    pub fn oauth_code(&self, code_hash: &str) -> Option<&OAuthCode> {
        self.oauth_codes.get(code_hash)
    }

    // ---- routes ----
    pub fn route(&self, spec: &str) -> Option<&Route> {
        self.routes.get(spec)
    }
    pub fn routes(&self) -> impl Iterator<Item = &Route> + '_ {
        self.routes.values()
    }

    /// Servers with a spawn in progress, cluster-wide (`concurrent_spawn_limit`).
    pub fn pending_spawns(&self) -> usize {
        self.active_server_list()
            .filter(|(_, s)| s.phase == Phase::Spawning)
            .count()
    }
    /// Active servers (pending or ready), cluster-wide (`active_server_limit`).
    pub fn active_servers(&self) -> usize {
        self.active_by_user.values().map(BTreeSet::len).sum()
    }

    /// Applies one committed proposal. Deterministic: same state + same proposal → same
    /// state and outcome on every replica. A request id seen before returns its first outcome.
    pub fn apply(&mut self, p: &Proposal, dirty: &mut Dirty) -> Outcome {
        if let Some(prev) = self.dedup.get(p.id) {
            return prev.clone();
        }
        if affects_authz(&p.cmd) {
            self.authz_epoch += 1;
        }
        let mut touched = Dirty::new();
        let outcome = self.apply_command(&p.cmd, p.now, &mut touched);
        for k in &touched {
            if let Key::User(uid) = k {
                self.refresh_active(*uid);
                self.refresh_sharing(*uid);
            }
        }
        dirty.extend(touched);
        self.dedup.record(p.id, p.now, outcome.clone(), dirty);
        outcome
    }

    /// Re-derives `active_by_user` for one user (after any command that touched its row).
    fn refresh_active(&mut self, uid: u64) {
        let names: BTreeSet<String> = self
            .users
            .get(&uid)
            .map(|u| {
                u.servers
                    .values()
                    .filter(|s| s.active())
                    .map(|s| s.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        if names.is_empty() {
            self.active_by_user.remove(&uid);
        } else {
            self.active_by_user.insert(uid, names);
        }
    }

    /// Users with at least one active server, in id order (the `state=active|ready` filter
    /// of `GET /users` walks these instead of every user).
    pub fn active_users(&self) -> impl DoubleEndedIterator<Item = &User> + '_ {
        self.active_by_user
            .keys()
            .filter_map(move |uid| self.users.get(uid))
    }
    /// How many users [`HubState::active_users`] yields.
    pub fn active_user_count(&self) -> usize {
        self.active_by_user.len()
    }

    /// Every active (spawning, ready or stopping) server with its user, without walking
    /// users that have none.
    pub fn active_server_list(&self) -> impl Iterator<Item = (&User, &Server)> + '_ {
        self.active_by_user.iter().flat_map(move |(uid, names)| {
            let user = self.users.get(uid);
            names
                .iter()
                .filter_map(move |n| user.and_then(|u| u.servers.get(n).map(|s| (u, s))))
        })
    }

    fn apply_command(&mut self, cmd: &Command, now: Ts, dirty: &mut Dirty) -> Outcome {
        use Command::*;
        match cmd {
            InitCluster {
                cookie_secret,
                cluster_id,
            } => {
                if self.config.is_none() {
                    self.config = Some(ClusterConfig {
                        cookie_secret: cookie_secret.clone(),
                        cluster_id: cluster_id.clone(),
                        created: now,
                    });
                    dirty.insert(Key::Config);
                }
                Outcome::Ok
            }
            CreateUsers {
                users,
                skip_existing_ok,
            } => self.create_users(users, *skip_existing_ok, now, dirty),
            UpdateUser { name, patch } => self.update_user(name, patch, dirty),
            DeleteUser { name } => self.delete_user(name, dirty),
            RecordActivity { items, tokens } => self.record_activity(items, tokens, dirty),
            CreateGroups { names, users } => self.create_groups(names, users, dirty),
            DeleteGroup { name } => self.delete_group(name, dirty),
            SetGroupMembers { name, users, add } => {
                self.set_group_members(name, users, *add, dirty)
            }
            SetGroupProperties { name, properties } => {
                self.set_group_properties(name, properties, dirty)
            }
            SetGroupRoles { name, roles } => self.set_group_roles(name, roles, dirty),
            SyncConfigRoles { roles } => self.sync_config_roles(roles, dirty),
            PutService { service } => self.put_service(service, dirty),
            DeleteService { name } => self.delete_service(name, dirty),
            SyncConfigServices { services } => self.sync_config_services(services, dirty),
            CreateToken { token } => self.create_token(token, dirty),
            DeleteToken { id } => self.delete_token(*id, dirty),
            DeleteClientTokens { owner, client_id } => {
                self.delete_client_tokens(owner, client_id, dirty)
            }
            RevokeSession { session_id } => self.revoke_session(session_id, dirty),
            PurgeExpired => self.purge_expired(now, dirty),
            PutOAuthClient { client } => self.put_oauth_client(client, dirty),
            DeleteOAuthClient { id } => self.delete_oauth_client(id, dirty),
            CreateOAuthCode { code } => self.create_oauth_code(code, dirty),
            ExchangeOAuthCode { code_hash, token } => {
                self.exchange_oauth_code(code_hash, token, now, dirty)
            }
            PutServer {
                user,
                server,
                display_name,
                user_options,
                limit,
            } => self.put_server(user, server, display_name, user_options, *limit, dirty),
            RequestSpawn { .. } => self.request_spawn(cmd, now, dirty),
            SpawnProgress { .. } => self.spawn_progress(cmd, dirty),
            ServerReady {
                user,
                server,
                generation,
                target,
                route,
            } => self.server_ready(user, server, *generation, target, route, dirty),
            SpawnFailed {
                user,
                server,
                generation,
                message,
            } => self.spawn_failed(user, server, *generation, message, now, dirty),
            RequestStop {
                user,
                server,
                remove,
            } => self.request_stop(user, server, *remove, now, dirty),
            ServerStopped {
                user,
                server,
                generation,
            } => self.server_stopped(user, server, *generation, now, dirty),
            RenameServer { .. } => self.rename_server(cmd, dirty),
            GrantShare {
                owner,
                server,
                with,
                scopes,
            } => self.grant_share(owner, server, with, scopes, now, dirty),
            RevokeShare {
                owner,
                server,
                with,
                scopes,
            } => self.revoke_share(owner, server, with, scopes.as_deref(), dirty),
            RevokeServerShares { owner, server } => self.revoke_server_shares(owner, server, dirty),
            CreateShareCode {
                owner,
                server,
                code,
            } => self.create_share_code(owner, server, code, dirty),
            DeleteShareCodes { owner, server, id } => {
                self.delete_share_codes(owner, server, *id, dirty)
            }
            ExchangeShareCode {
                owner,
                server,
                id,
                user,
            } => self.exchange_share_code(owner, server, *id, user, now, dirty),
            PutRoute { route } => {
                self.routes.insert(route.routespec.clone(), route.clone());
                dirty.insert(Key::Route(route.routespec.clone()));
                Outcome::Ok
            }
            DeleteRoute { routespec } => {
                if self.routes.remove(routespec).is_some() {
                    dirty.insert(Key::Route(routespec.clone()));
                    Outcome::Ok
                } else {
                    Outcome::NotFound(format!("No such route {routespec}"))
                }
            }
        }
    }

    /// Panics unless the derived indexes equal a rebuild from the tables: what every state
    /// test checks after each command (an index `reindex` forgets loses data on restart).
    #[cfg(test)]
    pub(crate) fn assert_indexes_match_tables(&self) {
        fn view(s: &HubState) -> String {
            let sorted = |m: &ShardedMap<Vec<u64>>| -> BTreeMap<String, Vec<u64>> {
                m.iter()
                    .map(|(k, v)| {
                        let mut v = v.clone();
                        v.sort_unstable();
                        (k.clone(), v)
                    })
                    .collect()
            };
            let prefixes = sorted(&s.tokens_by_prefix);
            let sessions = sorted(&s.tokens_by_session);
            let mut codes = s.share_codes_by_prefix.clone();
            codes.values_mut().for_each(|v| v.sort_unstable());
            let owners: BTreeMap<u64, (Vec<ShareWith>, Vec<String>)> = s
                .sharing_owners
                .iter()
                .map(|(k, e)| (*k, e.sorted()))
                .collect();
            format!(
                "{:#?}",
                (
                    &s.user_by_name,
                    &s.user_by_cookie,
                    &s.group_by_name,
                    &s.groups_of_user,
                    prefixes,
                    &s.tokens_by_owner,
                    sessions,
                    &s.active_by_user,
                    &s.shared_with,
                    codes,
                    owners,
                )
            )
        }
        // From the tables alone, as a load does.
        let mut rebuilt = self.persisted_copy();
        rebuilt.reindex();
        assert_eq!(
            view(self),
            view(&rebuilt),
            "derived indexes drifted from the tables"
        );
    }

    /// Rebuilds every derived index from the tables (after load or snapshot install).
    fn reindex(&mut self) {
        self.authz_epoch += 1;
        self.user_by_name = self
            .users
            .values()
            .map(|u| (u.name.clone(), u.id))
            .collect();
        self.user_by_cookie = self
            .users
            .values()
            .map(|u| (u.cookie_id.clone(), u.id))
            .collect();
        self.group_by_name = self
            .groups
            .values()
            .map(|g| (g.name.clone(), g.id))
            .collect();
        self.groups_of_user.clear();
        for g in self.groups.values() {
            for uid in &g.users {
                self.groups_of_user.entry(*uid).or_default().insert(g.id);
            }
        }
        self.active_by_user.clear();
        self.shared_with.clear();
        self.share_codes_by_prefix.clear();
        self.sharing_owners.clear();
        let uids: Vec<u64> = self.users.keys().copied().collect();
        for uid in uids {
            self.refresh_active(uid);
            self.refresh_sharing(uid);
        }
        self.tokens_by_prefix.clear();
        self.tokens_by_owner.clear();
        self.tokens_by_session.clear();
        for t in self.tokens.values() {
            if let Some(sid) = &t.session_id {
                self.tokens_by_session
                    .entry(sid.clone())
                    .or_default()
                    .push(t.id);
            }
            self.tokens_by_prefix
                .entry(t.prefix.clone())
                .or_default()
                .push(t.id);
            self.tokens_by_owner
                .entry(t.owner.clone())
                .or_default()
                .insert(t.id);
        }
    }
}

/// Commands after which cached effective scopes must be recomputed. Hot-path commands
/// (activity, spawn progress, routes, token and code creation) leave caches valid.
fn affects_authz(cmd: &Command) -> bool {
    !matches!(
        cmd,
        Command::RecordActivity { .. }
            | Command::CreateUsers { .. }
            | Command::CreateToken { .. }
            | Command::CreateOAuthCode { .. }
            | Command::ExchangeOAuthCode { .. }
            | Command::PutOAuthClient { .. }
            | Command::SpawnProgress { .. }
            | Command::ServerReady { .. }
            | Command::RequestSpawn { .. }
            | Command::PutRoute { .. }
            | Command::DeleteRoute { .. }
            | Command::InitCluster { .. }
    )
}
