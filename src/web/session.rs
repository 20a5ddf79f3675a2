//! Browser sessions: who the login cookie names, the session id, and XSRF checks for
//! cookie-authenticated writes (contract §2.2-§2.3).

use axum::http::{HeaderMap, Method};
use rafthub_raft::state::model::Owner;

use super::cookies::{self, LOGIN_COOKIE, SESSION_COOKIE};
use crate::api::auth::Caller;
use crate::hub::Hub;

/// The logged-in user behind a request's cookies.
#[derive(Debug, Clone)]
pub struct CookieUser {
    pub id: u64,
    pub name: String,
    pub admin: bool,
    pub session_id: Option<String>,
    /// The id in the login cookie (the user's `cookie_id`); the XSRF token is bound to it.
    pub login_id: String,
}

impl Hub {
    /// The cluster's cookie secret (hex in the replicated settings), as key bytes.
    pub fn cookie_secret(&self) -> Option<Vec<u8>> {
        let st = self.node.state();
        let c = st.cluster_config()?;
        hex::decode(&c.cookie_secret).ok()
    }

    /// Whether `[auth] blocked_users` names `user`: no login, cookie or token of theirs
    /// counts (upstream 5.2 revokes their roles at start, which leaves tokens without scopes).
    pub fn is_blocked(&self, user: &str) -> bool {
        let b = &self.auth_cfg.blocked_users;
        !b.is_empty() && b.iter().any(|n| n == user)
    }

    /// The user named by a valid, unexpired login cookie (never a blocked user).
    pub fn cookie_user(&self, headers: &HeaderMap) -> Option<CookieUser> {
        let cookie_id = self.login_cookie_id(headers, &self.cookie_secret()?)?;
        let st = self.node.state();
        let u = st.user_by_cookie(&cookie_id)?;
        if self.is_blocked(&u.name) {
            return None;
        }
        Some(CookieUser {
            id: u.id,
            name: u.name.clone(),
            admin: u.admin,
            session_id: cookies::get(headers, SESSION_COOKIE).map(str::to_string),
            login_id: cookie_id,
        })
    }

    /// Whether the request's login cookie names a session this replica may not have
    /// applied yet: the cookie verifies but its session is unknown here, or this replica
    /// does not even have the cluster's cookie secret yet (it joined with an empty disk).
    fn login_unknown_here(&self, headers: &HeaderMap) -> bool {
        if cookies::get(headers, LOGIN_COOKIE).is_none() {
            return false;
        }
        let Some(secret) = self.cookie_secret() else {
            return true;
        };
        self.login_cookie_id(headers, &secret)
            .is_some_and(|id| self.node.state().user_by_cookie(&id).is_none())
    }

    /// The session id in a valid, unexpired login cookie signed with `secret`.
    fn login_cookie_id(&self, headers: &HeaderMap, secret: &[u8]) -> Option<String> {
        let raw = cookies::get(headers, LOGIN_COOKIE)?;
        let now = crate::timefmt::now() / 1_000_000;
        cookies::verify(secret, LOGIN_COOKIE, raw, now, cookies::MAX_AGE_DAYS)
    }

    /// A cookie-authenticated API caller: the user's own scopes (upstream gives cookie
    /// requests the user's full permissions).
    pub fn cookie_caller(&self, headers: &HeaderMap) -> Option<Caller> {
        let u = self.cookie_user(headers)?;
        self.user_caller(u.id, u.session_id)
    }

    /// User `id` acting with all of its own scopes, without a token: a login cookie, or a
    /// token request that logged in with username and password.
    pub fn user_caller(&self, id: u64, session_id: Option<String>) -> Option<Caller> {
        let st = self.node.state();
        let u = st.user_by_id(id).filter(|u| !self.is_blocked(&u.name))?;
        Some(Caller {
            owner: Owner::User(id),
            name: u.name.clone(),
            admin: u.admin,
            token_id: None,
            session_id,
            scopes: self.authz.owner_scopes(&st, &Owner::User(id)),
        })
    }
}

/// The XSRF token a request presents: `_xsrf` in the query, or the `X-XSRFToken` /
/// `X-CSRFToken` header.
pub fn presented_xsrf<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<String> {
    for h in ["x-xsrftoken", "x-csrftoken"] {
        if let Some(v) = headers.get(h).and_then(|v| v.to_str().ok()) {
            return Some(v.to_string());
        }
    }
    query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "_xsrf")
            .map(|(_, v)| v.into_owned())
    })
}

/// The XSRF check of a browser form POST: the `_xsrf` form field (else the query or the
/// header, as Tornado accepts it) must be this session's token. `Some(message)` (upstream's)
/// when it is not.
pub fn form_xsrf_refusal(
    hub: &Hub,
    headers: &HeaderMap,
    fields: &[(String, String)],
    query: Option<&str>,
) -> Option<&'static str> {
    let presented = fields
        .iter()
        .rev()
        .find(|(k, _)| k == "_xsrf")
        .map(|(_, v)| v.clone())
        .or_else(|| presented_xsrf(headers, query));
    let Some(presented) = presented else {
        return Some("'_xsrf' argument missing from POST");
    };
    if !super::pages::Page::new(hub, headers, None).xsrf_matches(hub, &presented) {
        return Some("XSRF cookie does not match POST argument");
    }
    None
}

/// Whether a cookie-authenticated request must present the XSRF token (upstream's
/// `_needs_check_xsrf`): page views and other navigations that only read, websockets, and
/// same-origin `no-cors` reads (images) need not; everything else does, including a read
/// that a script of another site makes (`Sec-Fetch-Mode: cors`, or `no-cors` cross-site),
/// so such a script cannot read the API with the user's cookie. Browsers that send no
/// `Sec-Fetch-*` headers are treated as navigations, as upstream does.
pub fn needs_xsrf(method: &Method, fetch_mode: Option<&str>, fetch_site: Option<&str>) -> bool {
    let read_only = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let mode = fetch_mode.unwrap_or("unspecified");
    let exempt = mode == "websocket"
        || (read_only && matches!(mode, "navigate" | "unspecified"))
        || (read_only && mode == "no-cors" && fetch_site == Some("same-origin"));
    !exempt
}

/// Guards the REST API for cookie-authenticated requests (contract §2.3): a request without
/// `Authorization` that carries the login cookie and [`needs_xsrf`] must present the
/// session's XSRF token, and a write a JSON (or empty) content type. Token requests are
/// exempt. `Some(403 answer)` when the request must be refused.
pub fn api_cookie_refusal(
    hub: &Hub,
    req: &axum::extract::Request,
) -> Option<axum::response::Response> {
    use axum::response::IntoResponse;
    let h = req.headers();
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    if h.contains_key(axum::http::header::AUTHORIZATION)
        || cookies::get(h, LOGIN_COOKIE).is_none()
        || !needs_xsrf(
            req.method(),
            header("sec-fetch-mode"),
            header("sec-fetch-site"),
        )
    {
        return None;
    }
    let read_only = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let ct_ok = read_only
        || header("content-type").is_none_or(|v| v.is_empty() || v.starts_with("application/json"));
    let method = req.method().as_str().to_ascii_uppercase();
    let refuse = |m: String| {
        Some(crate::api::ApiError::new(axum::http::StatusCode::FORBIDDEN, m).into_response())
    };
    let Some(presented) = presented_xsrf(h, req.uri().query()).filter(|p| !p.is_empty()) else {
        return refuse(format!("'_xsrf' argument missing from {method}"));
    };
    if !super::pages::Page::new(hub, h, None).xsrf_matches(hub, &presented) || !ct_ok {
        return refuse(format!("XSRF cookie does not match {method} argument"));
    }
    None
}

/// Read-your-login across replicas: a login cookie this cluster signed, for a session this
/// replica does not know, may come from a login written through another replica a moment
/// ago (a Service without session affinity sends the next request anywhere). The request
/// waits for this replica to catch up with the leader before any handler reads the session,
/// as a token miss does (DESIGN invariant 6); without it, the next page of a fresh login
/// answered "not logged in" on a lagging replica. A session that is still unknown after
/// that is logged out; `Some(503 answer)` when the cluster cannot confirm it.
pub async fn catch_up_login(
    hub: &Hub,
    headers: &axum::http::HeaderMap,
) -> Option<axum::response::Response> {
    use axum::response::IntoResponse;
    if !hub.login_unknown_here(headers) {
        return None;
    }
    let e = hub
        .node
        .linearizable_barrier(hub.read_timeout())
        .await
        .err()?;
    Some(crate::api::ApiError::from(e).into_response())
}

/// [`catch_up_login`] as a middleware (the pages' router).
pub async fn login_catch_up(
    axum::extract::State(hub): axum::extract::State<Hub>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match catch_up_login(&hub, req.headers()).await {
        Some(refused) => refused,
        None => next.run(req).await,
    }
}

#[cfg(test)]
mod xsrf_tests {
    use axum::http::Method;

    #[test]
    fn needs_xsrf_follows_upstreams_table() {
        // (method, Sec-Fetch-Mode, Sec-Fetch-Site, needs the token)
        let cases: &[(Method, Option<&str>, Option<&str>, bool)] = &[
            (Method::GET, None, None, false),
            (Method::GET, Some("navigate"), Some("cross-site"), false),
            (Method::HEAD, Some("navigate"), None, false),
            (Method::GET, Some("no-cors"), Some("same-origin"), false),
            (Method::GET, Some("websocket"), Some("cross-site"), false),
            (Method::GET, Some("no-cors"), Some("cross-site"), true),
            (Method::GET, Some("cors"), Some("same-origin"), true),
            (Method::GET, Some("cors"), Some("cross-site"), true),
            (Method::POST, None, None, true),
            (Method::POST, Some("navigate"), Some("same-origin"), true),
            (Method::DELETE, Some("no-cors"), Some("same-origin"), true),
        ];
        for (m, mode, site, want) in cases {
            assert_eq!(
                super::needs_xsrf(m, *mode, *site),
                *want,
                "{m} {mode:?} {site:?}"
            );
        }
    }
}
