//! Authenticators: who may log in. The trait keeps login form, redirect-based flows (an OIDC
//! authenticator implements `login_url` and `callback`) and user creation apart, so a new
//! authenticator needs no change elsewhere.
//!
//! - `native` (default): users with argon2-hashed passwords in the replicated state; signup
//!   optional; an admin user from the config may claim its password once.
//! - `dummy`: any username logs in (optionally with one shared password). For development
//!   only, and only when configured explicitly.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use serde::{Deserialize, Serialize};

use super::generic_oauth::OAuthConfig;
use crate::api::names::{normalize_username, valid_username};
use crate::hub::Hub;
use crate::spawner::BoxFuture;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `native`, `generic-oauth`, `ldap` or `dummy`.
    pub kind: String,
    /// `dummy` only: if set, every login must use this password.
    pub dummy_password: Option<String>,
    /// `native` only: anyone may create an account at `{hub}signup`.
    pub allow_signup: bool,
    pub min_password_length: usize,
    /// Upstream's `Authenticator` traits, for `generic-oauth` and `ldap` (the native authenticator's
    /// users are created by an admin or signup). `blocked_users` applies to every kind.
    pub allowed_users: Vec<String>,
    pub blocked_users: Vec<String>,
    pub allow_all: bool,
    pub allow_existing_users: bool,
    /// `{hub}login` goes straight to the provider (no "Sign in with" page).
    pub auto_login: bool,
    /// The provider's groups become the user's hub groups at every login.
    pub manage_groups: bool,
    /// `generic-oauth`: oauthenticator's `GenericOAuthenticator` settings.
    pub oauth: OAuthConfig,
    /// `ldap`: ldapauthenticator's `LDAPAuthenticator` settings.
    pub ldap: super::ldap_auth::LdapConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            kind: "native".into(),
            dummy_password: None,
            allow_signup: false,
            min_password_length: 8,
            allowed_users: Vec::new(),
            blocked_users: Vec::new(),
            allow_all: false,
            allow_existing_users: false,
            auto_login: false,
            manage_groups: false,
            oauth: OAuthConfig::default(),
            ldap: Default::default(),
        }
    }
}

impl AuthConfig {
    pub fn validate(&self) -> Result<(), String> {
        match self.kind.as_str() {
            "native" | "dummy" => Ok(()),
            "generic-oauth" => self.resolved_oauth().map(|_| ()),
            "ldap" => self.ldap.clone().resolve().map(|_| ()),
            k => Err(format!(
                "auth.kind {k:?} is not supported (use \"native\", \"generic-oauth\", \"ldap\" or \"dummy\")"
            )),
        }
    }

    /// `[auth.oauth]` with oauthenticator's environment variables and the secret file read.
    pub fn resolved_oauth(&self) -> Result<OAuthConfig, String> {
        self.oauth
            .clone()
            .resolve(|k| std::env::var(k).ok(), self.manage_groups)
    }
}

/// The outcome of a login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// Log in as this (normalized) user, creating it if `create`.
    Accepted {
        name: String,
        create: bool,
    },
    Denied(String),
}

pub trait Authenticator: Send + Sync + 'static {
    fn kind(&self) -> &'static str;
    /// Checks a username and password from the login form.
    fn authenticate<'a>(
        &'a self,
        hub: &'a Hub,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Login>;
    /// For redirect-based logins (OAuth): where the login page sends the browser, under the
    /// hub's prefix (upstream's `login_url(base_url)`). `None` shows the password form.
    fn login_url(&self, _hub_prefix: &str) -> Option<String> {
        None
    }
    /// The OAuth login flow, for `{hub}oauth_login` and `{hub}oauth_callback`.
    fn oauth(&self) -> Option<&super::generic_oauth_flow::GenericOAuth> {
        None
    }
    /// Whether `{hub}signup` is open.
    fn signup_allowed(&self) -> bool {
        false
    }
}

/// The `[auth]` admission rules (and `hub.admin_users`) every external authenticator applies;
/// OAuth adds its groups and scopes.
pub fn allow_config(hub: &Hub) -> super::generic_oauth::AllowConfig<'_> {
    let a = &hub.auth_cfg;
    super::generic_oauth::AllowConfig {
        allow_all: a.allow_all,
        allow_existing_users: a.allow_existing_users,
        allowed_users: &a.allowed_users,
        blocked_users: &a.blocked_users,
        admin_users: &hub.cfg.admin_users,
        manage_groups: a.manage_groups,
        ..Default::default()
    }
}

pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

pub struct Dummy {
    pub password: Option<String>,
}

impl Authenticator for Dummy {
    fn kind(&self) -> &'static str {
        "dummy"
    }

    fn authenticate<'a>(
        &'a self,
        _hub: &'a Hub,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Login> {
        Box::pin(async move {
            let name = normalize_username(username.trim());
            if !valid_username(&name) {
                return Login::Denied("Invalid username or password".into());
            }
            if self.password.as_deref().is_some_and(|p| p != password) {
                return Login::Denied("Invalid username or password".into());
            }
            Login::Accepted { name, create: true }
        })
    }
}

pub struct Native {
    pub allow_signup: bool,
}

impl Authenticator for Native {
    fn kind(&self) -> &'static str {
        "native"
    }

    fn signup_allowed(&self) -> bool {
        self.allow_signup
    }

    fn authenticate<'a>(
        &'a self,
        hub: &'a Hub,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Login> {
        Box::pin(async move {
            let name = normalize_username(username.trim());
            let hash = hub
                .node
                .state()
                .user(&name)
                .and_then(|u| u.password_hash.clone());
            let Some(hash) = hash else {
                return Login::Denied("Invalid username or password".into());
            };
            let pw = password.to_string();
            // argon2 is deliberately slow: keep it off the async workers.
            let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
                .await
                .unwrap_or(false);
            if ok {
                Login::Accepted {
                    name,
                    create: false,
                }
            } else {
                Login::Denied("Invalid username or password".into())
            }
        })
    }
}

pub fn from_config(cfg: &AuthConfig) -> Result<std::sync::Arc<dyn Authenticator>, String> {
    Ok(match cfg.kind.as_str() {
        "dummy" => std::sync::Arc::new(Dummy {
            password: cfg.dummy_password.clone(),
        }),
        "generic-oauth" => std::sync::Arc::new(super::generic_oauth_flow::GenericOAuth::new(
            cfg.resolved_oauth()?,
        )?),
        "ldap" => std::sync::Arc::new(super::ldap_flow::LdapAuthenticator::new(
            cfg.ldap.clone().resolve()?,
        )?),
        _ => std::sync::Arc::new(Native {
            allow_signup: cfg.allow_signup,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_hashes_verify() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a phc string"));
    }
}
