//! Browser flows around user servers (contract §3.4, §7): `{hub}spawn`, `{hub}spawn-pending`,
//! `{hub}user/<name>/...` (server not running), the `/user/...` prefix redirect and
//! `{hub}user-redirect/...`.

use std::time::Duration;

use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use rafthub_rbac::{Builtin, Resource};

use super::pages::{error_page, found, render, valid_next, with_location, Page};
use super::spawn_form;
use crate::api::auth::Caller;
use crate::api::names::quote_name;
use crate::hub::Hub;

pub(super) fn query_param(rq: Option<&str>, k: &str) -> Option<String> {
    rq.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    })
}

pub(super) fn pending_url(hub: &Hub, user: &str, server: &str) -> String {
    let base = format!("{}spawn-pending/{}", hub.hub_prefix(), quote_name(user));
    if server.is_empty() {
        base
    } else {
        format!("{base}/{}", quote_name(server))
    }
}

fn spawn_url(hub: &Hub, user: &str, server: &str) -> String {
    let base = format!("{}spawn/{}", hub.hub_prefix(), quote_name(user));
    if server.is_empty() {
        base
    } else {
        format!("{base}/{}", quote_name(server))
    }
}

pub(super) fn with_next(url: &str, next: Option<&str>) -> String {
    match next {
        Some(n) => format!(
            "{url}?next={}",
            form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
        ),
        None => url.to_string(),
    }
}

/// The non-empty segments of path parts: a `{*parts}` wildcard arrives as one segment
/// ("carol/srv3").
fn segments(parts: &[String]) -> impl Iterator<Item = &str> {
    parts
        .iter()
        .flat_map(|p| p.split('/'))
        .filter(|p| !p.is_empty())
}

/// `(user, server)` from the optional path parts, defaulting to the caller's default server.
fn target(me: &str, parts: &[String]) -> (String, String) {
    let mut segs = segments(parts);
    match (segs.next(), segs.next()) {
        (None, _) => (me.to_string(), String::new()),
        (Some(u), None) => (u.to_string(), String::new()),
        (Some(u), Some(s)) => (u.to_string(), s.to_string()),
    }
}

/// The `(user, server)` a spawn request names, if `caller` may start it; else the status
/// and message of the error page.
pub(super) fn authorize(
    hub: &Hub,
    caller: &Caller,
    parts: Option<Path<Vec<String>>>,
) -> Result<(String, String), (StatusCode, String)> {
    let parts = parts.map(|p| p.0).unwrap_or_default();
    let (user, server) = target(&caller.name, &parts);
    let allowed = {
        let st = hub.node.state();
        crate::api::auth::holds(
            caller,
            &st,
            Builtin::StartServers,
            Resource::Server {
                user: &user,
                server: &server,
            },
        )
    };
    let fail = |status, msg: &str| Err((status, msg.to_string()));
    if !allowed {
        // As upstream's `needs_scope` on pages: a server the caller may not start is one it
        // cannot see.
        return fail(
            StatusCode::NOT_FOUND,
            "No access to resources or resources not found",
        );
    }
    if !server.is_empty() && !hub.cfg.allow_named_servers {
        return fail(StatusCode::BAD_REQUEST, "Named servers are not enabled.");
    }
    if !server.is_empty() && !crate::api::names::valid_server_name(&server) {
        return fail(
            StatusCode::BAD_REQUEST,
            &format!("Invalid server name: {server}"),
        );
    }
    Ok((user, server))
}

/// `GET {hub}spawn[/<user>[/<server>]]`: the options form when the spawner has one and no
/// `opt-` options were given, else starts the server and goes to the pending page.
pub async fn spawn(
    State(hub): State<Hub>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    parts: Option<Path<Vec<String>>>,
    RawQuery(rq): RawQuery,
) -> Response {
    let Some(caller) = hub.cookie_caller(&headers) else {
        return super::pages::login_redirect(&hub, super::pages::request_target(&uri));
    };
    let (user, server) = match authorize(&hub, &caller, parts) {
        Ok(t) => t,
        Err((status, m)) => return error_page(&hub, status, &m, Some(&caller.name)),
    };
    let next = query_param(rq.as_deref(), "next");
    let query_options: Vec<(String, String)> = rq
        .as_deref()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .filter_map(|(k, v)| {
                    k.strip_prefix("opt-")
                        .map(|k| (k.to_string(), v.into_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    let (ready, active, saved) = {
        let st = hub.node.state();
        let s = st.user(&user).and_then(|u| u.servers.get(&server));
        (
            s.is_some_and(|s| s.ready()),
            s.is_some_and(|s| s.active()),
            s.map(|s| s.user_options.clone()).unwrap_or_default(),
        )
    };
    let profiles = spawn_form::profiles(&hub);
    let options = match profiles {
        // The options form (upstream's SpawnHandler: only for a server that is not active).
        Some(_) if query_options.is_empty() && !active => {
            let action = uri
                .path_and_query()
                .map_or_else(|| uri.path().to_string(), |p| p.to_string());
            let ctx = spawn_form::Form {
                user: &user,
                server: &server,
                saved: &saved,
                action: &action,
            };
            return spawn_form::render_form(&hub, &headers, &caller, ctx);
        }
        _ => match spawn_form::options_from_query(profiles, query_options) {
            Ok(o) => o,
            Err(m) => return error_page(&hub, StatusCode::BAD_REQUEST, &m, Some(&caller.name)),
        },
    };
    if ready {
        // As upstream's SpawnHandler: a running server is the destination, no pending page.
        let server_url = hub.server_prefix(&user, &server);
        return found(valid_next(next.as_deref()).unwrap_or(&server_url)).into_response();
    }
    match crate::spawn::start(&hub, &user, &server, options, None, Duration::ZERO).await {
        Ok(_) => {}
        // Already starting: the pending page follows it.
        Err(e) if e.status == StatusCode::BAD_REQUEST => {}
        Err(e) => {
            return error_page(
                &hub,
                e.status,
                e.message.as_deref().unwrap_or("Spawn failed"),
                Some(&caller.name),
            )
        }
    }
    found(&with_next(
        &pending_url(&hub, &user, &server),
        next.as_deref(),
    ))
    .into_response()
}

/// `GET {hub}spawn-pending/<user>[/<server>]`.
pub async fn spawn_pending(
    State(hub): State<Hub>,
    headers: HeaderMap,
    Path(parts): Path<Vec<String>>,
    RawQuery(rq): RawQuery,
) -> Response {
    let (Some(me), Some(caller)) = (hub.cookie_user(&headers), hub.cookie_caller(&headers)) else {
        let mut here = format!("{}spawn-pending/", hub.hub_prefix());
        let segs: Vec<String> = segments(&parts).map(quote_name).collect();
        here.push_str(&segs.join("/"));
        if let Some(q) = &rq {
            here = format!("{here}?{q}");
        }
        return super::pages::login_redirect(&hub, &here);
    };
    let (user, server) = target(&me.name, &parts);
    // Upstream's `@needs_scope("servers")`, then 404 for a user or named server that is not.
    let refused = {
        let st = hub.node.state();
        let resource = Resource::Server {
            user: &user,
            server: &server,
        };
        if let Err(e) = crate::api::auth::require(Some(&caller), &st, &[Builtin::Servers], resource)
        {
            Some((e.status, e.message.unwrap_or_default()))
        } else {
            match st.user(&user) {
                None => Some((StatusCode::NOT_FOUND, format!("No such user: {user}"))),
                Some(u) if !server.is_empty() && !u.servers.contains_key(&server) => Some((
                    StatusCode::NOT_FOUND,
                    format!("{user} has no such server {server}"),
                )),
                Some(_) => None,
            }
        }
    };
    if let Some((status, msg)) = refused {
        return error_page(&hub, status, &msg, Some(&me.name));
    }
    let next = query_param(rq.as_deref(), "next");
    let server_url = hub.server_prefix(&user, &server);
    let (phase, failure) = {
        let st = hub.node.state();
        match st.user(&user).and_then(|u| u.servers.get(&server)) {
            Some(s) => (Some(s.phase.clone()), s.failure.clone()),
            None => (None, None),
        }
    };
    let page = Page::new(&hub, &headers, Some(me));
    use rafthub_raft::state::model::Phase;
    match phase {
        Some(Phase::Ready) => {
            found(valid_next(next.as_deref()).unwrap_or(&server_url)).into_response()
        }
        Some(Phase::Spawning) => {
            let progress = super::progress_url(&hub, &user, &server);
            render(
                &hub,
                page,
                "spawn_pending.html",
                StatusCode::OK,
                context! { progress_url => progress, next_url => next.unwrap_or(server_url), spawn_url => spawn_url(&hub, &user, &server) },
            )
        }
        _ => render(
            &hub,
            page,
            "not_running.html",
            StatusCode::OK,
            context! { server_name => server.clone(), failure => failure, spawn_url => with_next(&spawn_url(&hub, &user, &server), next.as_deref()) },
        ),
    }
}

/// `/user/...` requests that reach the hub (no route): 302 to `{hub}user/...`, once the miss
/// is confirmed (a lagging replica sends the client back to the route instead).
///
/// Only GET is redirected, as upstream's `PrefixRedirectHandler`, which takes no token: HEAD
/// and OPTIONS get 405, any other method meets the XSRF check first (403, a token does not
/// exempt it) and, past it, the method it does not have (405). A redirected POST would come
/// back as a GET.
pub async fn prefix_redirect(
    State(hub): State<Hub>,
    method: Method,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    if let Some(r) = crate::api::error::confirm_route_miss(&hub, &uri).await {
        return r;
    }
    if matches!(method, Method::HEAD | Method::OPTIONS) {
        return error_page(&hub, StatusCode::METHOD_NOT_ALLOWED, "", None);
    }
    if method != Method::GET {
        let m = method.as_str().to_ascii_uppercase();
        let message = match super::session::presented_xsrf(&headers, uri.query()) {
            None => format!("'_xsrf' argument missing from {m}"),
            Some(p) if !Page::new(&hub, &headers, None).xsrf_matches(&hub, &p) => {
                format!("XSRF cookie does not match {m} argument")
            }
            Some(_) => return error_page(&hub, StatusCode::METHOD_NOT_ALLOWED, "", None),
        };
        return error_page(&hub, StatusCode::FORBIDDEN, &message, None);
    }
    let rest = uri
        .path()
        .strip_prefix(&hub.cfg.base_url)
        .unwrap_or(uri.path());
    let mut to = format!("{}{}", hub.hub_prefix(), rest);
    if let Some(q) = uri.query() {
        to = format!("{to}?{q}");
    }
    found(&to).into_response()
}

/// `{hub}user-redirect/<path>?<query>`: the same path and query under the caller's own
/// server, by way of `{hub}spawn?next=...` (which starts the server if needed), as upstream;
/// shared links such as nbgitpuller's carry everything in the query.
pub async fn user_redirect(
    State(hub): State<Hub>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let Some(me) = hub.cookie_user(&headers) else {
        let here = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        return super::pages::login_redirect(&hub, here);
    };
    // The path as sent (still percent-encoded), not the decoded `Path` extraction.
    let prefix = format!("{}user-redirect/", hub.hub_prefix());
    let path = uri.path().strip_prefix(&prefix).unwrap_or_default();
    let mut next = format!("{}{}", hub.user_url(&me.name), path.trim_start_matches('/'));
    if let Some(q) = uri.query() {
        next = format!("{next}?{q}");
    }
    found(&with_next(
        &format!("{}spawn/{}", hub.hub_prefix(), quote_name(&me.name)),
        Some(&next),
    ))
    .into_response()
}

/// `{hub}user/<name>/<path>`: the server is not (or no longer) behind the proxy.
pub async fn user_url(
    State(hub): State<Hub>,
    method: Method,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    Path(params): Path<std::collections::HashMap<String, String>>,
) -> Response {
    // `{hub}user/<name>`, `{hub}user/<name>/` and `{hub}user/<name>/<path>` all land here.
    let name = params.get("name").cloned().unwrap_or_default();
    let path = params.get("path").cloned().unwrap_or_default();
    let caller = match hub
        .authenticate(&headers)
        .await
        .ok()
        .flatten()
        .or_else(|| hub.cookie_caller(&headers))
    {
        Some(c) => c,
        None => {
            return found(&format!(
                "{}login?next={}",
                hub.hub_prefix(),
                form_urlencoded::byte_serialize(uri.to_string().as_bytes()).collect::<String>()
            ))
            .into_response()
        }
    };
    let segs: Vec<&str> = path.split('/').collect();
    let (server, rest) = {
        let st = hub.node.state();
        let named = hub.cfg.allow_named_servers
            && segs.first().is_some_and(|s| {
                !s.is_empty() && st.user(&name).is_some_and(|u| u.servers.contains_key(s))
            });
        if named {
            (segs[0].to_string(), segs[1..].join("/"))
        } else {
            (String::new(), path.clone())
        }
    };
    let (allowed, ready, pending, failed) = {
        let st = hub.node.state();
        let allowed = crate::api::auth::holds(
            &caller,
            &st,
            Builtin::AccessServers,
            Resource::Server {
                user: &name,
                server: &server,
            },
        );
        let s = st.user(&name).and_then(|u| u.servers.get(&server));
        (
            allowed,
            s.is_some_and(|s| s.ready()),
            s.is_some_and(|s| s.pending().is_some()),
            s.is_some_and(|s| s.failure.is_some()),
        )
    };
    if !allowed {
        return error_page(
            &hub,
            StatusCode::NOT_FOUND,
            "No access to this server",
            Some(&caller.name),
        );
    }
    let server_path = format!("{}{}", hub.server_prefix(&name, &server), rest);
    let redirects: u32 = uri
        .query()
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "redirects")
                .and_then(|(_, v)| v.parse().ok())
        })
        .unwrap_or(0);
    if ready {
        if redirects >= 4 {
            return error_page(
                &hub,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Redirect loop detected.",
                Some(&caller.name),
            );
        }
        if redirects > 0 {
            // Upstream backs off on each loop: min(2^n, 10) seconds.
            tokio::time::sleep(Duration::from_secs((1u64 << redirects.min(4)).min(10))).await;
        }
        // The request's own query goes along (nbgitpuller's `?repo=...`), `redirects` counted.
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(query) = uri.query() {
            q.extend_pairs(
                form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "redirects"),
            );
        }
        q.append_pair("redirects", &(redirects + 1).to_string());
        return found(&format!("{server_path}?{}", q.finish())).into_response();
    }
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"))
        || segs.contains(&"api");
    let spawn_abs = {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost");
        let proto = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("http");
        format!(
            "{proto}://{host}{}",
            with_next(&spawn_url(&hub, &name, &server), Some(&server_path))
        )
    };
    if wants_json || method != Method::GET {
        let msg = format!("JupyterHub server no longer running at {server_path}. Restart the server at {spawn_abs}");
        return (
            StatusCode::FAILED_DEPENDENCY,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({"message": msg}).to_string(),
        )
            .into_response();
    }
    // Upstream's `next` is the request itself, query included, so a link's parameters survive
    // the spawn.
    let here = uri
        .path_and_query()
        .map_or(uri.path(), |p| p.as_str())
        .to_string();
    if pending || failed {
        let res = StatusCode::SEE_OTHER.into_response();
        return with_location(
            res,
            &with_next(&pending_url(&hub, &name, &server), Some(&here)),
        );
    }
    let page = Page::new(&hub, &headers, None);
    render(
        &hub,
        page,
        "not_running.html",
        StatusCode::FAILED_DEPENDENCY,
        context! { server_name => server.clone(), failure => Option::<String>::None, spawn_url => with_next(&spawn_url(&hub, &name, &server), Some(&here)) },
    )
}

#[cfg(test)]
mod target_tests {
    use super::target;

    #[test]
    fn a_wildcard_names_user_and_server() {
        let t = |parts: &[&str]| {
            let v: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
            target("me", &v)
        };
        assert_eq!(t(&[]), ("me".into(), "".into()));
        assert_eq!(t(&["carol"]), ("carol".into(), "".into()));
        assert_eq!(t(&["carol/"]), ("carol".into(), "".into()));
        assert_eq!(t(&["carol/srv3"]), ("carol".into(), "srv3".into()));
        assert_eq!(t(&["carol", "srv3"]), ("carol".into(), "srv3".into()));
    }
}
