//! Login through an OAuth 2.0 / OpenID Connect identity provider: oauthenticator 17's
//! `GenericOAuthenticator` (z2jh's `authenticator_class: generic-oauth`), with its config
//! names, so an operator's `hub.config.GenericOAuthenticator` settings carry over.
//!
//! This file is the pure part (config, the authorize URL, the state, the username, who may
//! log in); `generic_oauth_flow.rs` does the HTTP. Nothing here is per replica: the state
//! travels in a signed cookie, so the callback may land on any replica.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The cookie holding the login's state between `oauth_login` and `oauth_callback`.
pub const STATE_COOKIE: &str = "oauthenticator-state";

/// `[auth.oauth]`: oauthenticator's `OAuthenticator` / `GenericOAuthenticator` traits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Read at start (a Kubernetes secret mounted as a file); wins over `client_secret`.
    pub client_secret_file: Option<PathBuf>,
    pub authorize_url: String,
    pub token_url: String,
    pub userdata_url: String,
    /// `https://<host>/hub/oauth_callback`; empty: guessed from the request's host.
    pub oauth_callback_url: String,
    pub scope: Vec<String>,
    #[serde(alias = "username_key")]
    pub username_claim: String,
    /// The login button reads "Sign in with <login_service>".
    pub login_service: String,
    /// Client credentials in an `Authorization: Basic` header instead of the form body.
    pub basic_auth: bool,
    pub enable_pkce: bool,
    pub extra_authorize_params: BTreeMap<String, String>,
    #[serde(alias = "extra_params")]
    pub token_params: BTreeMap<String, String>,
    pub userdata_params: BTreeMap<String, String>,
    /// `header` (Authorization) or `url` (`?access_token=`).
    pub userdata_token_method: String,
    /// Claims from the token response's `id_token` instead of a `userdata_url` request.
    pub userdata_from_id_token: bool,
    /// Users granted all of these scopes may log in.
    pub allowed_scopes: Vec<String>,
    /// With `manage_groups`: members of these groups may log in / are admins.
    pub allowed_groups: Vec<String>,
    pub admin_groups: Vec<String>,
    /// Dotted path into the auth state (`oauth_user.groups`: the userinfo's `groups` claim).
    pub auth_state_groups_key: String,
    /// Deprecated in oauthenticator 17: a claim of the userinfo (`auth_state_groups_key`
    /// `oauth_user.<claim>`).
    pub claim_groups_key: Option<String>,
    /// Where logout sends the browser (the provider's end-session URL) instead of our page.
    pub logout_redirect_url: String,
    pub custom_403_message: String,
    /// `false` is refused: give the provider's CA in `ca_file` instead.
    #[serde(alias = "tls_verify")]
    pub validate_server_cert: bool,
    /// Extra CA certificates (PEM) for the provider, besides the system's.
    pub ca_file: Option<PathBuf>,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        OAuthConfig {
            client_id: String::new(),
            client_secret: String::new(),
            client_secret_file: None,
            authorize_url: String::new(),
            token_url: String::new(),
            userdata_url: String::new(),
            oauth_callback_url: String::new(),
            scope: Vec::new(),
            username_claim: "username".into(),
            login_service: "OAuth 2.0".into(),
            basic_auth: false,
            enable_pkce: true,
            extra_authorize_params: BTreeMap::new(),
            token_params: BTreeMap::new(),
            userdata_params: BTreeMap::new(),
            userdata_token_method: "header".into(),
            userdata_from_id_token: false,
            allowed_scopes: Vec::new(),
            allowed_groups: Vec::new(),
            admin_groups: Vec::new(),
            auth_state_groups_key: String::new(),
            claim_groups_key: None,
            logout_redirect_url: String::new(),
            custom_403_message: "Sorry, you are not currently authorized to use this hub. \
                                 Please contact the hub administrator."
                .into(),
            validate_server_cert: true,
            ca_file: None,
        }
    }
}

impl OAuthConfig {
    /// Fills empty keys from oauthenticator's environment variables (`OAUTH_CLIENT_ID`, ...)
    /// and the secret file, then checks the result as oauthenticator's validators do.
    pub fn resolve(
        mut self,
        env: impl Fn(&str) -> Option<String>,
        manage_groups: bool,
    ) -> Result<OAuthConfig, String> {
        let fill = |v: &mut String, var: &str| {
            if v.is_empty() {
                if let Some(e) = env(var) {
                    *v = e;
                }
            }
        };
        fill(&mut self.client_id, "OAUTH_CLIENT_ID");
        fill(&mut self.client_secret, "OAUTH_CLIENT_SECRET");
        fill(&mut self.authorize_url, "OAUTH2_AUTHORIZE_URL");
        fill(&mut self.token_url, "OAUTH2_TOKEN_URL");
        fill(&mut self.userdata_url, "OAUTH2_USERDATA_URL");
        fill(&mut self.oauth_callback_url, "OAUTH_CALLBACK_URL");
        fill(&mut self.logout_redirect_url, "OAUTH_LOGOUT_REDIRECT_URL");
        // Keys with a non-empty default take their variable while they hold the default.
        let defaults = OAuthConfig::default();
        let unless_set = |v: &mut String, default: &str, var: &str| {
            if v == default {
                if let Some(e) = env(var).filter(|e| !e.is_empty()) {
                    *v = e;
                }
            }
        };
        unless_set(
            &mut self.username_claim,
            &defaults.username_claim,
            "OAUTH2_USERNAME_KEY",
        );
        unless_set(
            &mut self.login_service,
            &defaults.login_service,
            "LOGIN_SERVICE",
        );
        unless_set(
            &mut self.userdata_token_method,
            &defaults.userdata_token_method,
            "OAUTH2_USERDATA_REQUEST_TYPE",
        );
        if !self.basic_auth {
            self.basic_auth = env("OAUTH2_BASIC_AUTH")
                .is_some_and(|v| matches!(v.to_lowercase().as_str(), "true" | "1"));
        }
        if self.claim_groups_key.is_none() && self.auth_state_groups_key.is_empty() && manage_groups
        {
            self.claim_groups_key = env("OAUTH2_GROUPS_KEY").filter(|k| !k.is_empty());
        }
        if let Some(path) = &self.client_secret_file {
            let s = std::fs::read_to_string(path)
                .map_err(|e| format!("client_secret_file {}: {e}", path.display()))?;
            self.client_secret = s.trim().to_string();
        }
        if let Some(k) = self.claim_groups_key.take() {
            if !manage_groups {
                return Err("auth.oauth.claim_groups_key requires auth.manage_groups".into());
            }
            if self.auth_state_groups_key.is_empty() {
                self.auth_state_groups_key = format!("oauth_user.{k}");
            }
        }
        let missing = [
            ("client_id", &self.client_id),
            ("authorize_url", &self.authorize_url),
            ("token_url", &self.token_url),
        ];
        if let Some((k, _)) = missing.iter().find(|(_, v)| v.is_empty()) {
            return Err(format!("auth.oauth.{k} is required for generic-oauth"));
        }
        match (self.userdata_url.is_empty(), self.userdata_from_id_token) {
            (true, false) => {
                return Err(
                    "auth.oauth.userdata_url is required (or userdata_from_id_token)".into(),
                )
            }
            (false, true) => {
                return Err(
                    "auth.oauth: cannot specify both userdata_url and userdata_from_id_token"
                        .into(),
                )
            }
            _ => {}
        }
        if !matches!(self.userdata_token_method.as_str(), "header" | "url") {
            return Err("auth.oauth.userdata_token_method must be \"header\" or \"url\"".into());
        }
        if let Some(s) = self.allowed_scopes.iter().find(|s| !self.scope.contains(s)) {
            return Err(format!(
                "auth.oauth.allowed_scopes must be a subset of scope ({s:?} is not requested)"
            ));
        }
        let needs_groups = !self.allowed_groups.is_empty()
            || !self.admin_groups.is_empty()
            || !self.auth_state_groups_key.is_empty();
        if needs_groups && !manage_groups {
            return Err(
                "auth.oauth.allowed_groups, admin_groups and auth_state_groups_key require auth.manage_groups".into(),
            );
        }
        if self.auth_state_groups_key.is_empty() {
            self.auth_state_groups_key = "oauth_user.groups".into();
        }
        if !self.validate_server_cert {
            return Err("auth.oauth.validate_server_cert = false is not supported: give the provider's CA certificate in auth.oauth.ca_file".into());
        }
        Ok(self)
    }
}

/// What the state cookie carries (oauthenticator's `{state_id, next_url, code_verifier}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LoginState {
    pub state_id: String,
    #[serde(default)]
    pub next_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<String>,
}

/// oauthenticator's `_serialize_state`: URL-safe base64 of the JSON (padded).
pub fn encode_state<T: Serialize>(state: &T) -> String {
    let json = serde_json::to_vec(state).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE.encode(json)
}

/// `_deserialize_state`; anything undecodable is an empty state (no `state_id`).
pub fn decode_state(b64: &str) -> LoginState {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT
        .decode(b64)
        .ok()
        .and_then(|j| serde_json::from_slice(&j).ok())
        .unwrap_or_default()
}

/// The `state` the provider sends back: only the id (oauthenticator keeps the rest in the
/// cookie).
pub fn url_state(state_id: &str) -> String {
    encode_state(&serde_json::json!({ "state_id": state_id }))
}

/// oauthenticator's `_get_next_url`: a local absolute path; a host or scheme is dropped.
pub fn local_next(next: &str) -> Option<String> {
    // Python's urlsplit drops tabs and newlines first, as browsers do.
    let next: String = next
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    if next.is_empty() {
        return None;
    }
    let next = next.replace('\\', "%5C");
    let rest = match next.find("://") {
        Some(i)
            if next[..i]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            let after = &next[i + 3..];
            &after[after.find('/').unwrap_or(after.len())..]
        }
        _ => next.strip_prefix("//").map_or(next.as_str(), |after| {
            &after[after.find('/').unwrap_or(after.len())..]
        }),
    };
    let path = format!("/{}", rest.trim_start_matches('/'));
    // What a Location header cannot carry as is (other controls, non-ASCII), percent-encoded
    // as a browser would send it.
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_control() || !b.is_ascii() || b == b' ' {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    Some(out)
}

/// RFC 7636 S256: a 43-character verifier from 32 random bytes and its challenge.
pub fn pkce_pair(random: [u8; 32]) -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(random);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Tornado's `OAuth2Mixin.authorize_redirect` URL: `response_type`, `redirect_uri`,
/// `client_id`, then the extra parameters (`extra_authorize_params`, the PKCE challenge, the
/// state; a later key replaces an earlier one, as a Python dict update), then `scope` if any.
pub fn authorize_redirect(
    cfg: &OAuthConfig,
    redirect_uri: &str,
    state: &str,
    code_challenge: Option<&str>,
) -> String {
    let mut args: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: &str| match args.iter_mut().find(|(n, _)| n == k) {
        Some(slot) => slot.1 = v.to_string(),
        None => args.push((k.to_string(), v.to_string())),
    };
    put("response_type", "code");
    put("redirect_uri", redirect_uri);
    put("client_id", &cfg.client_id);
    for (k, v) in &cfg.extra_authorize_params {
        put(k, v);
    }
    if let Some(c) = code_challenge {
        put("code_challenge", c);
        put("code_challenge_method", "S256");
    }
    put("state", state);
    if !cfg.scope.is_empty() {
        put("scope", &cfg.scope.join(" "));
    }
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&args)
        .finish();
    let sep = if cfg.authorize_url.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{}{sep}{q}", cfg.authorize_url)
}

/// The form of the code-for-token request (`build_access_tokens_request_params`).
pub fn token_form(
    cfg: &OAuthConfig,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
) -> Vec<(String, String)> {
    let mut f = vec![
        ("code".to_string(), code.to_string()),
        ("grant_type".into(), "authorization_code".into()),
        ("redirect_uri".into(), redirect_uri.to_string()),
    ];
    if let Some(v) = code_verifier {
        f.push(("code_verifier".into(), v.to_string()));
    }
    if !cfg.basic_auth {
        f.push(("client_id".into(), cfg.client_id.clone()));
        f.push(("client_secret".into(), cfg.client_secret.clone()));
    }
    f.extend(cfg.token_params.iter().map(|(k, v)| (k.clone(), v.clone())));
    f
}

/// `user_info_to_username`: the claim's value (a string, or a number as text).
pub fn username_from(user_info: &Value, claim: &str) -> Result<String, String> {
    match user_info.get(claim) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(format!(
            "No {claim} found in the user info. Maybe the hub needs to be configured to request more scopes?"
        )),
    }
}

/// `get_user_groups` with a dotted key: the list at that path of the auth state, else none.
pub fn groups_at(auth_state: &Value, dotted: &str) -> BTreeSet<String> {
    let mut v = auth_state;
    for part in dotted.split('.') {
        match v.get(part) {
            Some(next) => v = next,
            None => return BTreeSet::new(),
        }
    }
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// The claims of an ID token, as oauthenticator reads them without checking the signature
/// (the token came straight from the provider over TLS, OIDC Core §3.1.3.7), but with the
/// audience and expiry checked.
pub fn id_token_claims(id_token: &str, client_id: &str, now_secs: i64) -> Result<Value, String> {
    let payload = id_token
        .split('.')
        .nth(1)
        .ok_or("the id token is not a JWT")?;
    let raw = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|e| format!("the id token's payload is not base64url: {e}"))?;
    let claims: Value =
        serde_json::from_slice(&raw).map_err(|e| format!("the id token's payload: {e}"))?;
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err("the id token is not for this client (aud)".into());
    }
    // PyJWT's checks: numeric dates (integers or not), `exp` in the future, `nbf` not.
    let date = |k: &str| match claims.get(k) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("the id token's {k} is not a number")),
    };
    if date("exp")?.is_some_and(|exp| exp <= now_secs as f64) {
        return Err("the id token has expired".into());
    }
    if date("nbf")?.is_some_and(|nbf| nbf > now_secs as f64) {
        return Err("the id token is not yet valid (nbf)".into());
    }
    Ok(claims)
}

/// Who may log in, from `[auth]` and `[auth.oauth]`.
#[derive(Debug, Clone, Default)]
pub struct AllowConfig<'a> {
    pub allow_all: bool,
    pub allow_existing_users: bool,
    pub allowed_users: &'a [String],
    pub blocked_users: &'a [String],
    pub admin_users: &'a [String],
    pub manage_groups: bool,
    pub allowed_groups: &'a [String],
    pub admin_groups: &'a [String],
    pub allowed_scopes: &'a [String],
}

/// What the provider told us about one login.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub name: String,
    pub granted_scopes: Vec<String>,
    /// With `manage_groups`: the user's groups, which the login makes its hub groups.
    pub groups: Option<BTreeSet<String>>,
    pub exists: bool,
}

/// `Some(admin)` (None: leave the user's admin flag as it is) if `id` may log in.
/// oauthenticator's `_token_to_auth_model` + `check_allowed`, after the hub's blocked check.
pub fn admit(c: &AllowConfig, id: &Identity) -> Option<Option<bool>> {
    if c.blocked_users.contains(&id.name) {
        return None;
    }
    let mut admin = c.admin_users.contains(&id.name).then_some(true);
    let groups = id.groups.as_ref().filter(|_| c.manage_groups);
    if let Some(g) = groups {
        if !c.admin_groups.is_empty() && admin.is_none() {
            admin = Some(c.admin_groups.iter().any(|a| g.contains(a)));
        }
    }
    let scopes_ok = !c.allowed_scopes.is_empty()
        && c.allowed_scopes
            .iter()
            .all(|s| id.granted_scopes.contains(s));
    let allowed = scopes_ok
        || c.allow_all
        || admin == Some(true)
        || c.allowed_users.contains(&id.name)
        || (c.allow_existing_users && id.exists)
        || groups.is_some_and(|g| c.allowed_groups.iter().any(|a| g.contains(a)));
    allowed.then_some(admin)
}

#[cfg(test)]
#[path = "generic_oauth_tests.rs"]
mod tests;
