//! The IO half of the generic OAuth login (`generic_oauth.rs` is the pure half):
//! `{hub}oauth_login` sends the browser to the provider, `{hub}oauth_callback` exchanges the
//! code for a token, asks who the user is and logs them in, as oauthenticator's
//! `OAuthLoginHandler` / `OAuthCallbackHandler` do, with the same errors.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::authenticator::{Authenticator, Login};
use super::cookies;
use super::generic_oauth::{self as core, AllowConfig, Identity, LoginState, OAuthConfig};
use super::login::{complete_login, LoginOutcome};
use super::pages::{error_page, found, next_or_default, query_param, Page};
use crate::api::names::{normalize_username, valid_username};
use crate::hub::Hub;
use crate::spawner::BoxFuture;
use crate::{secrets, timefmt};

pub struct GenericOAuth {
    pub cfg: OAuthConfig,
    http: reqwest::Client,
}

impl GenericOAuth {
    pub fn new(cfg: OAuthConfig) -> Result<GenericOAuth, String> {
        let tls = rafthub_proxy::tls_client_config(cfg.ca_file.as_deref());
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .user_agent("JupyterHub")
            // A redirect would resend the client secret and the code verifier elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("the OAuth HTTP client: {e}"))?;
        Ok(GenericOAuth { cfg, http })
    }

    /// `get_callback_url`: the configured one, else this hub's own, from the public URL or
    /// the request's host.
    fn callback_url(&self, hub: &Hub, headers: &HeaderMap) -> String {
        if !self.cfg.oauth_callback_url.is_empty() {
            return self.cfg.oauth_callback_url.clone();
        }
        let path = format!("{}oauth_callback", hub.hub_prefix());
        if let Some(u) = hub.cfg.public_url.as_deref() {
            return format!("{}{path}", origin_of(u));
        }
        let scheme = if cookies::secure(None, headers) {
            "https"
        } else {
            "http"
        };
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        format!("{scheme}://{host}{path}")
    }

    /// Code for token (`get_token_info`).
    async fn token_info(&self, form: &[(String, String)]) -> Result<Value, (StatusCode, String)> {
        let mut req = self
            .http
            .post(&self.cfg.token_url)
            .header(header::ACCEPT, "application/json")
            .header(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(form)
                    .finish(),
            );
        if self.cfg.basic_auth {
            req = req.basic_auth(&self.cfg.client_id, Some(&self.cfg.client_secret));
        }
        let info = fetch_json(req, "the token request").await?;
        if let Some(d) = info.get("error_description") {
            let d = d.as_str().map_or_else(|| d.to_string(), str::to_string);
            return Err((
                StatusCode::FORBIDDEN,
                format!("An access token was not returned: {d}"),
            ));
        }
        if info.get("access_token").and_then(Value::as_str).is_none() {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "Bad response: the token response has no access_token".to_string(),
            ));
        }
        Ok(info)
    }

    /// Token for user info (`token_to_user`).
    async fn user_info(&self, token: &Value) -> Result<Value, (StatusCode, String)> {
        let err500 = |m: String| (StatusCode::INTERNAL_SERVER_ERROR, m);
        if self.cfg.userdata_from_id_token {
            let id_token = token
                .get("id_token")
                .and_then(Value::as_str)
                .ok_or_else(|| err500("An id token was not returned".into()))?;
            let now = timefmt::now() / 1_000_000;
            return core::id_token_claims(id_token, &self.cfg.client_id, now)
                .map_err(|e| err500(format!("Unable to decode id token: {e}")));
        }
        let access = token["access_token"].as_str().unwrap_or_default();
        let kind = match token.get("token_type").and_then(Value::as_str) {
            Some(t) if !t.eq_ignore_ascii_case("bearer") => t,
            _ => "Bearer",
        };
        let mut query: Vec<(&str, &str)> = self
            .cfg
            .userdata_params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if self.cfg.userdata_token_method == "url" {
            query.push(("access_token", access));
        }
        let req = self
            .http
            .get(&self.cfg.userdata_url)
            .query(&query)
            .header(header::ACCEPT, "application/json")
            .header(header::AUTHORIZATION, format!("{kind} {access}"));
        fetch_json(req, "the user info request").await
    }
}

fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..]
        .find('/')
        .map_or(url, |i| &url[..after_scheme + i])
}

/// A JSON answer, or the error upstream's `fetch` gives (a 500 naming the provider's status).
async fn fetch_json(
    req: reqwest::RequestBuilder,
    what: &str,
) -> Result<Value, (StatusCode, String)> {
    /// The provider's answers are small JSON documents.
    const MAX_BODY: usize = 1 << 20;
    let err = |m: String| (StatusCode::INTERNAL_SERVER_ERROR, m);
    // Errors without their URL: a user info URL may carry the access token.
    let mut res = req.send().await.map_err(|e| {
        tracing::warn!(error = %e.without_url(), "{what} to the OAuth provider failed");
        err(format!("The identity provider did not answer {what}."))
    })?;
    let status = res.status();
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| {
        tracing::warn!(error = %e.without_url(), "reading {what}'s answer failed");
        err(format!(
            "The identity provider's answer to {what} broke off."
        ))
    })? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(err(format!(
                "The identity provider's answer to {what} is too large."
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        tracing::warn!(%status, body = %String::from_utf8_lossy(&body), "{what} was refused");
        return Err(err(format!(
            "The identity provider answered {what} with HTTP {}.",
            status.as_u16()
        )));
    }
    serde_json::from_slice(&body).map_err(|e| err(format!("{what}: the answer is not JSON: {e}")))
}

impl Authenticator for GenericOAuth {
    fn kind(&self) -> &'static str {
        "generic-oauth"
    }

    fn authenticate<'a>(&'a self, _: &'a Hub, _: &'a str, _: &'a str) -> BoxFuture<'a, Login> {
        Box::pin(async move {
            Login::Denied(format!("Sign in with {} instead.", self.cfg.login_service))
        })
    }

    fn login_url(&self, hub_prefix: &str) -> Option<String> {
        Some(format!("{hub_prefix}oauth_login"))
    }

    fn oauth(&self) -> Option<&GenericOAuth> {
        Some(self)
    }
}

fn not_found(hub: &Hub) -> Response {
    error_page(hub, StatusCode::NOT_FOUND, "Page not found", None)
}

/// `GET {hub}oauth_login`: to the provider, the login's state in a signed cookie.
pub async fn oauth_login(
    State(hub): State<Hub>,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
) -> Response {
    let Some(o) = hub.auth.oauth() else {
        return not_found(&hub);
    };
    let Some(secret) = hub.cookie_secret() else {
        return error_page(
            &hub,
            StatusCode::SERVICE_UNAVAILABLE,
            "The cluster is not initialized yet.",
            None,
        );
    };
    let redirect_uri = o.callback_url(&hub, &headers);
    let mut state = LoginState {
        state_id: secrets::new_token(),
        next_url: query_param(rq.as_deref(), "next").and_then(|n| core::local_next(&n)),
        code_verifier: None,
    };
    let challenge = o.cfg.enable_pkce.then(|| {
        let (verifier, challenge) = core::pkce_pair(rand::random());
        state.code_verifier = Some(verifier);
        challenge
    });
    let to = core::authorize_redirect(
        &o.cfg,
        &redirect_uri,
        &core::url_state(&state.state_id),
        challenge.as_deref(),
    );
    let value = cookies::sign(
        &secret,
        core::STATE_COOKIE,
        &core::encode_state(&state),
        timefmt::now() / 1_000_000,
    );
    let mut res = found(&to).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        cookies::set(
            core::STATE_COOKIE,
            &value,
            &hub.hub_prefix(),
            true,
            cookies::secure(hub.cfg.public_url.as_deref(), &headers),
            Some(86_400),
        ),
    );
    res
}

/// `GET {hub}oauth_callback?code=...&state=...`.
pub async fn oauth_callback(
    State(hub): State<Hub>,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
) -> Response {
    let Some(o) = hub.auth.oauth() else {
        return not_found(&hub);
    };
    let mut state_read = false;
    let mut res = match callback(&hub, o, &headers, rq.as_deref(), &mut state_read).await {
        Ok(r) => r,
        Err((status, msg)) => error_page(&hub, status, &msg, None),
    };
    // The state is single-use: cleared once read, as upstream (an error reported by the
    // provider, or a callback without a code, leaves it).
    if state_read {
        res.headers_mut().append(
            header::SET_COOKIE,
            cookies::clear(core::STATE_COOKIE, &hub.hub_prefix()),
        );
    }
    res
}

async fn callback(
    hub: &Hub,
    o: &GenericOAuth,
    headers: &HeaderMap,
    rq: Option<&str>,
    state_read: &mut bool,
) -> Result<Response, (StatusCode, String)> {
    let bad = |m: &str| (StatusCode::BAD_REQUEST, m.to_string());
    if let Some(e) = query_param(rq, "error").filter(|e| !e.is_empty()) {
        let msg = query_param(rq, "error_description").unwrap_or(e);
        return Err(bad(&format!("OAuth error: {msg}")));
    }
    let code = query_param(rq, "code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("OAuth callback made without a code"))?;
    let secret = hub.cookie_secret().ok_or_else(|| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "The cluster is not initialized yet.".to_string(),
        )
    })?;
    *state_read = true;
    let cookie_state = cookies::get(headers, core::STATE_COOKIE)
        .and_then(|c| {
            cookies::verify(
                &secret,
                core::STATE_COOKIE,
                c,
                timefmt::now() / 1_000_000,
                1,
            )
        })
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("OAuth state missing from cookies"))?;
    let url_state = query_param(rq, "state")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("OAuth state missing from URL"))?;
    let state = core::decode_state(&cookie_state);
    if state.state_id.is_empty() || state.state_id != core::decode_state(&url_state).state_id {
        return Err(bad("OAuth state mismatch"));
    }
    if o.cfg.enable_pkce && state.code_verifier.is_none() {
        return Err(bad("Missing code_verifier"));
    }
    let redirect_uri = o.callback_url(hub, headers);
    let form = core::token_form(&o.cfg, &code, &redirect_uri, state.code_verifier.as_deref());
    let token = o.token_info(&form).await?;
    let user_info = o.user_info(&token).await?;
    let raw_name = core::username_from(&user_info, &o.cfg.username_claim)
        .map_err(|m| (StatusCode::INTERNAL_SERVER_ERROR, m))?;
    let name = normalize_username(&raw_name);
    let forbidden = || (StatusCode::FORBIDDEN, o.cfg.custom_403_message.clone());
    if !valid_username(&name) {
        return Err(forbidden());
    }
    let auth_state = auth_state(&token, &user_info);
    let a = &hub.auth_cfg;
    let identity = Identity {
        exists: hub.node.state().user(&name).is_some(),
        granted_scopes: auth_state["scope"]
            .as_array()
            .map(|s| {
                s.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        groups: a
            .manage_groups
            .then(|| core::groups_at(&auth_state, &o.cfg.auth_state_groups_key)),
        name,
    };
    let allow = AllowConfig {
        allowed_groups: &o.cfg.allowed_groups,
        admin_groups: &o.cfg.admin_groups,
        allowed_scopes: &o.cfg.allowed_scopes,
        ..super::authenticator::allow_config(hub)
    };
    let Some(admin) = core::admit(&allow, &identity) else {
        tracing::info!(user = %identity.name, "OAuth login not allowed");
        return Err(forbidden());
    };
    let page = Page::new(hub, headers, None);
    let next = state
        .next_url
        .unwrap_or_else(|| next_or_default(hub, None, &identity.name));
    match complete_login(hub, &page, &identity.name, admin, identity.groups, &next).await {
        LoginOutcome::LoggedIn(r) => Ok(r),
        LoginOutcome::Failed(m) => Err((StatusCode::INTERNAL_SERVER_ERROR, m)),
    }
}

/// `build_auth_state_dict`: what a login knows, the base of `auth_state_groups_key`.
fn auth_state(token: &Value, user_info: &Value) -> Value {
    let scope = match token.get("scope") {
        Some(Value::String(s)) => s.split(' ').map(|x| json!(x)).collect(),
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    json!({
        "access_token": token["access_token"],
        "refresh_token": token.get("refresh_token"),
        "id_token": token.get("id_token"),
        "scope": scope,
        "token_response": token,
        "oauth_user": user_info,
    })
}
