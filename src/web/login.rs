//! Login, signup and logout (contract §2.2, §7).

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;
use std::collections::BTreeSet;

use rafthub_raft::command::{Command, NewUser, Outcome, UserPatch};

use super::authenticator::{hash_password, Login};
use super::cookies::{self, LOGIN_COOKIE, SESSION_COOKIE, XSRF_COOKIE};
use super::pages::{found, next_or_default, query_param, render, valid_next, Page};
use crate::api::names::{normalize_username, valid_username};
use crate::hub::Hub;
use crate::{secrets, timefmt};

fn form(body: &Bytes) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(f: &'a [(String, String)], k: &str) -> &'a str {
    f.iter()
        .rev()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

pub async fn login_page(
    State(hub): State<Hub>,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
) -> Response {
    let next = query_param(rq.as_deref(), "next");
    if let Some(u) = hub.cookie_user(&headers) {
        return found(&next_or_default(&hub, next.as_deref(), &u.name)).into_response();
    }
    let login_url = authenticator_login_url(&hub, next.as_deref());
    if let Some(u) = login_url.as_deref().filter(|_| hub.auth_cfg.auto_login) {
        return found(u).into_response();
    }
    let page = Page::new(&hub, &headers, None);
    render(
        &hub,
        page,
        "login.html",
        StatusCode::OK,
        context! { next => next.unwrap_or_default(), username => "", error => "", signup => hub.auth.signup_allowed(), authenticator_login_url => login_url, login_service => hub.auth.oauth().map(|o| o.cfg.login_service.clone()) },
    )
}

/// The authenticator's own login URL (OAuth), with `next` (upstream's
/// `authenticator_login_url`).
fn authenticator_login_url(hub: &Hub, next: Option<&str>) -> Option<String> {
    let u = hub.auth.login_url(&hub.hub_prefix())?;
    Some(match valid_next(next) {
        Some(n) => format!(
            "{u}?next={}",
            form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
        ),
        None => u,
    })
}

/// Logs `name` in: the signed login cookie (its cookie id), redirect to `next`.
pub(super) fn logged_in(hub: &Hub, page: &Page, cookie_id: &str, next: &str) -> Response {
    let Some(secret) = hub.cookie_secret() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the cluster is not initialized yet",
        )
            .into_response();
    };
    let signed = cookies::sign(&secret, LOGIN_COOKIE, cookie_id, timefmt::now() / 1_000_000);
    let mut res = found(next).into_response();
    let age = cookies::MAX_AGE_DAYS * 86_400;
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookies::set(
            LOGIN_COOKIE,
            &signed,
            &hub.hub_prefix(),
            true,
            page.secure(),
            Some(age),
        ),
    );
    page.after_login(cookie_id).set_session_cookies(hub, h);
    res
}

pub async fn login_submit(
    State(hub): State<Hub>,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
    body: Bytes,
) -> Response {
    let f = form(&body);
    let raw_next = query_param(rq.as_deref(), "next");
    let next = valid_next(raw_next.as_deref())
        .unwrap_or_default()
        .to_string();
    let page = Page::new(&hub, &headers, None);
    let username = field(&f, "username").to_string();
    let denied = |msg: &str| {
        render(
            &hub,
            page.clone(),
            "login.html",
            StatusCode::FORBIDDEN,
            context! { next => next.clone(), username => username.clone(), error => msg, signup => hub.auth.signup_allowed(), authenticator_login_url => authenticator_login_url(&hub, Some(&next)), login_service => hub.auth.oauth().map(|o| o.cfg.login_service.clone()) },
        )
    };
    if !page.xsrf_matches(&hub, field(&f, "_xsrf")) {
        return denied("Login form invalid or expired. Try again.");
    }
    let (name, create) = match hub
        .auth
        .authenticate(&hub, &username, field(&f, "password"))
        .await
    {
        Login::Accepted { name, create } => (name, create),
        Login::Denied(m) => return denied(&m),
    };
    if hub.auth_cfg.blocked_users.contains(&name)
        || (!create && hub.node.state().user(&name).is_none())
    {
        return denied("Invalid username or password");
    }
    let to = next_or_default(&hub, raw_next.as_deref(), &name);
    match complete_login(&hub, &page, &name, None, None, &to).await {
        LoginOutcome::LoggedIn(r) => r,
        LoginOutcome::Failed(m) => denied(&m),
    }
}

pub(super) enum LoginOutcome {
    LoggedIn(Response),
    Failed(String),
}

/// After an authenticator accepted `name`: creates the user if new, sets its admin flag
/// (`Some`) and, with managed groups, makes `groups` its groups (creating missing ones), as
/// upstream's `auth_to_user`; then the login cookie and the redirect to `next`.
pub(super) async fn complete_login(
    hub: &Hub,
    page: &Page,
    name: &str,
    admin: Option<bool>,
    groups: Option<BTreeSet<String>>,
    next: &str,
) -> LoginOutcome {
    let fail = |e: String| LoginOutcome::Failed(format!("Failed to log in {name}: {e}"));
    let existing = hub.node.state().user(name).map(|u| u.admin);
    let mut cmds = Vec::new();
    if existing.is_none() {
        cmds.push(Command::CreateUsers {
            users: vec![NewUser {
                name: name.to_string(),
                admin: admin.unwrap_or(false),
                cookie_id: secrets::new_token(),
            }],
            skip_existing_ok: true,
        });
    }
    if let Some(groups) = &groups {
        let st = hub.node.state();
        let missing: Vec<String> = groups
            .iter()
            .filter(|g| st.group(g).is_none())
            .cloned()
            .collect();
        drop(st);
        // One command per group: creation is all or nothing, and another login may create
        // one of them meanwhile (its Conflict is fine).
        cmds.extend(missing.into_iter().map(|g| Command::CreateGroups {
            names: vec![g],
            users: Vec::new(),
        }));
    }
    let patch = UserPatch {
        admin: admin.filter(|a| existing.is_some_and(|e| e != *a)),
        groups: groups.map(|g| g.into_iter().collect()),
        ..Default::default()
    };
    if patch.admin.is_some() || patch.groups.is_some() {
        cmds.push(Command::UpdateUser {
            name: name.to_string(),
            patch,
        });
    }
    for cmd in cmds {
        match hub.node.write(cmd).await {
            // A group another login created meanwhile is a conflict worth nothing here.
            Ok(Outcome::Ok | Outcome::Created(_) | Outcome::Conflict(_)) => {}
            Ok(o) => return fail(format!("{o:?}")),
            Err(e) => return fail(e.to_string()),
        }
    }
    match hub.node.state().user(name).map(|u| u.cookie_id.clone()) {
        Some(c) => LoginOutcome::LoggedIn(logged_in(hub, page, &c, next)),
        None => LoginOutcome::Failed("Invalid username or password".into()),
    }
}

/// Whether `name` may sign up: signup is open, or it is a configured admin without password.
fn may_sign_up(hub: &Hub, name: &str) -> bool {
    if hub.auth.kind() != "native" {
        return false;
    }
    let st = hub.node.state();
    let has_password = st.user(name).is_some_and(|u| u.password_hash.is_some());
    !has_password && (hub.auth.signup_allowed() || hub.cfg.admin_users.iter().any(|a| a == name))
}

/// `{hub}signup` exists with the native authenticator only, as upstream (where the
/// NativeAuthenticator package adds the handler).
fn no_signup(hub: &Hub) -> Option<Response> {
    (hub.auth.kind() != "native")
        .then(|| super::pages::error_page(hub, StatusCode::NOT_FOUND, "Page not found", None))
}

pub async fn signup_page(State(hub): State<Hub>, headers: HeaderMap) -> Response {
    if let Some(r) = no_signup(&hub) {
        return r;
    }
    let page = Page::new(&hub, &headers, None);
    render(
        &hub,
        page,
        "signup.html",
        StatusCode::OK,
        context! { username => "", error => "", min_length => hub.auth_cfg.min_password_length },
    )
}

pub async fn signup_submit(State(hub): State<Hub>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = no_signup(&hub) {
        return r;
    }
    let f = form(&body);
    let page = Page::new(&hub, &headers, None);
    let name = normalize_username(field(&f, "username").trim());
    let password = field(&f, "password");
    let min = hub.auth_cfg.min_password_length;
    let fail = |msg: String| {
        render(
            &hub,
            page.clone(),
            "signup.html",
            StatusCode::BAD_REQUEST,
            context! { username => name.clone(), error => msg, min_length => min },
        )
    };
    if !page.xsrf_matches(&hub, field(&f, "_xsrf")) {
        return fail("Login form invalid or expired. Try again.".into());
    }
    if !valid_username(&name) {
        return fail(format!("Invalid username: {name}"));
    }
    if password.chars().count() < min {
        return fail(format!("The password must have at least {min} characters."));
    }
    if !may_sign_up(&hub, &name) {
        return fail("Signup is not available for this username.".into());
    }
    let pw = password.to_string();
    let Ok(Ok(hash)) = tokio::task::spawn_blocking(move || hash_password(&pw)).await else {
        return fail("Could not hash the password.".into());
    };
    let create = Command::CreateUsers {
        users: vec![NewUser {
            name: name.clone(),
            admin: false,
            cookie_id: secrets::new_token(),
        }],
        skip_existing_ok: true,
    };
    let set = Command::UpdateUser {
        name: name.clone(),
        patch: UserPatch {
            password_hash: Some(Some(hash)),
            ..Default::default()
        },
    };
    for cmd in [create, set] {
        if let Err(e) = hub.node.write(cmd).await {
            return fail(e.to_string());
        }
    }
    let cookie_id = hub
        .node
        .state()
        .user(&name)
        .map(|u| u.cookie_id.clone())
        .unwrap_or_default();
    logged_in(
        &hub,
        &page,
        &cookie_id,
        &format!("{}home", hub.hub_prefix()),
    )
}

/// Clears the hub cookies and revokes every token of the browser session (the OAuth tokens
/// its servers hold), on every replica. As upstream, only a logged-in browser's session is
/// revoked (an anonymous request naming a session could be a forged logout).
pub async fn logout(State(hub): State<Hub>, headers: HeaderMap) -> Response {
    let user = hub.cookie_user(&headers);
    if let (Some(sid), Some(_)) = (cookies::get(&headers, SESSION_COOKIE), &user) {
        let _ = hub
            .node
            .write(Command::RevokeSession {
                session_id: sid.to_string(),
            })
            .await;
    }
    if let Some(u) = user.filter(|_| hub.cfg.shutdown_on_logout) {
        crate::spawn::stop_user_servers(&hub, &u.name).await;
    }
    let oauth_redirect = hub
        .auth
        .oauth()
        .map(|o| o.cfg.logout_redirect_url.clone())
        .filter(|u| !u.is_empty());
    let mut res = match oauth_redirect {
        Some(u) => found(&u).into_response(),
        // With auto_login the login page would log the browser straight back in.
        None if hub.auth_cfg.auto_login && hub.auth.oauth().is_some() => {
            let page = Page::new(&hub, &HeaderMap::new(), None);
            let mut r = render(&hub, page, "logout.html", StatusCode::OK, context! {});
            r.headers_mut().remove(header::SET_COOKIE);
            r
        }
        None => found(&format!("{}login", hub.hub_prefix())).into_response(),
    };
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookies::clear(super::generic_oauth::STATE_COOKIE, &hub.hub_prefix()),
    );
    // Upstream still clears the services cookie of older hubs.
    h.append(
        header::SET_COOKIE,
        cookies::clear(
            "jupyterhub-services",
            &format!("{}services", hub.cfg.base_url),
        ),
    );
    h.append(
        header::SET_COOKIE,
        cookies::clear(LOGIN_COOKIE, &hub.hub_prefix()),
    );
    h.append(
        header::SET_COOKIE,
        cookies::clear(SESSION_COOKIE, &hub.cfg.base_url),
    );
    h.append(
        header::SET_COOKIE,
        cookies::clear(XSRF_COOKIE, &hub.hub_prefix()),
    );
    res
}
