//! Doc-only schemas of the JSON the API answers. Handlers build `serde_json::Value`s (see
//! `models.rs`), so these types are never constructed: they exist so that the OpenAPI document
//! (`openapi.rs`) can state the shapes precisely, and they must follow the handlers.
//!
//! How optional and null are spelled here (utoipa's rules):
//! - `#[schema(required = false)]`: the key may be absent. Models keep only the keys the
//!   caller's scopes allow (contract §1.4), so most model keys are optional.
//! - `Option<T>`: the value may be JSON `null` and the key may be absent; with
//!   `#[schema(required)]` the key is always there, with `nullable = false` it is never null.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::ToSchema;

/// Upstream's error body, for every 4xx and 5xx of the API.
#[derive(ToSchema)]
pub struct ErrorBody {
    /// The HTTP status code, repeated.
    pub status: u16,
    /// What went wrong; `null` where upstream sends no text (unknown path, bare 403 or 404).
    #[schema(required)]
    pub message: Option<String>,
}

/// `kind` of a user model.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserKind {
    User,
}

/// `kind` of a group model.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupKind {
    Group,
}

/// `kind` of a service model.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    Service,
}

/// A pending action of a server (upstream's values; null when nothing is pending).
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Pending {
    Spawn,
    Stop,
    Check,
    Rename,
}

/// A server (upstream's server model). Every key is always there except `state`.
#[derive(ToSchema)]
pub struct ServerModel {
    /// Empty for the default server.
    pub name: String,
    #[schema(required)]
    pub display_name: Option<String>,
    /// `"<user>/<server>"`.
    pub full_name: String,
    #[schema(required, format = DateTime)]
    pub last_activity: Option<String>,
    #[schema(required, format = DateTime)]
    pub started: Option<String>,
    #[schema(required, inline)]
    pub pending: Option<Pending>,
    pub ready: bool,
    pub stopped: bool,
    pub url: String,
    /// Null for a stopped server that never stored options (upstream's ORM column).
    #[schema(required, value_type = Option<Object>)]
    pub user_options: Value,
    pub progress_url: String,
    /// Null unless `public_url` is configured.
    #[schema(required)]
    pub full_url: Option<String>,
    #[schema(required)]
    pub full_progress_url: Option<String>,
    /// The spawner state; present only with `admin:server_state` (null for a stopped server
    /// that never stored any).
    #[schema(required = false, value_type = Option<Object>)]
    pub state: Value,
}

/// A user (upstream's user model). Keys are filtered by the caller's scopes.
#[derive(ToSchema)]
pub struct UserModel {
    #[schema(required = false, inline)]
    pub kind: UserKind,
    #[schema(required = false)]
    pub name: String,
    #[schema(required = false)]
    pub admin: bool,
    #[schema(required = false)]
    pub roles: Vec<String>,
    #[schema(required = false)]
    pub groups: Vec<String>,
    /// The user's URL when the default server is ready, else null.
    pub server: Option<String>,
    #[schema(inline)]
    pub pending: Option<Pending>,
    #[schema(format = DateTime, nullable = false)]
    pub created: Option<String>,
    #[schema(format = DateTime)]
    pub last_activity: Option<String>,
    /// Active servers (also stopped ones with `include_stopped_servers`), by server name.
    #[schema(required = false)]
    pub servers: BTreeMap<String, ServerModel>,
    /// Null unless the caller holds `admin:auth_state` and state was stored.
    #[schema(value_type = Option<Object>)]
    pub auth_state: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub user_info: Option<Value>,
}

/// A group (upstream's group model). Keys are filtered by the caller's scopes.
#[derive(ToSchema)]
pub struct GroupModel {
    #[schema(required = false, inline)]
    pub kind: GroupKind,
    #[schema(required = false)]
    pub name: String,
    #[schema(required = false)]
    pub roles: Vec<String>,
    /// Member names, sorted.
    #[schema(required = false)]
    pub users: Vec<String>,
    #[schema(required = false, value_type = Object)]
    pub properties: Value,
}

/// A service's `command`: `""` for services the hub does not run, else the argv.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum ServiceCommand {
    None(String),
    Argv(Vec<String>),
}

/// A service (upstream's service model). Keys are filtered by the caller's scopes.
#[derive(ToSchema)]
pub struct ServiceModel {
    #[schema(required = false, inline)]
    pub kind: ServiceKind,
    #[schema(required = false)]
    pub name: String,
    #[schema(required = false)]
    pub roles: Vec<String>,
    /// Always false here, as upstream (whoami reports the real flag).
    #[schema(required = false)]
    pub admin: bool,
    /// `""` when the service has no URL.
    #[schema(required = false)]
    pub url: String,
    #[schema(required = false)]
    pub prefix: String,
    #[schema(required = false, inline)]
    pub command: ServiceCommand,
    #[schema(required = false)]
    pub pid: i64,
    #[schema(required = false, value_type = Option<Object>)]
    pub info: Option<Value>,
    #[schema(required = false)]
    pub display: Option<bool>,
}

/// `GET /services`: service models by name.
#[derive(ToSchema)]
pub struct ServiceMap(pub BTreeMap<String, ServiceModel>);

/// An API token (upstream's token model, never with the secret). The owner is `user` or
/// `service`.
#[derive(ToSchema)]
pub struct TokenModel {
    /// `"a<int>"`.
    #[schema(pattern = "^a[0-9]+$")]
    pub id: String,
    #[schema(pattern = "^api_token$")]
    pub kind: String,
    /// Always empty (tokens hold scopes since 3.0).
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    #[schema(format = DateTime)]
    pub created: String,
    #[schema(required, format = DateTime)]
    pub last_activity: Option<String>,
    #[schema(required, format = DateTime)]
    pub expires_at: Option<String>,
    pub note: String,
    #[schema(required)]
    pub session_id: Option<String>,
    /// The OAuth client's description, `"JupyterHub"` for hub-issued tokens.
    pub oauth_client: String,
    #[schema(required = false)]
    pub user: String,
    #[schema(required = false)]
    pub service: String,
}

/// `POST /users/{name}/tokens`: the token model plus the secret, shown only here.
#[derive(ToSchema)]
pub struct NewToken {
    #[serde(flatten)]
    pub model: TokenModel,
    pub token: String,
}

/// `GET /users/{name}/tokens`.
#[derive(ToSchema)]
pub struct TokenList {
    pub api_tokens: Vec<TokenModel>,
}

/// `GET /user`: the caller's user or service model, plus how it authenticated.
#[derive(ToSchema)]
pub struct WhoAmI {
    #[schema(pattern = "^(user|service)$")]
    pub kind: String,
    pub name: String,
    #[serde(flatten)]
    pub user: WhoAmIUserKeys,
    #[serde(flatten)]
    pub service: WhoAmIServiceKeys,
    /// `"a<int>"` of the token used.
    #[schema(required)]
    pub token_id: Option<String>,
    #[schema(required)]
    pub session_id: Option<String>,
    /// The caller's expanded scopes, sorted.
    pub scopes: Vec<String>,
}

/// Keys of a user model that whoami may carry.
#[derive(ToSchema)]
pub struct WhoAmIUserKeys {
    #[schema(required = false)]
    pub admin: bool,
    #[schema(required = false)]
    pub roles: Vec<String>,
    #[schema(required = false)]
    pub groups: Vec<String>,
    pub server: Option<String>,
    #[schema(inline)]
    pub pending: Option<Pending>,
    #[schema(format = DateTime, nullable = false)]
    pub created: Option<String>,
    #[schema(format = DateTime)]
    pub last_activity: Option<String>,
    #[schema(required = false)]
    pub servers: BTreeMap<String, ServerModel>,
    #[schema(value_type = Option<Object>)]
    pub auth_state: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub user_info: Option<Value>,
}

/// Keys of a service model that whoami may carry. `url`, `info` and `display` are null, as
/// upstream (its model comes from the service's database row, which has none of them).
#[derive(ToSchema)]
pub struct WhoAmIServiceKeys {
    #[schema(required = false)]
    pub url: Option<String>,
    #[schema(required = false)]
    pub prefix: String,
    #[schema(required = false, inline)]
    pub command: ServiceCommand,
    #[schema(required = false)]
    pub pid: i64,
    #[schema(required = false, value_type = Option<Object>)]
    pub info: Option<Value>,
    #[schema(required = false)]
    pub display: Option<bool>,
}

/// `{class, version}` of a pluggable part.
#[derive(ToSchema)]
pub struct ComponentInfo {
    pub class: String,
    pub version: String,
}

/// rafthub's own part of `/info`.
#[derive(ToSchema)]
pub struct RafthubInfo {
    pub version: String,
    pub node_id: u64,
    /// The Raft leader this replica knows of.
    #[schema(required)]
    pub leader: Option<u64>,
}

/// `GET /info`.
#[derive(ToSchema)]
pub struct Info {
    /// The JupyterHub version this hub is compatible with.
    pub version: String,
    pub python: String,
    pub sys_executable: String,
    pub spawner: ComponentInfo,
    pub authenticator: ComponentInfo,
    pub rafthub: RafthubInfo,
}

/// `GET {api}`: the JupyterHub version, for clients that check it before anything else.
#[derive(ToSchema)]
pub struct ApiVersion {
    pub version: String,
}

/// The answer of `POST /shutdown`.
#[derive(ToSchema)]
pub struct Message {
    pub message: String,
}

/// One entry of the proxy's route table.
#[derive(ToSchema)]
pub struct ProxyRoute {
    pub routespec: String,
    pub target: String,
    /// `{"hub": true}`, `{"user", "server_name"}` or `{"service"}`, plus `last_activity`
    /// once the proxy saw traffic.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// `GET /proxy` without the pagination envelope: routes by routespec.
#[derive(ToSchema)]
pub struct ProxyRoutes(pub BTreeMap<String, ProxyRoute>);
