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
}

impl Hub {
    /// The cluster's cookie secret (hex in the replicated settings), as key bytes.
    pub fn cookie_secret(&self) -> Option<Vec<u8>> {
        let st = self.node.state();
        let c = st.cluster_config()?;
        hex::decode(&c.cookie_secret).ok()
    }

    /// The user named by a valid, unexpired login cookie.
    pub fn cookie_user(&self, headers: &HeaderMap) -> Option<CookieUser> {
        let cookie_id = self.login_cookie_id(headers, &self.cookie_secret()?)?;
        let st = self.node.state();
        let u = st.user_by_cookie(&cookie_id)?;
        Some(CookieUser {
            id: u.id,
            name: u.name.clone(),
            admin: u.admin,
            session_id: cookies::get(headers, SESSION_COOKIE).map(str::to_string),
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
        let st = self.node.state();
        let scopes = self.authz.owner_scopes(&st, &Owner::User(u.id));
        Some(Caller {
            owner: Owner::User(u.id),
            name: u.name,
            admin: u.admin,
            token_id: None,
            session_id: u.session_id,
            scopes,
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

/// Whether a cookie-authenticated request passes XSRF protection: safe navigations (GET,
/// HEAD, OPTIONS) pass; everything else must present the session's token.
pub fn xsrf_passes(
    hub: &Hub,
    method: &Method,
    headers: &HeaderMap,
    presented: Option<&str>,
    session_id: Option<&str>,
) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    let (Some(secret), Some(sid), Some(p)) = (hub.cookie_secret(), session_id, presented) else {
        return false;
    };
    let _ = headers;
    cookies::xsrf_ok(&secret, sid, p)
}

/// Guards the REST API for cookie-authenticated writes (contract §2.3): a request without
/// `Authorization` that carries the login cookie and is not a safe method must present the
/// session's XSRF token and a JSON (or empty) content type. Token requests are exempt.
/// `Some(403 answer)` when the request must be refused.
pub fn api_cookie_refusal(
    hub: &Hub,
    req: &axum::extract::Request,
) -> Option<axum::response::Response> {
    use axum::response::IntoResponse;
    let h = req.headers();
    if h.contains_key(axum::http::header::AUTHORIZATION)
        || matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || cookies::get(h, LOGIN_COOKIE).is_none()
    {
        return None;
    }
    let ct_ok = h
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.is_empty() || v.starts_with("application/json"));
    let presented = presented_xsrf(h, req.uri().query());
    let sid = cookies::get(h, SESSION_COOKIE);
    if ct_ok && xsrf_passes(hub, req.method(), h, presented.as_deref(), sid) {
        return None;
    }
    let m = format!("'_xsrf' argument missing from {}", req.method());
    Some(crate::api::ApiError::new(axum::http::StatusCode::FORBIDDEN, m).into_response())
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
