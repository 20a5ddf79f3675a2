//! Doc-only schemas of request bodies and of the list answers (plain or paginated), with the
//! conventions of `schema.rs`. A body struct with `deny_unknown_fields` is one whose handler
//! answers 400 to unknown keys (upstream's `_check_model`); the others ignore extra keys.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::schema::{GroupModel, ProxyRoute, UserModel};

/// Where the next page starts; `url` is the request's absolute URL with offset and limit
/// replaced, to be followed verbatim.
#[derive(ToSchema)]
pub struct NextPage {
    pub offset: u64,
    pub limit: u64,
    pub url: String,
}

/// `_pagination` of the envelope; `next` is null on the last page.
#[derive(ToSchema)]
pub struct Pagination {
    pub offset: u64,
    pub limit: u64,
    pub total: u64,
    #[schema(required)]
    pub next: Option<NextPage>,
}

/// `GET /users` with `Accept: application/jupyterhub-pagination+json`.
#[derive(ToSchema)]
pub struct UserPage {
    pub items: Vec<UserModel>,
    #[serde(rename = "_pagination")]
    pub pagination: Pagination,
}

/// `GET /users`: a plain list, or the envelope when the client accepts pagination.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum UserList {
    Plain(Vec<UserModel>),
    Page(UserPage),
}

/// `GET /groups` with `Accept: application/jupyterhub-pagination+json`.
#[derive(ToSchema)]
pub struct GroupPage {
    pub items: Vec<GroupModel>,
    #[serde(rename = "_pagination")]
    pub pagination: Pagination,
}

/// `GET /groups`: a plain list, or the envelope when the client accepts pagination.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum GroupList {
    Plain(Vec<GroupModel>),
    Page(GroupPage),
}

/// `GET /proxy` with `Accept: application/jupyterhub-pagination+json`: `items` stays a dict.
#[derive(ToSchema)]
pub struct RoutePage {
    pub items: BTreeMap<String, ProxyRoute>,
    #[serde(rename = "_pagination")]
    pub pagination: Pagination,
}

/// `GET /proxy`: routes by routespec, or the envelope when the client accepts pagination.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum RouteList {
    Plain(BTreeMap<String, ProxyRoute>),
    Page(RoutePage),
}

/// `POST /users`. The other user-model keys (`name`, `groups`, `roles`, `auth_state`) are
/// type-checked and ignored, as upstream.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUsers {
    /// Names to create (lowercased); existing ones are skipped.
    #[schema(min_items = 1, inline)]
    pub usernames: Vec<UserName>,
    /// Only an admin may create admins.
    #[schema(required = false)]
    pub admin: bool,
    #[schema(required = false)]
    pub name: String,
    #[schema(required = false)]
    pub groups: Vec<String>,
    #[schema(required = false)]
    pub roles: Vec<String>,
    #[schema(required = false, value_type = Object)]
    pub auth_state: Value,
}

/// `POST /users/{name}`: only `admin` is used; the other user-model keys are type-checked.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(required = false)]
    pub admin: bool,
    #[schema(required = false)]
    pub name: String,
    #[schema(required = false)]
    pub groups: Vec<String>,
    #[schema(required = false)]
    pub roles: Vec<String>,
    #[schema(required = false, value_type = Object)]
    pub auth_state: Value,
}

/// A user name the handlers accept (before lowercasing): not empty, no `/`, no whitespace at
/// either end (`\s` plus the separators Python's `strip()` removes), not only dots.
#[derive(ToSchema)]
#[schema(pattern = r"^(?!\.+$)[^/\s\x1c-\x1f](?:[^/]*[^/\s\x1c-\x1f])?$")]
pub struct UserName(pub String);

/// A group name the handlers accept: not empty, no `/`, no whitespace at either end.
#[derive(ToSchema)]
#[schema(pattern = r"^[^/\s\x1c-\x1f](?:[^/]*[^/\s\x1c-\x1f])?$")]
pub struct GroupName(pub String);

/// `PATCH /users/{name}`: the keys to change.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// A new name (lowercased, then validated); must not be taken.
    #[schema(required = false)]
    pub name: String,
    #[schema(required = false)]
    pub admin: bool,
    /// Replaces the user's groups; every group must exist.
    #[schema(required = false)]
    pub groups: Vec<String>,
    /// Replaces the user's roles; every role must exist.
    #[schema(required = false)]
    pub roles: Vec<String>,
    #[schema(required = false, value_type = Object)]
    pub auth_state: Value,
}

/// Activity of one server.
#[derive(ToSchema)]
pub struct ServerActivity {
    #[schema(format = DateTime)]
    pub last_activity: String,
}

/// `POST /users/{name}/activity`: at least one of the two keys must be non-empty.
#[derive(ToSchema)]
pub struct Activity {
    /// At most 59 minutes in the future; naive timestamps are UTC.
    #[schema(format = DateTime)]
    pub last_activity: Option<String>,
    /// By server name; every server must exist.
    pub servers: Option<BTreeMap<String, ServerActivity>>,
}

/// `POST /users/{name}/tokens`. Either `scopes` or `roles`, not both; neither means
/// `inherit` (all of the owner's scopes).
#[derive(ToSchema)]
pub struct TokenRequest {
    #[schema(required = false)]
    pub note: String,
    /// Seconds until expiry; null means never (or the configured maximum).
    pub expires_in: Option<i64>,
    pub scopes: Option<Vec<String>>,
    pub roles: Option<Vec<String>>,
}

/// `POST /groups`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroups {
    #[schema(min_items = 1, inline)]
    pub groups: Vec<GroupName>,
    /// Initial members of every new group; each must exist.
    pub users: Option<Vec<String>>,
}

/// `POST /groups/{name}` and `POST|DELETE /groups/{name}/users`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupUsers {
    #[schema(required = false)]
    pub users: Vec<String>,
}

/// `POST /services/{name}`: a runtime service (without `command`: the hub runs none).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    #[schema(required = false)]
    pub name: String,
    #[schema(required = false)]
    pub admin: bool,
    #[schema(required = false)]
    pub url: String,
    #[schema(required = false)]
    pub oauth_client_allowed_scopes: Vec<String>,
    /// The service's token; at least 8 characters.
    #[schema(required = false, min_length = 8)]
    pub api_token: String,
    #[schema(required = false, value_type = Object)]
    pub info: Value,
    #[schema(required = false)]
    pub display: bool,
    #[schema(required = false)]
    pub oauth_no_confirm: bool,
    /// Must be empty: managed services can only come from the configuration.
    #[schema(required = false, max_items = 0)]
    pub command: Vec<String>,
    #[schema(required = false)]
    pub cwd: String,
    #[schema(required = false, value_type = Object)]
    pub environment: Value,
    #[schema(required = false)]
    pub user: String,
    #[schema(required = false)]
    pub oauth_client_id: String,
    #[schema(required = false)]
    pub oauth_redirect_uri: String,
}

/// `PATCH /proxy`: accepted for compatibility (the proxy is embedded); routes are checked.
/// At least one key (`minProperties` is set in `openapi.rs`).
#[derive(ToSchema)]
pub struct ProxyPatch {
    #[schema(required = false)]
    pub api_url: String,
    #[schema(required = false)]
    pub auth_token: String,
}

/// `POST /shutdown`.
#[derive(ToSchema)]
pub struct Shutdown {
    /// Also stop every user server.
    #[schema(required = false)]
    pub servers: bool,
    /// Accepted for compatibility; the embedded proxy stops with the replica.
    #[schema(required = false)]
    pub proxy: bool,
}

/// `state` filter of `GET /users`: `active` (a server ready or pending), `ready` (a server
/// ready; the page may then hold fewer items than `limit`), `inactive` (no active server).
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserState {
    Active,
    Ready,
    Inactive,
}

/// `sort` of `GET /users`; a `-` prefix sorts descending.
#[derive(ToSchema)]
pub enum UserSort {
    #[serde(rename = "id")]
    Id,
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "last_activity")]
    LastActivity,
    #[serde(rename = "-id")]
    IdDesc,
    #[serde(rename = "-name")]
    NameDesc,
    #[serde(rename = "-last_activity")]
    LastActivityDesc,
}

/// Pagination arguments (`GET /users`, `/groups`, `/proxy`), parsed as Python's `abs(int(s))`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items to skip.
    #[param(nullable = false)]
    pub offset: Option<i64>,
    /// Items per page, clamped to `[1, api_page_max_limit]`; the default is
    /// `api_page_default_limit` with the envelope, else the maximum.
    #[param(nullable = false)]
    pub limit: Option<i64>,
}

/// Read consistency of a GET.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// `linearizable` waits for a read index from the leader before answering (sees every
    /// write acknowledged anywhere); any other value answers from this replica's state.
    #[param(nullable = false)]
    pub consistency: Option<String>,
}

/// Filters of `GET /users`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    #[param(inline, nullable = false)]
    pub state: Option<UserState>,
    /// Case-insensitive substring of the name.
    #[param(nullable = false)]
    pub name_filter: Option<String>,
    #[param(inline, nullable = false)]
    pub sort: Option<UserSort>,
    /// Also list stopped servers; any value but `0` or `false` (even empty) means yes.
    #[param(nullable = false)]
    pub include_stopped_servers: Option<String>,
}

/// `include_stopped_servers` of `GET /users/{name}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StoppedQuery {
    /// Also show stopped servers; any value but `0` or `false` (even empty) means yes.
    #[param(nullable = false)]
    pub include_stopped_servers: Option<String>,
}
