//! The hub data model: the rows of the replicated tables.
//!
//! These types are what upstream JupyterHub keeps in its database *plus* what it keeps only in
//! process memory (pending spawn/stop flags, spawn progress): in a replicated hub both must be
//! shared, or replicas disagree about 202/400/429 answers (jupyterhub-contract §9).
//!
//! Every field is filled in by the proposer or derived deterministically during apply, so the
//! same log yields the same rows on every replica.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::route_data::RouteData;
pub use super::server_map::ServerMap;

/// Microseconds since the Unix epoch, UTC. Chosen by the proposer, never by `apply`.
pub type Ts = i64;

/// A user row. Referenced elsewhere by `id`, so a rename touches only this row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: u64,
    pub name: String,
    pub admin: bool,
    pub created: Ts,
    pub last_activity: Option<Ts>,
    /// Roles granted directly (not through groups). Upstream gives every user `user`, and
    /// admins `admin`; those are implied by `admin` and not stored here.
    pub roles: BTreeSet<String>,
    /// Spawner rows by server name (`""` is the default server). Holds stopped named servers
    /// too, as upstream's Spawner table does.
    pub servers: ServerMap,
    /// Opaque authenticator state; visible only with `admin:auth_state`.
    pub auth_state: Option<Value>,
    /// Upstream 6.x `user_info` (a dict or null).
    pub user_info: Option<Value>,
    /// Random id carried in the signed hub login cookie; rotating it logs the user out
    /// everywhere.
    pub cookie_id: String,
    /// argon2 PHC string for the native authenticator; never returned by the API.
    pub password_hash: Option<String>,
}

/// What the controller should make true for a server (level-triggered, DESIGN invariant 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Desired {
    #[default]
    Stopped,
    Running,
}

/// Where a server is in its life cycle. `pending` in the API is derived from this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Phase {
    /// No process or pod; the spawner row may still exist (named servers, failures).
    #[default]
    Stopped,
    /// A spawn was admitted and is in progress (`pending: "spawn"`).
    Spawning,
    /// Started and passed the readiness check; the route exists.
    Ready,
    /// A stop was requested and is in progress (`pending: "stop"`).
    Stopping,
}

/// One spawn progress event as the progress stream reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressEvent {
    pub progress: Option<u8>,
    pub message: String,
    pub html_message: Option<String>,
    pub ts: Ts,
}

/// A spawner row plus the replicated part of its in-memory state upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Server {
    pub name: String,
    pub display_name: Option<String>,
    /// The options of the last start, reused when a start has no body.
    pub user_options: Value,
    pub started: Option<Ts>,
    pub last_activity: Option<Ts>,
    /// Spawner state (e.g. pod name and namespace for Kubernetes).
    pub state: Value,
    pub desired: Desired,
    pub phase: Phase,
    /// Increments on every admitted spawn; names the attempt so commands from a stale
    /// controller (an old leader) for an older attempt are ignored by `apply`.
    pub generation: u64,
    /// `http://ip:port` once the spawner reported where the server listens.
    pub target: Option<String>,
    /// When the current spawn or stop was requested (admission and timeouts).
    pub requested_at: Option<Ts>,
    pub progress: Vec<ProgressEvent>,
    /// The message of the last failed spawn; cleared by the next start.
    pub failure: Option<String>,
    /// The server's API token (`JUPYTERHUB_API_TOKEN`), deleted on stop.
    pub token_id: Option<u64>,
    /// The routespec added when the server became ready; removed before it stops.
    pub routespec: Option<String>,
    /// `DELETE ... {"remove": true}`: drop the row once the server has stopped.
    pub remove_on_stop: bool,
    /// Shares and share codes of this server (JupyterHub 5 sharing); `None` for nearly every
    /// server, so a server without any costs one pointer. They live and die with the row:
    /// removing the server or its owner removes them, stopping it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sharing: Option<Box<Sharing>>,
}

/// Who a share grants access to. By id, so renaming the recipient keeps the share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ShareWith {
    User(u64),
    Group(u64),
}

/// Access to one server granted to a user or a group.
///
/// `scopes` are base scope names (`access:servers`): upstream forces every shared scope's
/// filter to `!server=<owner>/<server>`, so the filter is added when the share is read, with
/// the current names, and survives renames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// Allocated by apply; the listing order (upstream orders by row id).
    pub id: u64,
    pub with: ShareWith,
    /// Sorted, no duplicates.
    pub scopes: Vec<String>,
    pub created_at: Ts,
}

/// A code that grants its scopes on this server to whoever accepts it, until it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareCode {
    /// Allocated by apply; the API shows it as `sc_<id>`.
    pub id: u64,
    /// The first 4 characters of the code (the lookup key); the code itself is never stored.
    pub prefix: String,
    /// SHA-256 of the code, hex (codes carry 256 random bits).
    pub hash: String,
    /// Base scope names, as in [`Share`].
    pub scopes: Vec<String>,
    pub created_at: Ts,
    pub expires_at: Ts,
    pub exchange_count: u64,
    pub last_exchanged_at: Option<Ts>,
}

/// A server's shares and share codes, each in id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Sharing {
    pub shares: Vec<Share>,
    pub codes: Vec<ShareCode>,
}

impl Server {
    /// Active in upstream's sense: pending or ready. Counts toward `active_server_limit`.
    pub fn active(&self) -> bool {
        !matches!(self.phase, Phase::Stopped)
    }

    pub fn ready(&self) -> bool {
        matches!(self.phase, Phase::Ready)
    }

    /// Upstream's `pending` field.
    pub fn pending(&self) -> Option<&'static str> {
        match self.phase {
            Phase::Spawning => Some("spawn"),
            Phase::Stopping => Some("stop"),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: u64,
    pub name: String,
    /// Member user ids.
    pub users: BTreeSet<u64>,
    pub roles: BTreeSet<String>,
    pub properties: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub description: String,
    pub scopes: Vec<String>,
    /// Defined by the config file (`load_roles`); reloaded on every start.
    pub from_config: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub admin: bool,
    pub url: Option<String>,
    /// Defined by the config file; such services cannot be deleted through the API.
    pub from_config: bool,
    pub roles: BTreeSet<String>,
    pub display: bool,
    pub info: Value,
    pub oauth_client_id: Option<String>,
    /// Hub-managed command (started by the leader), if any.
    pub command: Vec<String>,
    /// Users log in to the service through OAuth without a confirmation page (upstream's
    /// `oauth_no_confirm`; upstream asks by default).
    #[serde(default)]
    pub oauth_no_confirm: bool,
}

/// Who a token or session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Owner {
    User(u64),
    Service(String),
}

/// How a token secret is stored: never the plaintext (DESIGN invariant 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenHash {
    /// Hub-generated tokens carry 128 random bits, so one round of SHA-256 suffices
    /// (upstream uses one round of salted SHA-512 for the same reason, jupyterhub PR #1258).
    Sha256(String),
    /// Tokens supplied by an operator may be weak: a slow salted hash
    /// (PBKDF2-HMAC-SHA256 PHC-like string).
    Slow(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub id: u64,
    /// The first 4 characters of the secret: the in-memory lookup key.
    pub prefix: String,
    pub hash: TokenHash,
    pub owner: Owner,
    /// Requested scopes, unexpanded (roles are converted to scopes at creation).
    pub scopes: Vec<String>,
    pub note: String,
    pub created: Ts,
    pub last_activity: Option<Ts>,
    pub expires_at: Option<Ts>,
    pub session_id: Option<String>,
    /// OAuth client that issued it; `jupyterhub` for hub-issued API tokens.
    pub client_id: String,
}

/// What an OAuth client belongs to; resolves `!server`/`!service` templates in its tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ClientKind {
    /// The built-in `jupyterhub` client.
    #[default]
    Hub,
    Server {
        user: String,
        server: String,
    },
    Service(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthClient {
    pub id: String,
    #[serde(default)]
    pub kind: ClientKind,
    pub description: String,
    /// Hash of the client secret (a server's API token).
    pub secret_hash: Option<String>,
    pub redirect_uri: String,
    pub allowed_scopes: Vec<String>,
}

/// An authorization code: 5 minutes, single use, optionally bound to a PKCE challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthCode {
    /// SHA-256 of the code; the code itself only leaves in the redirect.
    pub code_hash: String,
    pub client_id: String,
    pub user_id: u64,
    pub scopes: Vec<String>,
    pub session_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub expires_at: Ts,
}

/// A proxy route, keyed by routespec (`/user/alice/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub routespec: String,
    pub target: String,
    /// `{"user": ..., "server_name": ...}` or `{"service": ...}` or `{"hub": true}`.
    pub data: RouteData,
}

/// Cluster-wide settings created once after bootstrap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ClusterConfig {
    /// Hex secret that signs hub cookies; identical on every replica.
    pub cookie_secret: String,
    /// A random id naming this cluster (shown by `cluster status`).
    pub cluster_id: String,
    pub created: Ts,
}
