//! Doc-only schemas of the sharing endpoints (see `schema.rs` for the conventions): the
//! handlers build `serde_json::Value`s in `share_model.rs`, which these must follow.
#![allow(dead_code)]

use utoipa::ToSchema;

use super::schema_io::Pagination;

/// `{"name": ...}` of a user or group.
#[derive(ToSchema)]
pub struct NameRef {
    pub name: String,
}

/// The shared server, as the share models show it.
#[derive(ToSchema)]
pub struct ShareServer {
    pub user: NameRef,
    /// `""` for the default server.
    pub name: String,
    pub url: String,
    /// The absolute URL when `public_url` is configured, else null.
    #[schema(required)]
    pub full_url: Option<String>,
    pub ready: bool,
}

#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShareKind {
    User,
    Group,
}

/// A share: scopes on one server granted to one user or one group.
#[derive(ToSchema)]
pub struct ShareModel {
    pub server: ShareServer,
    /// Each filtered to the server (`access:servers!server=alice/`).
    pub scopes: Vec<String>,
    /// The recipient user, or null for a group share.
    #[schema(required)]
    pub user: Option<NameRef>,
    /// The recipient group, or null for a user share.
    #[schema(required)]
    pub group: Option<NameRef>,
    #[schema(inline)]
    pub kind: ShareKind,
    pub created_at: String,
}

/// A share code; `code`, `accept_url` and `full_accept_url` only in the answer that creates it.
#[derive(ToSchema)]
pub struct ShareCodeModel {
    pub server: ShareServer,
    pub scopes: Vec<String>,
    /// `sc_<n>`.
    pub id: String,
    pub created_at: String,
    pub expires_at: String,
    pub exchange_count: u64,
    #[schema(required)]
    pub last_exchanged_at: Option<String>,
    /// The code itself: shown once, never stored.
    #[schema(required = false)]
    pub code: String,
    /// `{hub}accept-share?code=...`.
    #[schema(required = false)]
    pub accept_url: String,
    #[schema(required = false)]
    pub full_accept_url: Option<String>,
}

/// Shares, always paginated.
#[derive(ToSchema)]
pub struct SharePage {
    pub items: Vec<ShareModel>,
    #[serde(rename = "_pagination")]
    pub pagination: Pagination,
}

/// Share codes, always paginated.
#[derive(ToSchema)]
pub struct ShareCodePage {
    pub items: Vec<ShareCodeModel>,
    #[serde(rename = "_pagination")]
    pub pagination: Pagination,
}

/// `{}`: what a revoke answers when no share is left.
#[derive(ToSchema)]
#[schema(max_properties = 0)]
pub struct Empty {}

/// Body of a grant or revoke: exactly one of `user` and `group`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShare {
    /// Scopes to grant or revoke; none means `access:servers` (grant) or all (revoke).
    #[schema(required = false)]
    pub scopes: Option<Vec<String>>,
    #[schema(required = false)]
    pub user: Option<String>,
    #[schema(required = false)]
    pub group: Option<String>,
}

/// Body of a share code's creation.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShareCode {
    #[schema(required = false)]
    pub scopes: Option<Vec<String>>,
    /// Seconds until the code expires: 60 to 31,536,000; a day by default.
    #[schema(required = false, minimum = 60, maximum = 31_536_000)]
    pub expires_in: Option<i64>,
}
