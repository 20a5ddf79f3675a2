//! Commands: every state change is one of these, committed through Raft (DESIGN invariant 1).
//!
//! The proposer fills in every timestamp (`now`), random id and secret hash before proposing,
//! so `apply` is a deterministic function of the log. Each command travels with a request id
//! ([`ReqId`]); `apply` remembers recent ids and answers a retried id with the first outcome
//! instead of applying twice (invariant 3).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::state::model::{
    OAuthClient, OAuthCode, Owner, ProgressEvent, Role, Route, Service, ShareCode, Token, Ts,
};

/// Idempotency key of one command: random, chosen by the replica that first received the
/// request, reused on every retry of that request.
pub type ReqId = u128;

/// One Raft entry's payload: a batch of commands proposed together (group commit at the
/// application level: many concurrent API writes share one entry and one fsync).
///
/// The items are shared (`Arc`): openraft clones an entry's payload for the log store, the
/// recent-entry cache and every replication stream, and a batch is cloned again per retry;
/// sharing makes each clone a reference count. On the wire and on disk it is the plain
/// sequence it always was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Request {
    pub items: std::sync::Arc<[Proposal]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: ReqId,
    /// Proposer's clock when the request arrived; also drives deterministic expiry of the
    /// request-id table.
    pub now: Ts,
    pub cmd: Command,
}

/// The result of applying one entry: one outcome per proposal, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Response {
    pub outcomes: Vec<Outcome>,
}

/// What `apply` decided for one command. Rejections are normal outcomes, not errors: they are
/// part of the replicated history (two replicas racing to create `alice` both get an answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Ok,
    /// Ids allocated by apply (user ids, token ids, group ids), in command order.
    Created(Vec<u64>),
    NotFound(String),
    Conflict(String),
    Invalid(String),
    /// The request is already being carried out (a second start while a spawn is pending):
    /// upstream answers 202 at once.
    AlreadyPending(String),
    /// A cluster-wide limit was hit (429). `retry` says whether a Retry-After applies
    /// (`concurrent_spawn_limit`) or not (`active_server_limit`).
    TooMany {
        message: String,
        retry: bool,
    },
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Created(_))
    }
}

/// A new user inside [`Command::CreateUsers`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    pub name: String,
    pub admin: bool,
    pub cookie_id: String,
}

/// One coalesced activity observation (from the activity API, the proxy or token use).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityItem {
    pub user_id: u64,
    /// `Some("")` for the default server; `None` for user-level activity only.
    pub server: Option<String>,
    pub ts: Ts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenActivity {
    pub token_id: u64,
    pub ts: Ts,
}

/// Fields a `PATCH /users/{name}` may change; `None` leaves a field alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct UserPatch {
    pub name: Option<String>,
    pub admin: Option<bool>,
    pub auth_state: Option<Option<Value>>,
    pub roles: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
    pub password_hash: Option<Option<String>>,
    pub cookie_id: Option<String>,
}

/// Every state change of the hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Set-if-absent: the first proposal after bootstrap wins; later ones are no-ops.
    InitCluster {
        cookie_secret: String,
        cluster_id: String,
    },

    // ---- users -------------------------------------------------------------------------
    /// Create users, skipping existing names (`POST /users`). `Conflict` if all exist, unless
    /// `skip_existing_ok` (config-driven creation of admin users).
    CreateUsers {
        users: Vec<NewUser>,
        skip_existing_ok: bool,
    },
    UpdateUser {
        name: String,
        patch: UserPatch,
    },
    /// Deletes the user and everything it owns: tokens, sessions, OAuth codes, routes.
    DeleteUser {
        name: String,
    },
    /// Coalesced activity: `last_activity = max(old, ts)` for users, servers and tokens.
    RecordActivity {
        items: Vec<ActivityItem>,
        tokens: Vec<TokenActivity>,
    },

    // ---- groups ------------------------------------------------------------------------
    CreateGroups {
        names: Vec<String>,
        users: Vec<String>,
    },
    DeleteGroup {
        name: String,
    },
    /// Add (`add = true`) or remove users; unknown users are `Invalid`.
    SetGroupMembers {
        name: String,
        users: Vec<String>,
        add: bool,
    },
    SetGroupProperties {
        name: String,
        properties: Value,
    },
    SetGroupRoles {
        name: String,
        roles: Vec<String>,
    },

    // ---- roles and services -----------------------------------------------------------------
    /// Replace the config-defined roles (`load_roles`) as a whole: roles that disappeared from
    /// the config are removed (set-to-value, so safe to repeat on every leader start).
    SyncConfigRoles {
        roles: Vec<RoleAssignment>,
    },
    PutService {
        service: Service,
    },
    DeleteService {
        name: String,
    },
    /// Replace the config-defined services as a whole.
    SyncConfigServices {
        services: Vec<Service>,
    },

    // ---- tokens --------------------------------------------------------------------------
    /// Creates a token; its id is allocated by apply. Fails if the owner does not exist.
    CreateToken {
        token: Token,
    },
    DeleteToken {
        id: u64,
    },
    /// Deletes every token of `owner` issued through `client_id` (deleting an OAuth token
    /// revokes the whole authorization, as upstream does).
    DeleteClientTokens {
        owner: Owner,
        client_id: String,
    },
    /// Logout: revokes every token carrying this session id.
    RevokeSession {
        session_id: String,
    },
    /// Drops expired tokens and OAuth codes (proposed periodically by the leader).
    PurgeExpired,

    // ---- OAuth ---------------------------------------------------------------------------
    PutOAuthClient {
        client: OAuthClient,
    },
    DeleteOAuthClient {
        id: String,
    },
    CreateOAuthCode {
        code: OAuthCode,
    },
    /// Atomically consumes a code and creates the access token (single use even when two
    /// replicas race with the same code).
    ExchangeOAuthCode {
        code_hash: String,
        token: Token,
    },

    // ---- servers ---------------------------------------------------------------------------
    /// Creates a named server row without starting it (`PUT .../servers/{name}`).
    PutServer {
        user: String,
        server: String,
        display_name: Option<String>,
        user_options: Value,
        limit: Option<u32>,
    },
    /// Admission + desired=running. Checks the cluster-wide limits against replicated counts
    /// (invariant 9), so every replica gives the same 429.
    RequestSpawn {
        user: String,
        server: String,
        user_options: Option<Value>,
        display_name: Option<String>,
        concurrent_spawn_limit: u32,
        active_server_limit: u32,
        named_server_limit: Option<u32>,
    },
    /// Controller progress for generation `generation` (ignored if stale).
    SpawnProgress {
        user: String,
        server: String,
        generation: u64,
        event: ProgressEvent,
        target: Option<String>,
        state: Option<Value>,
        token_id: Option<u64>,
    },
    /// Readiness check passed: phase ready and the route added atomically.
    ServerReady {
        user: String,
        server: String,
        generation: u64,
        target: String,
        route: Route,
    },
    SpawnFailed {
        user: String,
        server: String,
        generation: u64,
        message: String,
    },
    /// Desired=stopped; removes the route at once so traffic stops before the process does.
    RequestStop {
        user: String,
        server: String,
        remove: bool,
    },
    /// The controller confirmed the process is gone.
    ServerStopped {
        user: String,
        server: String,
        generation: u64,
    },
    RenameServer {
        user: String,
        server: String,
        new_name: Option<String>,
        display_name: Option<String>,
        user_options: Option<Value>,
    },

    // ---- sharing (JupyterHub 5) ------------------------------------------------------------
    /// Grants `scopes` (base names) on a server; merged into an existing share of the same
    /// recipient (union). `NotFound` for a missing server, `Invalid` for a missing recipient.
    GrantShare {
        owner: String,
        server: String,
        with: ShareTarget,
        scopes: Vec<String>,
    },
    /// Removes `scopes` from a share, or the whole share when `None`; a share left without
    /// scopes is deleted. A missing share or recipient is `Ok` (upstream answers `{}`).
    RevokeShare {
        owner: String,
        server: String,
        with: ShareTarget,
        scopes: Option<Vec<String>>,
    },
    /// Deletes every share of a server (its codes stay, as upstream).
    RevokeServerShares {
        owner: String,
        server: String,
    },
    /// Stores a share code (`id` is allocated by apply and ignored here).
    CreateShareCode {
        owner: String,
        server: String,
        code: ShareCode,
    },
    /// Deletes one code of a server by id, or all of them when `None`.
    DeleteShareCodes {
        owner: String,
        server: String,
        id: Option<u64>,
    },
    /// `user` accepts code `id` of a server: its scopes are granted to the user (merged) and
    /// the code's use is counted. `NotFound` if the code is gone or has expired by `now`.
    ExchangeShareCode {
        owner: String,
        server: String,
        id: u64,
        user: String,
    },

    // ---- routes ----------------------------------------------------------------------------
    PutRoute {
        route: Route,
    },
    DeleteRoute {
        routespec: String,
    },
}

/// The recipient of a share, by name as the API names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShareTarget {
    User(String),
    Group(String),
}

/// A config-defined role with its members, resolved by name at apply time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleAssignment {
    pub role: Role,
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub services: Vec<String>,
}
