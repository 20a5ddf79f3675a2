//! `/share-codes/{owner}[/{server}]` (JupyterHub 5 sharing): codes that grant their scopes on
//! a server to whoever accepts them at `{hub}accept-share` before they expire. Only a hash of a
//! code is kept; the code itself is in the answer that creates it and nowhere else.

use axum::body::Body;
use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rafthub_raft::command::{Command, Outcome};
use rafthub_raft::state::model::ShareCode;
use rafthub_raft::HubState;
use rafthub_rbac::Builtin::*;
use serde_json::Value;

use super::models::View;
use super::request::json_body;
use super::schema::ErrorBody;
use super::schema_io::PageQuery;
use super::share_model::{
    check_grantable, code_model, has_server, no_such_server, paged, parse_body, server_exists,
    share_bases, CODE_EXPIRES_DEFAULT_S,
};
use super::share_schema::{NewShareCode, ShareCodeModel, ShareCodePage};
use super::shares::require_server;
use super::users::ctx;
use super::{json_response, outcome_error, ApiError};
use crate::hub::Hub;

/// The unexpired code `code` among the codes of `owner`'s servers (`server`, if given).
pub fn find_code<'s>(
    st: &'s HubState,
    code: &str,
    now: i64,
) -> Option<(u64, &'s str, &'s ShareCode)> {
    let prefix: String = code.chars().take(4).collect();
    let hash = crate::secrets::sha256_hex(code);
    st.share_codes_with_prefix(&prefix).find(|(_, _, c)| {
        bool::from(subtle::ConstantTimeEq::ct_eq(
            c.hash.as_bytes(),
            hash.as_bytes(),
        )) && c.expires_at >= now
    })
}

/// `GET /share-codes/{owner}`: the unexpired codes of every server of `owner`, by id.
#[utoipa::path(
    get,
    path = "/api/share-codes/{owner}",
    operation_id = "list_owner_share_codes",
    tag = "shares",
    security(("token" = [])),
    params(("owner" = String, Path, description = "Owner of the servers."), PageQuery),
    responses(
        (status = 200, description = "The codes, paginated.", body = ShareCodePage),
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
    let caller = require_server(&hub, c.caller.as_ref(), ReadShares, &owner, "None")?;
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
    let now = crate::timefmt::now();
    let mut all: Vec<_> = u
        .servers
        .keys()
        .flat_map(|name| st.share_codes_of(u.id, name).iter().map(move |c| (name, c)))
        .filter(|(_, c)| c.expires_at >= now)
        .collect();
    all.sort_by_key(|(_, c)| c.id);
    let items = all
        .into_iter()
        .map(|(name, c)| Value::Object(code_model(&view, u, name, c)))
        .collect();
    paged(&hub, items, &headers, uri.path(), &c.q)
}

/// `GET|POST|DELETE /share-codes/{owner}/{server}`.
#[utoipa::path(
    method(get, post, delete),
    path = "/api/share-codes/{owner}/{server}",
    operation_id = "server_share_codes",
    tag = "shares",
    security(("token" = [])),
    params(
        ("owner" = String, Path, description = "Owner of the server."),
        ("server" = String, Path, description = "Server name.", min_length = 1),
        ("code" = Option<String>, Query, description = "DELETE: only this code."),
        ("id" = Option<String>, Query, description = "DELETE: only the code `sc_<n>`."),
        PageQuery
    ),
    request_body(content = NewShareCode, description = "POST: the scopes and lifetime."),
    responses(
        (status = 200, description = "GET: the server's unexpired codes, paginated. POST: the \
            new code, with `code` and `accept_url`.", body = CodeOrPage),
        (status = 204, description = "DELETE: the code (or every code) is gone."),
        (status = 400, description = "A bad body, filter or scope.", body = ErrorBody),
        (status = 404, description = "No such server or code, or not visible to the caller.",
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

/// The same for the default server, `/share-codes/{owner}/`.
#[utoipa::path(
    method(get, post, delete),
    path = "/api/share-codes/{owner}/",
    operation_id = "default_server_share_codes",
    tag = "shares",
    security(("token" = [])),
    params(
        ("owner" = String, Path, description = "Owner of the server."),
        ("code" = Option<String>, Query, description = "DELETE: only this code."),
        ("id" = Option<String>, Query, description = "DELETE: only the code `sc_<n>`."),
        PageQuery
    ),
    request_body(content = NewShareCode, description = "POST: the scopes and lifetime."),
    responses(
        (status = 200, description = "As for a named server.", body = CodeOrPage),
        (status = 204, description = "DELETE: the code (or every code) is gone."),
        (status = 400, description = "A bad body, filter or scope.", body = ErrorBody),
        (status = 404, description = "No such user or code, or not visible to the caller.",
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
    let now = crate::timefmt::now();
    if method == Method::POST {
        let data = json_body(body, hub.cfg.max_body_bytes).await?;
        let b = parse_body(data, "ShareCodeGrantRequest", &["scopes", "expires_in"])?;
        let bases = share_bases(hub, b.scopes.as_deref(), owner, server)?;
        check_grantable(&hub.node.state(), &caller, &bases, owner, server)?;
        server_exists(hub, owner, server).await?;
        let code =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let expires_in = b.expires_in.unwrap_or(CODE_EXPIRES_DEFAULT_S);
        let cmd = Command::CreateShareCode {
            owner: owner.into(),
            server: server.into(),
            code: ShareCode {
                id: 0,
                prefix: code[..4].to_string(),
                hash: crate::secrets::sha256_hex(&code),
                scopes: bases,
                created_at: now,
                expires_at: now + expires_in * 1_000_000,
                exchange_count: 0,
                last_exchanged_at: None,
            },
        };
        let id = match hub.node.write(cmd).await? {
            Outcome::Created(ids) if ids.len() == 1 => ids[0],
            o => return Err(outcome_error(o)),
        };
        let st = hub.node.state();
        let view = View {
            hub,
            st: &st,
            scopes: &caller.scopes,
            include_stopped: false,
        };
        let u = st
            .user(owner)
            .ok_or_else(|| no_such_server(owner, server))?;
        let c = st.share_codes_of(u.id, server).iter().find(|c| c.id == id);
        let c = c.ok_or_else(|| no_such_server(owner, server))?;
        let mut model = code_model(&view, u, server, c);
        let accept_url = format!(
            "{}accept-share?{}",
            hub.hub_prefix(),
            form_urlencoded::Serializer::new(String::new())
                .append_pair("code", &code)
                .finish()
        );
        model.insert("full_accept_url".into(), view.public_url(&accept_url));
        model.insert("accept_url".into(), Value::String(accept_url));
        model.insert("code".into(), Value::String(code));
        return Ok(json_response(StatusCode::OK, &Value::Object(model)));
    }
    server_exists(hub, owner, server).await?;
    let id = {
        let st = hub.node.state();
        let u = st.user(owner).filter(|_| has_server(&st, owner, server));
        let u = u.ok_or_else(|| no_such_server(owner, server))?;
        if method == Method::GET {
            let view = View {
                hub,
                st: &st,
                scopes: &caller.scopes,
                include_stopped: false,
            };
            let items = st
                .share_codes_of(u.id, server)
                .iter()
                .filter(|c| c.expires_at >= now)
                .map(|c| Value::Object(code_model(&view, u, server, c)))
                .collect();
            return paged(hub, items, headers, path, &c.q);
        }
        // DELETE: `?code=`, else `?id=sc_<n>`, else every code of the server.
        if let Some(code) = c.q.get("code") {
            let found = find_code(&st, code, now)
                .filter(|(o, s, _)| *o == u.id && *s == server)
                .map(|(_, _, c)| c.id);
            Some(found.ok_or_else(|| ApiError::not_found("No matching code found"))?)
        } else if let Some(id) = c.q.get("id") {
            let n = id
                .strip_prefix("sc_")
                .and_then(|d| {
                    let digits: String = d.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse::<u64>().ok()
                })
                .filter(|n| st.share_codes_of(u.id, server).iter().any(|c| c.id == *n));
            Some(n.ok_or_else(|| ApiError::not_found(format!("No code found matching id={id}")))?)
        } else {
            None
        }
    };
    let cmd = Command::DeleteShareCodes {
        owner: owner.into(),
        server: server.into(),
        id,
    };
    match hub.node.write(cmd).await? {
        Outcome::Ok => Ok(StatusCode::NO_CONTENT.into_response()),
        o => Err(outcome_error(o)),
    }
}

/// `POST` answers a code, `GET` the page: one 200 schema for both.
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)]
pub enum CodeOrPage {
    Page(ShareCodePage),
    Code(ShareCodeModel),
}
