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

use crate::api::names::{normalize_username, valid_username};
use crate::hub::Hub;
use crate::spawner::BoxFuture;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `native` or `dummy`.
    pub kind: String,
    /// `dummy` only: if set, every login must use this password.
    pub dummy_password: Option<String>,
    /// `native` only: anyone may create an account at `{hub}signup`.
    pub allow_signup: bool,
    pub min_password_length: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            kind: "native".into(),
            dummy_password: None,
            allow_signup: false,
            min_password_length: 8,
        }
    }
}

impl AuthConfig {
    pub fn validate(&self) -> Result<(), String> {
        match self.kind.as_str() {
            "native" | "dummy" => Ok(()),
            k => Err(format!(
                "auth.kind {k:?} is not supported (use \"native\" or \"dummy\")"
            )),
        }
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
    /// For redirect-based logins (OIDC): where the login page sends the browser. `None` shows
    /// the username/password form.
    fn login_url(&self) -> Option<String> {
        None
    }
    /// Whether `{hub}signup` is open.
    fn signup_allowed(&self) -> bool {
        false
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

pub fn from_config(cfg: &AuthConfig) -> std::sync::Arc<dyn Authenticator> {
    match cfg.kind.as_str() {
        "dummy" => std::sync::Arc::new(Dummy {
            password: cfg.dummy_password.clone(),
        }),
        _ => std::sync::Arc::new(Native {
            allow_signup: cfg.allow_signup,
        }),
    }
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
