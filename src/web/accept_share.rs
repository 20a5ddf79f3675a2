//! `{hub}accept-share` (JupyterHub 5 sharing): a logged-in user accepts a share code. GET
//! shows what accepting grants; the form POSTs back (XSRF-checked) and the code's scopes on its
//! server are granted to the user, who is sent on to `next` or to the shared server.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use rafthub_raft::command::{Command, Outcome};

use super::pages::{error_page, found, login_redirect, query_param, render, valid_next, Page};
use super::session::form_xsrf_refusal;
use crate::api::share_codes::find_code;
use crate::hub::Hub;

/// What a valid code points at: owner, server, code id, base scopes.
struct Found {
    owner: String,
    server: String,
    id: u64,
    scopes: Vec<String>,
}

fn lookup(hub: &Hub, code: &str) -> Option<Found> {
    let st = hub.node.state();
    let (owner, server, c) = find_code(&st, code, crate::timefmt::now())?;
    Some(Found {
        owner: st.user_by_id(owner)?.name.clone(),
        server: server.to_string(),
        id: c.id,
        scopes: c.scopes.clone(),
    })
}

/// `next` from the query if it is a local path, else `default` (the shared server), as
/// upstream's `_get_next_url` falls back for this page.
fn next_or(query: Option<&str>, default: &str) -> String {
    match query_param(query, "next") {
        Some(n) if valid_next(Some(&n)).is_some() => n,
        _ => default.to_string(),
    }
}

pub async fn page(State(hub): State<Hub>, headers: HeaderMap, RawQuery(rq): RawQuery) -> Response {
    let Some(user) = hub.cookie_user(&headers) else {
        let here = match &rq {
            Some(q) => format!("{}accept-share?{q}", hub.hub_prefix()),
            None => format!("{}accept-share", hub.hub_prefix()),
        };
        return login_redirect(&hub, &here);
    };
    let Some(code) = query_param(rq.as_deref(), "code") else {
        return error_page(&hub, StatusCode::BAD_REQUEST, "Missing argument code", None);
    };
    let Some(f) = lookup(&hub, &code) else {
        return error_page(
            &hub,
            StatusCode::NOT_FOUND,
            "Share not found or expired",
            None,
        );
    };
    if f.owner == user.name {
        return error_page(
            &hub,
            StatusCode::FORBIDDEN,
            "You can't share with yourself!",
            None,
        );
    }
    let ready = hub
        .node
        .state()
        .user(&f.owner)
        .and_then(|u| u.servers.get(&f.server).map(|s| s.ready()))
        .unwrap_or(false);
    let url = hub.server_prefix(&f.owner, &f.server);
    let scopes: Vec<_> = f
        .scopes
        .iter()
        .map(|s| {
            let description = hub.authz.registry.description(s).unwrap_or_default();
            context! { scope => s, description => description }
        })
        .collect();
    let next_url = next_or(rq.as_deref(), &url);
    let page = Page::new(&hub, &headers, Some(user));
    render(
        &hub,
        page,
        "accept_share.html",
        StatusCode::OK,
        context! {
            owner => f.owner, server_name => f.server, server_url => url, ready => ready,
            scopes => scopes, next_url => next_url, code => code,
        },
    )
}

pub async fn accept(
    State(hub): State<Hub>,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
    body: Bytes,
) -> Response {
    let fields: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| {
        fields
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let forbidden = |m: &str| error_page(&hub, StatusCode::FORBIDDEN, m, None);
    if let Some(refused) = form_xsrf_refusal(&hub, &headers, &fields, rq.as_deref()) {
        return forbidden(refused);
    }
    let Some(user) = hub.cookie_user(&headers) else {
        return forbidden("You must be logged in to accept a share.");
    };
    let bad = |m: &str| error_page(&hub, StatusCode::BAD_REQUEST, m, Some(&user.name));
    let Some(code) = field("code").or_else(|| query_param(rq.as_deref(), "code")) else {
        return bad("Missing argument code");
    };
    let Some(f) = lookup(&hub, &code) else {
        return bad(&format!("Invalid share code: {code}"));
    };
    if f.owner == user.name {
        return bad("You can't share with yourself!");
    }
    let cmd = Command::ExchangeShareCode {
        owner: f.owner.clone(),
        server: f.server.clone(),
        id: f.id,
        user: user.name.clone(),
    };
    match hub.node.write(cmd).await {
        Ok(Outcome::Ok) => {}
        Ok(Outcome::NotFound(_)) => return bad(&format!("Invalid share code: {code}")),
        Ok(Outcome::Invalid(m)) => return bad(&m),
        Ok(o) => return bad(&format!("{o:?}")),
        Err(e) => return error_page(&hub, StatusCode::SERVICE_UNAVAILABLE, &e.to_string(), None),
    }
    let to = next_or(rq.as_deref(), &hub.server_prefix(&f.owner, &f.server));
    found(&to).into_response()
}
