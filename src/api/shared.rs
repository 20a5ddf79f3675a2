//! `/users/{name}/shared[...]` and `/groups/{name}/shared[...]` (JupyterHub 5 sharing): the
//! servers shared with a user or a group, from the recipient's side, and giving one back.

use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rafthub_raft::command::{Command, Outcome, ShareTarget};
use rafthub_raft::state::model::ShareWith;
use rafthub_raft::HubState;
use rafthub_rbac::{Builtin, Builtin::*, Resource};
use serde_json::Value;

use super::auth::require;
use super::models::View;
use super::schema::ErrorBody;
use super::schema_io::PageQuery;
use super::share_model::{paged, share_model};
use super::share_schema::{ShareModel, SharePage};
use super::users::ctx;
use super::{json_response, outcome_error, ApiError};
use crate::hub::Hub;

/// A recipient as the path names it.
#[derive(Clone, Copy)]
enum Kind {
    User,
    Group,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
        }
    }
    fn resource(self, name: &str) -> Resource<'_> {
        match self {
            Kind::User => Resource::User(name),
            Kind::Group => Resource::Group(name),
        }
    }
    fn scope(self, write: bool) -> Builtin {
        match (self, write) {
            (Kind::User, false) => ReadUsersShares,
            (Kind::User, true) => UsersShares,
            (Kind::Group, false) => ReadGroupsShares,
            (Kind::Group, true) => GroupsShares,
        }
    }
    fn with(self, st: &HubState, name: &str) -> Option<ShareWith> {
        match self {
            Kind::User => st.user(name).map(|u| ShareWith::User(u.id)),
            Kind::Group => st.group(name).map(|g| ShareWith::Group(g.id)),
        }
    }
}

/// `GET /users/{name}/shared`: shares with the user and with its groups, by id (a server
/// shared both ways appears once per share, as upstream lists it).
#[utoipa::path(
    get,
    path = "/api/users/{name}/shared",
    operation_id = "list_user_shared",
    tag = "shares",
    security(("token" = [])),
    params(("name" = String, Path, description = "The recipient user."), PageQuery),
    responses(
        (status = 200, description = "The shares, paginated.", body = SharePage),
        (status = 404, description = "No such user, or not visible to the caller.", body = ErrorBody)
    )
)]
pub async fn list_user(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
) -> Result<Response, ApiError> {
    list(&hub, Kind::User, &name, uri.path(), &headers, rq).await
}

/// `GET /groups/{name}/shared`: shares with the group, by id.
#[utoipa::path(
    get,
    path = "/api/groups/{name}/shared",
    operation_id = "list_group_shared",
    tag = "shares",
    security(("token" = [])),
    params(("name" = String, Path, description = "The recipient group."), PageQuery),
    responses(
        (status = 200, description = "The shares, paginated.", body = SharePage),
        (status = 404, description = "No such group, or not visible to the caller.", body = ErrorBody)
    )
)]
pub async fn list_group(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
) -> Result<Response, ApiError> {
    list(&hub, Kind::Group, &name, uri.path(), &headers, rq).await
}

async fn list(
    hub: &Hub,
    kind: Kind,
    name: &str,
    path: &str,
    headers: &HeaderMap,
    rq: Option<String>,
) -> Result<Response, ApiError> {
    let c = ctx(hub, headers, rq).await?;
    let caller = {
        let st = hub.node.state();
        require(
            c.caller.as_ref(),
            &st,
            &[kind.scope(false)],
            kind.resource(name),
        )?
        .clone()
    };
    hub.confirm_miss(|st| kind.with(st, name).is_some()).await?;
    let st = hub.node.state();
    let Some(with) = kind.with(&st, name) else {
        return Err(ApiError::not_found(format!(
            "No such {}: {name}",
            kind.word()
        )));
    };
    let mut withs = vec![with];
    if let ShareWith::User(id) = with {
        withs.extend(st.user_group_ids(id).map(ShareWith::Group));
    }
    let mut found = Vec::new();
    for w in withs {
        for (owner, server) in st.servers_shared_with(w) {
            for sh in st.shares_of(owner, server).iter().filter(|sh| sh.with == w) {
                found.push((owner, server, sh));
            }
        }
    }
    found.sort_by_key(|(_, _, sh)| sh.id);
    let view = View {
        hub,
        st: &st,
        scopes: &caller.scopes,
        include_stopped: false,
    };
    let items: Vec<Value> = found
        .into_iter()
        .filter_map(|(owner, server, sh)| {
            let u = st.user_by_id(owner)?;
            Some(share_model(&view, &st, u, server, sh))
        })
        .collect();
    paged(hub, items, headers, path, &c.q)
}

macro_rules! one_share_handlers {
    ($named:ident, $default:ident, $kind:expr, $prefix:literal, $what:literal) => {
        #[doc = concat!("`GET|DELETE ", $prefix, "/{name}/shared/{owner}/{server}`: the ", $what, "'s own share of one server.")]
        #[utoipa::path(
            method(get, delete),
            path = concat!("/api/", $prefix, "/{name}/shared/{owner}/{server}"),
            tag = "shares",
            security(("token" = [])),
            params(
                ("name" = String, Path, description = "The recipient."),
                ("owner" = String, Path, description = "Owner of the server."),
                ("server" = String, Path, description = "Server name.", min_length = 1)
            ),
            responses(
                (status = 200, description = "GET: the share.", body = ShareModel),
                (status = 204, description = "DELETE: the share is gone."),
                (status = 404, description = "No such share, or not visible to the caller.",
                    body = ErrorBody)
            )
        )]
        pub async fn $named(
            State(hub): State<Hub>,
            method: Method,
            Path((name, owner, server)): Path<(String, String, String)>,
            headers: HeaderMap,
        ) -> Result<Response, ApiError> {
            one(&hub, method, $kind, &name, &owner, &server, &headers).await
        }

        #[doc = concat!("The same for the default server, `", $prefix, "/{name}/shared/{owner}/`.")]
        #[utoipa::path(
            method(get, delete),
            path = concat!("/api/", $prefix, "/{name}/shared/{owner}/"),
            tag = "shares",
            security(("token" = [])),
            params(
                ("name" = String, Path, description = "The recipient."),
                ("owner" = String, Path, description = "Owner of the server.")
            ),
            responses(
                (status = 200, description = "GET: the share.", body = ShareModel),
                (status = 204, description = "DELETE: the share is gone."),
                (status = 404, description = "No such share, or not visible to the caller.",
                    body = ErrorBody)
            )
        )]
        pub async fn $default(
            State(hub): State<Hub>,
            method: Method,
            Path((name, owner)): Path<(String, String)>,
            headers: HeaderMap,
        ) -> Result<Response, ApiError> {
            one(&hub, method, $kind, &name, &owner, "", &headers).await
        }
    };
}

one_share_handlers!(user_named, user_default, Kind::User, "users", "user");
one_share_handlers!(group_named, group_default, Kind::Group, "groups", "group");

async fn one(
    hub: &Hub,
    method: Method,
    kind: Kind,
    name: &str,
    owner: &str,
    server: &str,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(headers).await?;
    let write = method == Method::DELETE;
    let caller = {
        let st = hub.node.state();
        require(
            caller.as_ref(),
            &st,
            &[kind.scope(write)],
            kind.resource(name),
        )?
        .clone()
    };
    let present = |st: &HubState| {
        let (Some(with), Some(u)) = (kind.with(st, name), st.user(owner)) else {
            return false;
        };
        st.shares_of(u.id, server).iter().any(|sh| sh.with == with)
    };
    hub.confirm_miss(present).await?;
    let missing = || {
        if matches!(kind, Kind::Group) && hub.node.state().group(name).is_none() {
            return ApiError::not_found(format!("No such group: {name}"));
        }
        ApiError::not_found(format!(
            "No such share for {} {name} on {owner}/{server}",
            kind.word()
        ))
    };
    if !present(&hub.node.state()) {
        return Err(missing());
    }
    if write {
        let with = match kind {
            Kind::User => ShareTarget::User(name.into()),
            Kind::Group => ShareTarget::Group(name.into()),
        };
        let cmd = Command::RevokeShare {
            owner: owner.into(),
            server: server.into(),
            with,
            scopes: None,
        };
        return match hub.node.write(cmd).await? {
            Outcome::Ok => Ok(StatusCode::NO_CONTENT.into_response()),
            o => Err(outcome_error(o)),
        };
    }
    let body = {
        let st = hub.node.state();
        let view = View {
            hub,
            st: &st,
            scopes: &caller.scopes,
            include_stopped: false,
        };
        kind.with(&st, name)
            .zip(st.user(owner))
            .and_then(|(with, u)| {
                let sh = st
                    .shares_of(u.id, server)
                    .iter()
                    .find(|sh| sh.with == with)?;
                Some(share_model(&view, &st, u, server, sh))
            })
    };
    match body {
        Some(v) => Ok(json_response(StatusCode::OK, &v)),
        None => Err(missing()),
    }
}
