//! `/shares/{owner}[/{server}]` (JupyterHub 5 sharing, contract §1.14): list, grant, revoke
//! and drop the shares of a user's servers. The default server is `/shares/{owner}/`.

use axum::body::Body;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rafthub_raft::command::{Command, Outcome, ShareTarget};
use rafthub_rbac::{Builtin::*, Resource};
use serde_json::{json, Value};

use super::auth::{require, Caller};
use super::models::View;
use super::request::json_body;
use super::schema::ErrorBody;
use super::schema_io::PageQuery;
use super::share_model::{
    check_grantable, has_server, no_such_server, paged, parse_body, server_exists, share_bases,
    share_model,
};
use super::share_schema::{NewShare, ShareModel, SharePage};
use super::users::ctx;
use super::{json_response, outcome_error, ApiError};
use crate::hub::Hub;

/// The server segment of the owner-wide forms: upstream's handler argument is `None` there,
/// so the scope filter checked is `!server=<owner>/None`.
const NO_SERVER: &str = "None";

/// The caller after upstream's `needs_scope` on `!server=<owner>/<server>`.
pub(super) fn require_server(
    hub: &Hub,
    caller: Option<&Caller>,
    scope: rafthub_rbac::Builtin,
    owner: &str,
    server: &str,
) -> Result<Caller, ApiError> {
    let st = hub.node.state();
    require(
        caller,
        &st,
        &[scope],
        Resource::Server {
            user: owner,
            server,
        },
    )
    .cloned()
}

/// `GET /shares/{owner}`: every share of every server of `owner`, by id.
#[utoipa::path(
    get,
    path = "/api/shares/{owner}",
    operation_id = "list_owner_shares",
    tag = "shares",
    security(("token" = [])),
    params(("owner" = String, Path, description = "Owner of the servers."), PageQuery),
    responses(
        (status = 200, description = "The shares, paginated.", body = SharePage),
        (status = 404, description = "No such user, or not visible to the caller.", body = ErrorBody)
    )
)]
pub async fn list_owner(
    State(hub): State<Hub>,
    Path(owner): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
) -> Result<Response, ApiError> {
    let c = ctx(&hub, &headers, rq).await?;
    let caller = require_server(&hub, c.caller.as_ref(), ReadShares, &owner, NO_SERVER)?;
    hub.confirm_miss(|st| st.user(&owner).is_some()).await?;
    let st = hub.node.state();
    let Some(u) = st.user(&owner) else {
        return Err(ApiError::bare(StatusCode::NOT_FOUND));
    };
    let view = View {
        hub: &hub,
        st: &st,
        scopes: &caller.scopes,
        include_stopped: false,
    };
    let mut all: Vec<_> = u
        .servers
        .keys()
        .flat_map(|name| st.shares_of(u.id, name).iter().map(move |sh| (name, sh)))
        .collect();
    all.sort_by_key(|(_, sh)| sh.id);
    let items = all
        .into_iter()
        .map(|(name, sh)| share_model(&view, &st, u, name, sh))
        .collect();
    paged(&hub, items, &headers, uri.path(), &c.q)
}

/// `GET|POST|PATCH|DELETE /shares/{owner}/{server}`.
#[utoipa::path(
    method(get, post, patch, delete),
    path = "/api/shares/{owner}/{server}",
    operation_id = "server_shares",
    tag = "shares",
    security(("token" = [])),
    params(
        ("owner" = String, Path, description = "Owner of the server."),
        ("server" = String, Path, description = "Server name.", min_length = 1),
        PageQuery
    ),
    request_body(content = NewShare, description = "POST and PATCH: the recipient and the \
        scopes to grant or revoke (PATCH without scopes revokes the whole share)."),
    responses(
        (status = 200, description = "GET: the server's shares, paginated. POST: the share \
            after the grant. PATCH: the share after the revoke, or `{}` when none is left.",
            body = ShareOrPage),
        (status = 204, description = "DELETE: every share of the server is gone."),
        (status = 400, description = "A bad body, filter or scope, or an unknown recipient.",
            body = ErrorBody),
        (status = 404, description = "No such server, or not visible to the caller.",
            body = ErrorBody)
    )
)]
#[allow(clippy::too_many_arguments)]
pub async fn named(
    State(hub): State<Hub>,
    method: Method,
    Path((owner, server)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    server_op(
        &hub,
        method,
        &owner,
        &server,
        uri.path(),
        &headers,
        rq,
        body,
    )
    .await
}

/// The same for the default server, `/shares/{owner}/`.
#[utoipa::path(
    method(get, post, patch, delete),
    path = "/api/shares/{owner}/",
    operation_id = "default_server_shares",
    tag = "shares",
    security(("token" = [])),
    params(("owner" = String, Path, description = "Owner of the server."), PageQuery),
    request_body(content = NewShare, description = "As for a named server."),
    responses(
        (status = 200, description = "As for a named server.", body = ShareOrPage),
        (status = 204, description = "DELETE: every share of the server is gone."),
        (status = 400, description = "A bad body, filter or scope, or an unknown recipient.",
            body = ErrorBody),
        (status = 404, description = "No such user, or not visible to the caller.",
            body = ErrorBody)
    )
)]
pub async fn default(
    State(hub): State<Hub>,
    method: Method,
    Path(owner): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    server_op(&hub, method, &owner, "", uri.path(), &headers, rq, body).await
}

/// What `POST`/`PATCH` answer: the share of `with` on the server, or `{}` if there is none.
fn share_json(hub: &Hub, caller: &Caller, owner: &str, server: &str, with: &ShareTarget) -> Value {
    let st = hub.node.state();
    let view = View {
        hub,
        st: &st,
        scopes: &caller.scopes,
        include_stopped: false,
    };
    let with = match with {
        ShareTarget::User(n) => st
            .user(n)
            .map(|u| rafthub_raft::state::model::ShareWith::User(u.id)),
        ShareTarget::Group(n) => st
            .group(n)
            .map(|g| rafthub_raft::state::model::ShareWith::Group(g.id)),
    };
    let Some(u) = st.user(owner) else {
        return json!({});
    };
    st.shares_of(u.id, server)
        .iter()
        .find(|sh| Some(sh.with) == with)
        .map_or(json!({}), |sh| share_model(&view, &st, u, server, sh))
}

#[allow(clippy::too_many_arguments)]
async fn server_op(
    hub: &Hub,
    method: Method,
    owner: &str,
    server: &str,
    path: &str,
    headers: &HeaderMap,
    rq: Option<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let c = ctx(hub, headers, rq).await?;
    let scope = if method == Method::GET {
        ReadShares
    } else {
        Shares
    };
    let caller = require_server(hub, c.caller.as_ref(), scope, owner, server)?;
    if method == Method::GET {
        server_exists(hub, owner, server).await?;
        let st = hub.node.state();
        let u = st.user(owner).filter(|_| has_server(&st, owner, server));
        let u = u.ok_or_else(|| no_such_server(owner, server))?;
        let view = View {
            hub,
            st: &st,
            scopes: &caller.scopes,
            include_stopped: false,
        };
        let items = st
            .shares_of(u.id, server)
            .iter()
            .map(|sh| share_model(&view, &st, u, server, sh))
            .collect();
        return paged(hub, items, headers, path, &c.q);
    }
    if method == Method::DELETE {
        server_exists(hub, owner, server).await?;
        let cmd = Command::RevokeServerShares {
            owner: owner.into(),
            server: server.into(),
        };
        return match hub.node.write(cmd).await? {
            Outcome::Ok => Ok(StatusCode::NO_CONTENT.into_response()),
            o => Err(outcome_error(o)),
        };
    }
    let model = if method == Method::POST {
        "ShareGrantRequest"
    } else {
        "ShareRevokeRequest"
    };
    let data = json_body(body, hub.cfg.max_body_bytes).await?;
    let b = parse_body(data, model, &["scopes", "user", "group"])?;
    let with = match (b.user, b.group) {
        (Some(u), _) => ShareTarget::User(u),
        (_, Some(g)) => ShareTarget::Group(g),
        _ => unreachable!("parse_body requires one"),
    };
    if method == Method::PATCH {
        return revoke(hub, &caller, owner, server, with, b.scopes).await;
    }
    let bases = share_bases(hub, b.scopes.as_deref(), owner, server)?;
    server_exists(hub, owner, server).await?;
    {
        let st = hub.node.state();
        check_grantable(&st, &caller, &bases, owner, server)?;
        let m = crate::authz::membership(&st);
        let (scope, res, what) = match &with {
            ShareTarget::User(n) => (ReadUsersName, Resource::User(n), "users"),
            ShareTarget::Group(n) => (ReadGroupsName, Resource::Group(n), "groups"),
        };
        if !caller.scopes.grants(scope.as_str(), res, &m) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "Need scope '{}' to share with {what} by name",
                    scope.as_str()
                ),
            ));
        }
    }
    let cmd = Command::GrantShare {
        owner: owner.into(),
        server: server.into(),
        with: with.clone(),
        scopes: bases,
    };
    match hub.node.write(cmd).await? {
        Outcome::Ok => Ok(json_response(
            StatusCode::OK,
            &share_json(hub, &caller, owner, server, &with),
        )),
        Outcome::Invalid(m) => Err(ApiError::bad_request(m)),
        o => Err(outcome_error(o)),
    }
}

/// `PATCH`: upstream checks nothing beyond `shares` on the server, and takes the scopes as
/// given: only fully filtered ones (`access:servers!server=alice/`) match a share's.
async fn revoke(
    hub: &Hub,
    caller: &Caller,
    owner: &str,
    server: &str,
    with: ShareTarget,
    scopes: Option<Vec<String>>,
) -> Result<Response, ApiError> {
    server_exists(hub, owner, server).await?;
    let suffix = format!("!server={owner}/{server}");
    let scopes = scopes.map(|v| {
        v.iter()
            .filter_map(|s| s.strip_suffix(&suffix).map(str::to_string))
            .collect::<Vec<_>>()
    });
    let cmd = Command::RevokeShare {
        owner: owner.into(),
        server: server.into(),
        with: with.clone(),
        scopes,
    };
    match hub.node.write(cmd).await? {
        Outcome::Ok => Ok(json_response(
            StatusCode::OK,
            &share_json(hub, caller, owner, server, &with),
        )),
        o => Err(outcome_error(o)),
    }
}

/// `POST`/`PATCH` answer a share model (or `{}`), `GET` the page: one 200 schema for both.
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)]
pub enum ShareOrPage {
    Page(SharePage),
    Share(ShareModel),
    Empty(super::share_schema::Empty),
}
