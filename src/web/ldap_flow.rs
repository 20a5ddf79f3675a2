//! The IO half of the LDAP authenticator (`ldap_auth.rs` is the pure half): binds and
//! searches as ldapauthenticator 2.0's `authenticate` does, then the hub's admission rules.

use std::sync::Arc;
use std::time::Duration;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

use super::authenticator::{allow_config, Authenticator, Login};
use super::generic_oauth::{admit, Identity};
use super::ldap_auth::{escape_filter, escape_rdn, format_template, LdapConfig};
use crate::api::names::{normalize_username, valid_username};
use crate::hub::Hub;
use crate::spawner::BoxFuture;

const TIMEOUT: Duration = Duration::from_secs(10);
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
const DENIED: &str = "Invalid username or password";

pub struct LdapAuthenticator {
    cfg: LdapConfig,
    username_re: regex::Regex,
    tls: Arc<rustls::ClientConfig>,
}

/// An LDAP failure that is not a refused bind (the server is unreachable, TLS, a protocol
/// error): the login fails and the operator finds why in the log.
type LdapError = String;

impl LdapAuthenticator {
    pub fn new(cfg: LdapConfig) -> Result<LdapAuthenticator, String> {
        let username_re = regex::Regex::new(&cfg.valid_username_regex)
            .map_err(|e| format!("auth.ldap.valid_username_regex: {e}"))?;
        let mut tls = rafthub_proxy::tls_client_config(cfg.ca_file.as_deref());
        tls.alpn_protocols.clear();
        Ok(LdapAuthenticator {
            cfg,
            username_re,
            tls: Arc::new(tls),
        })
    }

    /// A connection bound as `dn` (anonymous without one); `Ok(None)` if the server refused
    /// the credentials (upstream's `get_connection`).
    async fn connect(
        &self,
        dn: Option<&str>,
        password: &str,
    ) -> Result<Option<ldap3::Ldap>, LdapError> {
        let settings = LdapConnSettings::new()
            .set_conn_timeout(TIMEOUT)
            .set_config(self.tls.clone())
            .set_starttls(self.cfg.tls_strategy == "before_bind");
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.cfg.url())
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.cfg.url()))?;
        ldap3::drive!(conn);
        ldap.with_timeout(TIMEOUT);
        let Some(dn) = dn else {
            return Ok(Some(ldap));
        };
        let res = ldap
            .simple_bind(dn, password)
            .await
            .map_err(|e| format!("binding as {dn}: {e}"))?;
        if res.rc == 0 {
            Ok(Some(ldap))
        } else {
            tracing::debug!(dn, rc = res.rc, text = %res.text, "LDAP bind refused");
            let _ = ldap.unbind().await;
            Ok(None)
        }
    }

    /// `resolve_username`: (the looked-up attribute's value, the entry's DN), with the
    /// search user's bind.
    async fn resolve_username(&self, login: &str) -> Result<Option<(String, String)>, LdapError> {
        let c = &self.cfg;
        let pw = c.lookup_dn_search_password.clone().unwrap_or_default();
        let Some(mut ldap) = self
            .connect(c.lookup_dn_search_user.as_deref(), &pw)
            .await?
        else {
            tracing::error!(user = ?c.lookup_dn_search_user, "LDAP: the lookup_dn_search_user bind was refused");
            return Ok(None);
        };
        let attr = c.lookup_dn_user_dn_attribute.clone().unwrap_or_default();
        let filter = format_template(
            &c.lookup_dn_search_filter,
            &[
                ("login_attr", c.user_attribute.as_deref().unwrap_or("")),
                ("login", &escape_filter(login)),
            ],
        );
        let base = c.user_search_base.clone().unwrap_or_default();
        ldap.with_timeout(TIMEOUT); // per request: ldap3 forgets it after each
        let found = ldap
            .search(&base, Scope::Subtree, &filter, vec![attr.as_str()])
            .await
            .and_then(|r| r.success())
            .map_err(|e| format!("looking up {login:?}: {e}"));
        let _ = ldap.unbind().await;
        let (entries, _) = found?;
        if entries.len() != 1 {
            tracing::warn!(
                login,
                n = entries.len(),
                "LDAP lookup_dn: expected exactly one entry"
            );
            return Ok(None);
        }
        let e = SearchEntry::construct(entries.into_iter().next().expect("one entry"));
        let values = e
            .attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&attr))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        match values.as_slice() {
            [one] => Ok(Some((one.clone(), e.dn))),
            _ => {
                tracing::error!(
                    login,
                    attr,
                    n = values.len(),
                    "LDAP lookup_dn: expected one attribute value"
                );
                Ok(None)
            }
        }
    }

    /// `authenticate` up to the hub's admission: the user's name and the allowed groups it
    /// is in, or `None` (refused).
    async fn check(
        &self,
        login: &str,
        password: &str,
    ) -> Result<Option<(String, Vec<String>)>, LdapError> {
        let c = &self.cfg;
        if self.username_re.find(login).is_none_or(|m| m.start() != 0) {
            tracing::warn!(login, "LDAP: username does not match valid_username_regex");
            return Ok(None);
        }
        if password.trim().is_empty() {
            return Ok(None); // an empty password would be an anonymous bind
        }
        let mut resolved = login.to_string();
        let mut templates = c.bind_dn_template.list();
        if c.lookup_dn {
            let Some((name, dn)) = self.resolve_username(login).await? else {
                return Ok(None);
            };
            resolved = name;
            if templates.is_empty() {
                templates = vec![dn];
            }
        }
        let mut bound = None;
        for t in &templates {
            let dn = format_template(t, &[("username", &escape_rdn(&resolved))]);
            if let Some(l) = self.connect(Some(&dn), password).await? {
                bound = Some((l, dn));
                break;
            }
        }
        let Some((mut ldap, userdn)) = bound else {
            return Ok(None);
        };
        let result = self.search_checks(&mut ldap, &resolved, &userdn).await;
        let _ = ldap.unbind().await;
        let Some(groups) = result? else {
            return Ok(None);
        };
        let name = if c.use_lookup_dn_username {
            resolved
        } else {
            login.to_string()
        };
        Ok(Some((name, groups)))
    }

    /// `search_filter` (exactly one match required) and the `allowed_groups` the user is in.
    async fn search_checks(
        &self,
        ldap: &mut ldap3::Ldap,
        resolved: &str,
        userdn: &str,
    ) -> Result<Option<Vec<String>>, LdapError> {
        let c = &self.cfg;
        if !c.search_filter.is_empty() {
            let filter = format_template(
                &c.search_filter,
                &[
                    ("userattr", c.user_attribute.as_deref().unwrap_or("")),
                    ("username", &escape_filter(resolved)),
                ],
            );
            let base = c.user_search_base.clone().unwrap_or_default();
            ldap.with_timeout(TIMEOUT);
            let (entries, _) = ldap
                .search(&base, Scope::Subtree, &filter, c.attributes.clone())
                .await
                .and_then(|r| r.success())
                .map_err(|e| format!("search_filter: {e}"))?;
            if entries.len() != 1 {
                tracing::warn!(
                    resolved,
                    n = entries.len(),
                    "LDAP search_filter needs exactly one match"
                );
                return Ok(None);
            }
        }
        let mut groups = Vec::new();
        for g in &c.allowed_groups {
            let filter = format_template(
                &c.group_search_filter,
                &[
                    ("userdn", &escape_filter(userdn)),
                    ("uid", &escape_filter(resolved)),
                ],
            );
            ldap.with_timeout(TIMEOUT);
            let r = ldap
                .search(g, Scope::Base, &filter, c.group_attributes.clone())
                .await
                .map_err(|e| format!("group {g}: {e}"))?;
            // A group that does not exist (noSuchObject) simply does not hold the user.
            if r.1.rc == 0 && !r.0.is_empty() {
                groups.push(g.clone());
            }
        }
        Ok(Some(groups))
    }
}

impl Authenticator for LdapAuthenticator {
    fn kind(&self) -> &'static str {
        "ldap"
    }

    fn authenticate<'a>(
        &'a self,
        hub: &'a Hub,
        username: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Login> {
        Box::pin(async move {
            // ldap3's timeouts cover the connection and each request, not a search whose
            // answer trickles in: the whole login is bounded too.
            let checked =
                tokio::time::timeout(LOGIN_TIMEOUT, self.check(username.trim(), password))
                    .await
                    .unwrap_or_else(|_| Err("the directory did not answer in time".into()));
            let (name, groups) = match checked {
                Ok(Some(found)) => found,
                Ok(None) => return Login::Denied(DENIED.into()),
                Err(e) => {
                    tracing::error!(error = %e, "LDAP login failed");
                    return Login::Denied(DENIED.into());
                }
            };
            let name = normalize_username(&name);
            if !valid_username(&name) {
                return Login::Denied(DENIED.into());
            }
            let allow = allow_config(hub);
            let id = Identity {
                exists: hub.node.state().user(&name).is_some(),
                name: name.clone(),
                ..Default::default()
            };
            // ldapauthenticator's check_allowed: the hub's rules, or one of allowed_groups.
            let allowed =
                admit(&allow, &id).is_some() || (!hub.is_blocked(&name) && !groups.is_empty());
            if !allowed {
                tracing::info!(user = %name, "LDAP login not allowed");
                return Login::Denied(DENIED.into());
            }
            Login::Accepted { name, create: true }
        })
    }
}
