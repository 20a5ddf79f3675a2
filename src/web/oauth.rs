//! The OAuth2 provider single-user servers and services log browsers in with (contract
//! §1.13, §2.4): authorization code grant with PKCE, 5-minute single-use codes, all state
//! replicated, so `authorize` and `token` may land on different replicas.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rafthub_raft::command::{Command, Outcome};
use rafthub_raft::state::model::{ClientKind, OAuthClient, OAuthCode, Owner, Token, TokenHash};
use rafthub_rbac::{self as rbac, Client, Resource, Scope};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::cookies::{self, SESSION_COOKIE};
use super::pages::error_page;
use super::pages::found;
use crate::hub::Hub;
use crate::{secrets, timefmt};

/// Codes expire after 5 minutes.
const CODE_TTL_US: i64 = 300 * 1_000_000;
/// OAuth access tokens live as long as the login cookie (`cookie_max_age_days` = 14).
const TOKEN_TTL_S: i64 = 14 * 86_400;

fn params(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter()
        .rev()
        .find(|(key, _)| key == k)
        .map(|(_, v)| v.as_str())
}

fn rbac_client(c: &OAuthClient) -> Client<'_> {
    match &c.kind {
        ClientKind::Hub => Client::Hub,
        ClientKind::Server { user, server } => Client::Server { user, server },
        ClientKind::Service(s) => Client::Service(s),
    }
}

/// `GET {api}/oauth2/authorize`: for the logged-in user, issues a code and redirects back;
/// for a server the user does not own (shared with it, or an admin's access), first asks the
/// user to confirm, as upstream does (`needs_oauth_confirm`).
pub async fn authorize(
    State(hub): State<Hub>,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
) -> Response {
    authorize_inner(hub, headers, rq, false).await
}

/// `POST {api}/oauth2/authorize`: the confirmation form (XSRF-checked), then as `GET`.
pub async fn authorize_confirmed(
    State(hub): State<Hub>,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
    body: Bytes,
) -> Response {
    let f: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    if let Some(refused) = super::session::form_xsrf_refusal(&hub, &headers, &f, rq.as_deref()) {
        return error_page(&hub, StatusCode::FORBIDDEN, refused, None);
    }
    authorize_inner(hub, headers, rq, true).await
}

async fn authorize_inner(
    hub: Hub,
    headers: HeaderMap,
    rq: Option<String>,
    confirmed: bool,
) -> Response {
    let p = params(rq.as_deref());
    let Some(user) = hub.cookie_user(&headers) else {
        let here = format!(
            "{}api/oauth2/authorize?{}",
            hub.hub_prefix(),
            rq.unwrap_or_default()
        );
        let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
        return found(&format!("{}login?next={next}", hub.hub_prefix())).into_response();
    };
    let Some(client_id) = param(&p, "client_id") else {
        return error_page(
            &hub,
            StatusCode::BAD_REQUEST,
            "Missing client_id parameter.",
            Some(&user.name),
        );
    };
    let challenge = param(&p, "code_challenge").map(str::to_string);
    let method = param(&p, "code_challenge_method").map(str::to_string);
    if challenge.is_some() && !matches!(method.as_deref(), None | Some("S256") | Some("plain")) {
        return error_page(
            &hub,
            StatusCode::BAD_REQUEST,
            "Unsupported code_challenge_method",
            Some(&user.name),
        );
    }
    // The client may have been registered on another replica a moment ago.
    if hub
        .confirm_miss(|st| st.oauth_client(client_id).is_some())
        .await
        .is_err()
    {
        return error_page(
            &hub,
            StatusCode::SERVICE_UNAVAILABLE,
            "No leader to confirm the client",
            Some(&user.name),
        );
    }
    let Some(client) = hub.node.state().oauth_client(client_id).cloned() else {
        return error_page(
            &hub,
            StatusCode::BAD_REQUEST,
            "Invalid client_id parameter value.",
            Some(&user.name),
        );
    };
    // Optional, as in oauthlib: the client's registered URI when left out.
    let redirect_uri = param(&p, "redirect_uri").unwrap_or(&client.redirect_uri);
    if client.redirect_uri != redirect_uri {
        return error_page(
            &hub,
            StatusCode::BAD_REQUEST,
            "Mismatching redirect URI",
            Some(&user.name),
        );
    }
    // With the client and its redirect URI known, the remaining errors go back to the
    // client, as oauthlib sends them (RFC 6749 §4.1.2.1).
    match param(&p, "response_type") {
        Some("code") => {}
        None => {
            return redirect_error(
                redirect_uri,
                &p,
                "invalid_request",
                "Missing response_type parameter.",
            )
        }
        Some(_) => return redirect_error(redirect_uri, &p, "unsupported_response_type", ""),
    }
    let (scopes, confirm) = {
        let st = hub.node.state();
        let owner_scopes = hub.authz.owner_scopes(&st, &Owner::User(user.id));
        let m = crate::authz::membership(&st);
        let resource = match &client.kind {
            ClientKind::Server { user: u, server } => {
                Some(("access:servers", Resource::Server { user: u, server }))
            }
            ClientKind::Service(s) => Some(("access:services", Resource::Service(s))),
            ClientKind::Hub => None,
        };
        if let Some((base, res)) = resource {
            if !owner_scopes.grants(base, res, &m) {
                return error_page(
                    &hub,
                    StatusCode::FORBIDDEN,
                    &format!(
                        "User {} does not have permission to access {}",
                        user.name, client.description
                    ),
                    Some(&user.name),
                );
            }
        }
        let reg = &hub.authz.registry;
        let allowed: Vec<Scope> = client
            .allowed_scopes
            .iter()
            .filter_map(|s| Scope::parse(s, reg).ok())
            .collect();
        let rclient = rbac_client(&client);
        let requested_raw: Vec<&str> = param(&p, "scope")
            .map(|s| s.split_whitespace().collect())
            .unwrap_or_default();
        let requested = match rbac::parse_oauth_scopes(&requested_raw, reg) {
            Ok(r) if !r.is_empty() => r,
            _ => rbac::oauth_default_scopes(&allowed, rclient),
        };
        let requested = match rbac::oauth_check_client_scopes(
            &requested, &allowed, &user.name, rclient, &m, reg,
        ) {
            Ok(r) => r,
            Err(bad) => {
                let names: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
                return error_page(
                    &hub,
                    StatusCode::FORBIDDEN,
                    &format!(
                        "Client {client_id} may not request scopes: {}",
                        names.join(", ")
                    ),
                    Some(&user.name),
                );
            }
        };
        let role_scopes: std::collections::BTreeSet<Scope> =
            crate::authz::owner_roles(&st, &Owner::User(user.id))
                .iter()
                .flat_map(|r| {
                    st.role(r)
                        .map(|x| x.scopes.clone())
                        .or_else(|| rbac::default_role(r).map(|x| x.scopes))
                        .unwrap_or_default()
                })
                .filter_map(|s| Scope::parse(&s, reg).ok())
                .collect();
        let granted =
            rbac::oauth_grant_scopes(&requested, &role_scopes, &user.name, rclient, &m, reg);
        let scopes: Vec<String> = granted.allowed.iter().map(|s| s.to_string()).collect();
        // As upstream's `needs_oauth_confirm`: the owner of a server is never asked, nor is
        // anyone for a service with `oauth_no_confirm` (or the hub's own client).
        let foreign = match &client.kind {
            ClientKind::Server { user: owner, .. } => owner != &user.name,
            ClientKind::Service(s) => st.service(s).is_none_or(|svc| !svc.oauth_no_confirm),
            _ => false,
        };
        let confirm = (foreign && !confirmed).then(|| client.description.clone());
        (scopes, confirm)
    };
    // Rendered outside the state lock (the page reads the cookie secret from the state).
    if let Some(client) = confirm {
        let page = super::pages::Page::new(&hub, &headers, Some(user.clone()));
        return super::pages::render(
            &hub,
            page,
            "oauth_confirm.html",
            StatusCode::OK,
            minijinja::context! { client => client, scopes => scopes },
        );
    }
    let code = secrets::new_oauth_secret();
    let mut set_session = None;
    let session_id = match &user.session_id {
        Some(s) => s.clone(),
        None => {
            let s = secrets::new_token();
            set_session = Some(s.clone());
            s
        }
    };
    let cmd = Command::CreateOAuthCode {
        code: OAuthCode {
            code_hash: secrets::sha256_hex(&code),
            client_id: client_id.to_string(),
            user_id: user.id,
            scopes,
            session_id,
            redirect_uri: redirect_uri.to_string(),
            code_challenge: challenge,
            code_challenge_method: method,
            expires_at: timefmt::now() + CODE_TTL_US,
        },
    };
    match hub.node.write(cmd).await {
        Ok(Outcome::Ok) => {}
        Ok(o) => {
            return error_page(
                &hub,
                StatusCode::BAD_REQUEST,
                &format!("{o:?}"),
                Some(&user.name),
            )
        }
        Err(e) => {
            return error_page(
                &hub,
                StatusCode::SERVICE_UNAVAILABLE,
                &e.to_string(),
                Some(&user.name),
            )
        }
    }
    let mut res = found(&back_to_client(
        redirect_uri,
        &p,
        &[("code", code.as_str())],
    ))
    .into_response();
    if let Some(s) = set_session {
        res.headers_mut().append(
            header::SET_COOKIE,
            cookies::set(
                SESSION_COOKIE,
                &s,
                &hub.cfg.base_url,
                true,
                cookies::secure(hub.cfg.public_url.as_deref(), &headers),
                None,
            ),
        );
    }
    res
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut res = (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        json!({"error": error, "error_description": description}).to_string(),
    )
        .into_response();
    // oauthlib (upstream) names the error of a 401 in a challenge too.
    if status == StatusCode::UNAUTHORIZED {
        if let Ok(v) = header::HeaderValue::from_str(&format!("Bearer error=\"{error}\"")) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    res
}

/// The client's redirect URI with `pairs` and the request's `state` added to its query.
fn back_to_client(redirect_uri: &str, p: &[(String, String)], pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.extend_pairs(pairs);
    if let Some(state) = param(p, "state") {
        q.append_pair("state", state);
    }
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{sep}{}", q.finish())
}

/// Sends the browser back to the client with an OAuth error.
fn redirect_error(
    redirect_uri: &str,
    p: &[(String, String)],
    error: &str,
    description: &str,
) -> Response {
    let mut pairs = vec![("error", error)];
    if !description.is_empty() {
        pairs.push(("error_description", description));
    }
    found(&back_to_client(redirect_uri, p, &pairs)).into_response()
}

/// The token endpoint's failed client authentication (unknown client, no or wrong secret).
fn invalid_client() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client authentication failed",
    )
}

fn pkce_ok(challenge: &str, method: Option<&str>, verifier: &str) -> bool {
    let computed = match method {
        Some("plain") => verifier.to_string(),
        _ => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes())),
    };
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

/// `POST {api}/oauth2/token`: exchanges a code for an access token (form-encoded body, client
/// authenticated by `client_secret` in the body).
pub async fn token(State(hub): State<Hub>, body: Bytes) -> Response {
    let p: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    if param(&p, "grant_type") != Some("authorization_code") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only authorization_code is supported",
        );
    }
    // In oauthlib's order (upstream): the code must be there, then the client must
    // authenticate (401 otherwise), then the code must match.
    let Some(code) = param(&p, "code") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing code parameter.",
        );
    };
    let Some(client_id) = param(&p, "client_id") else {
        return invalid_client();
    };
    let code_hash = secrets::sha256_hex(code);
    // Code and client may come from another replica's write a moment ago.
    if hub
        .confirm_miss(|st| {
            st.oauth_code(&code_hash).is_some() && st.oauth_client(client_id).is_some()
        })
        .await
        .is_err()
    {
        return oauth_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "no leader",
        );
    }
    let (code_row, client) = {
        let st = hub.node.state();
        (
            st.oauth_code(&code_hash).cloned(),
            st.oauth_client(client_id).cloned(),
        )
    };
    let Some(client) = client else {
        return invalid_client();
    };
    let secret_ok = match (&client.secret_hash, param(&p, "client_secret")) {
        (Some(h), Some(s)) => bool::from(h.as_bytes().ct_eq(secrets::sha256_hex(s).as_bytes())),
        _ => false,
    };
    if !secret_ok {
        return invalid_client();
    }
    // Optional: oauthlib takes the client's registered redirect URI when it is left out.
    let redirect_uri = param(&p, "redirect_uri").unwrap_or(client.redirect_uri.as_str());
    let Some(c) = code_row else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown or used code",
        );
    };
    if c.client_id != client_id || c.redirect_uri != redirect_uri || c.expires_at < timefmt::now() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "code does not match this request",
        );
    }
    if let Some(ch) = &c.code_challenge {
        match param(&p, "code_verifier") {
            Some(v) if pkce_ok(ch, c.code_challenge_method.as_deref(), v) => {}
            _ => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "PKCE verification failed",
                )
            }
        }
    }
    let access = secrets::new_oauth_secret();
    let now = timefmt::now();
    let token = Token {
        id: 0,
        prefix: secrets::prefix(&access).to_string(),
        hash: TokenHash::Sha256(secrets::sha256_hex(&access)),
        owner: Owner::User(c.user_id),
        scopes: c.scopes.clone(),
        note: String::new(),
        created: now,
        last_activity: None,
        expires_at: Some(now + TOKEN_TTL_S * 1_000_000),
        session_id: Some(c.session_id.clone()),
        client_id: client_id.to_string(),
    };
    match hub
        .node
        .write(Command::ExchangeOAuthCode { code_hash, token })
        .await
    {
        Ok(Outcome::Created(_)) => {}
        Ok(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "unknown or used code",
            )
        }
        Err(e) => {
            return oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                &e.to_string(),
            )
        }
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL_S,
            "scope": c.scopes.join(" "),
        })
        .to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn pkce_s256_matches_an_independent_implementation() {
        // base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=") in Python.
        assert!(super::pkce_ok(
            "bxAhS15oOCKQLnqLopKCAKOS7WPMpPXPNtDI9tQjyws",
            Some("S256"),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gXFG6rb8E"
        ));
        assert!(!super::pkce_ok(
            "bxAhS15oOCKQLnqLopKCAKOS7WPMpPXPNtDI9tQjyws",
            Some("S256"),
            "wrong"
        ));
        assert!(super::pkce_ok("abc", Some("plain"), "abc"));
    }
}
