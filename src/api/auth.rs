//! Who is calling: token authentication and scope checks for API handlers.
//!
//! Only `Authorization: token <t>` or `bearer <t>` is accepted on the hub API (never
//! `?token=`). The token is found in memory by its 4-character prefix and checked against its
//! hash. A miss may be replication lag (the token was created on another replica a moment
//! ago), so it is confirmed with a linearizable read before the request is refused
//! (DESIGN invariant 6).

use std::sync::Arc;

use axum::http::{header, HeaderMap, StatusCode};
use rafthub_raft::state::model::{Owner as ModelOwner, Token};
use rafthub_raft::HubState;
use rafthub_rbac::{self as rbac, AccessDecision, Builtin, Resource, ScopeSet};

use super::ApiError;
use crate::hub::Hub;
use crate::secrets;
use crate::timefmt;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub owner: ModelOwner,
    /// User or service name.
    pub name: String,
    pub admin: bool,
    pub token_id: Option<u64>,
    pub session_id: Option<String>,
    /// Effective, expanded scopes of this request.
    pub scopes: Arc<ScopeSet>,
}

impl Caller {
    pub fn is_user(&self) -> bool {
        matches!(self.owner, ModelOwner::User(_))
    }
}

/// The token from `Authorization: token|bearer <t>` (scheme case-insensitive, anchored).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(char::is_whitespace)?;
    let t = rest.trim();
    if !(scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer")) {
        return None;
    }
    if t.is_empty() || t.contains(char::is_whitespace) {
        return None;
    }
    Some(t)
}

/// Finds the live token matching `secret`, if any.
fn find_token(hub: &Hub, st: &HubState, secret: &str, now: i64) -> Option<Token> {
    if secret.len() < 8 || secret.len() > 4096 {
        return None;
    }
    let sha = secrets::sha256_hex(secret);
    st.tokens_with_prefix(secrets::prefix(secret))
        .find(|t| hub.verify_token(secret, &sha, t))
        .filter(|t| t.expires_at.is_none_or(|e| e >= now))
        .cloned()
}

impl Hub {
    /// Authenticates the request's token. `Ok(None)`: no or unknown credentials.
    /// Authenticates the request: its token, else the hub login cookie (XSRF for cookie
    /// writes is enforced by `web::session::api_cookie_refusal` before handlers run).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
        let Some(secret) = bearer_token(headers) else {
            if headers.contains_key(axum::http::header::AUTHORIZATION) {
                return Ok(None); // a malformed Authorization header is not a cookie login
            }
            return Ok(self.cookie_caller(headers));
        };
        self.caller_for_token_confirmed(secret).await
    }

    /// The caller a token makes; a miss is confirmed with a linearizable barrier first (a
    /// token created elsewhere that this replica has not applied yet, DESIGN invariant 6).
    pub(crate) async fn caller_for_token_confirmed(
        &self,
        secret: &str,
    ) -> Result<Option<Caller>, ApiError> {
        let now = timefmt::now();
        if let Some(c) = self.caller_for_token(secret, now) {
            return Ok(Some(c));
        }
        self.node.linearizable_barrier(self.read_timeout()).await?;
        Ok(self.caller_for_token(secret, now))
    }

    /// Whether `secret` already is a live token, of anyone (no activity is recorded).
    pub fn token_in_use(&self, secret: &str) -> bool {
        find_token(self, &self.node.state(), secret, timefmt::now()).is_some()
    }

    /// The caller a token makes, without any barrier (a miss may be replication lag).
    fn caller_for_token(&self, secret: &str, now: i64) -> Option<Caller> {
        let st = self.node.state();
        let tok = find_token(self, &st, secret, now)?;
        let (name, admin) = match &tok.owner {
            ModelOwner::User(id) => {
                let u = st.user_by_id(*id).filter(|u| !self.is_blocked(&u.name))?;
                (u.name.clone(), u.admin)
            }
            ModelOwner::Service(n) => {
                let s = st.service(n)?;
                (s.name.clone(), s.admin)
            }
        };
        let scopes = self.authz.token_scopes(&st, &tok);
        self.note_token_use(&tok, now);
        Some(Caller {
            owner: tok.owner.clone(),
            name,
            admin,
            token_id: Some(tok.id),
            session_id: tok.session_id.clone(),
            scopes,
        })
    }

    /// Token and user `last_activity`, throttled to `activity_resolution` like upstream. A
    /// server's own token (note "Server at ...") does not count as its user's activity.
    fn note_token_use(&self, tok: &Token, now: i64) {
        let resolution = self.cfg.activity_resolution_s as i64 * 1_000_000;
        if tok.last_activity.is_some_and(|t| now - t < resolution) {
            return;
        }
        self.activity.record_token(tok.id, now);
        if let ModelOwner::User(uid) = tok.owner {
            if !tok.note.starts_with("Server at ") {
                self.activity.record(uid, None, now);
            }
        }
    }
}

/// Upstream's `needs_scope`: 403 without credentials, 403 without any of the scopes, 404 when
/// a filtered scope does not cover the resource.
pub fn require<'c>(
    caller: Option<&'c Caller>,
    st: &HubState,
    any_of: &[Builtin],
    resource: Resource<'_>,
) -> Result<&'c Caller, ApiError> {
    let c = caller.ok_or_else(missing_credentials)?;
    let m = crate::authz::membership(st);
    match rbac::check_access(&c.scopes, any_of, resource, &m) {
        AccessDecision::Allowed => Ok(c),
        d @ AccessDecision::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            d.message().unwrap_or_default(),
        )),
        d @ AccessDecision::Forbidden { .. } => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            d.message().unwrap_or_default(),
        )),
    }
}

/// A refused list endpoint: 403 naming the scope, or a bare 403 for a wrongly filtered one.
pub fn list_denied(e: rbac::ListDenied) -> ApiError {
    match e {
        rbac::ListDenied::Forbidden { required } => ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "Action is not authorized with current scopes; requires any of [{}]",
                required.as_str()
            ),
        ),
        rbac::ListDenied::InvalidFilter => ApiError::bare(StatusCode::FORBIDDEN),
    }
}

pub fn missing_credentials() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "Missing or invalid credentials.")
}

/// Whether `caller` holds `base` for `resource` (for checks inside handlers).
pub fn holds(caller: &Caller, st: &HubState, base: Builtin, resource: Resource<'_>) -> bool {
    caller
        .scopes
        .grants(base.as_str(), resource, &crate::authz::membership(st))
}
