//! Login with an LDAP directory (Active Directory, OpenLDAP, FreeIPA): ldapauthenticator
//! 2.0's `LDAPAuthenticator`, with its config names. The user's password is checked by
//! binding as the user (a DN from `bind_dn_template`, or looked up with `lookup_dn`); group
//! membership and `search_filter` are searched with that bind.
//!
//! This file is the pure part (config, escaping, templates); `ldap_flow.rs` talks LDAP.

use serde::{Deserialize, Serialize};

/// One DN template or several (ldapauthenticator accepts a string or a list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Templates {
    One(String),
    Many(Vec<String>),
}

impl Default for Templates {
    fn default() -> Self {
        Templates::Many(Vec::new())
    }
}

impl Templates {
    /// The non-empty templates (blank entries are ignored, as upstream).
    pub fn list(&self) -> Vec<String> {
        let v = match self {
            Templates::One(s) => vec![s.clone()],
            Templates::Many(v) => v.clone(),
        };
        v.into_iter().filter(|t| !t.is_empty()).collect()
    }
}

/// `[auth.ldap]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LdapConfig {
    pub server_address: String,
    /// Default 636 with `tls_strategy = "on_connect"`, else 389.
    pub server_port: Option<u16>,
    /// `before_bind` (StartTLS), `on_connect` (ldaps) or `insecure`.
    pub tls_strategy: String,
    /// Deprecated upstream: `true` is `tls_strategy = "on_connect"`.
    pub use_ssl: Option<bool>,
    /// Extra CA certificates (PEM) for the server, besides the system's (upstream's
    /// `tls_kwargs = {"ca_certs_file": ...}`).
    pub ca_file: Option<std::path::PathBuf>,
    pub bind_dn_template: Templates,
    pub allowed_groups: Vec<String>,
    pub group_search_filter: String,
    pub group_attributes: Vec<String>,
    pub valid_username_regex: String,
    pub lookup_dn: bool,
    pub user_search_base: Option<String>,
    pub user_attribute: Option<String>,
    pub lookup_dn_search_filter: String,
    pub lookup_dn_search_user: Option<String>,
    pub lookup_dn_search_password: Option<String>,
    /// Read at start; wins over `lookup_dn_search_password`.
    pub lookup_dn_search_password_file: Option<std::path::PathBuf>,
    pub lookup_dn_user_dn_attribute: Option<String>,
    pub search_filter: String,
    pub attributes: Vec<String>,
    pub use_lookup_dn_username: bool,
    /// Removed in ldapauthenticator 2.0 (no effect); accepted so old configs still load.
    pub escape_userdn: bool,
    /// Accepted for compatibility; rafthub keeps no `auth_state`.
    pub auth_state_attributes: Vec<String>,
}

impl Default for LdapConfig {
    fn default() -> Self {
        LdapConfig {
            server_address: String::new(),
            server_port: None,
            tls_strategy: "before_bind".into(),
            use_ssl: None,
            ca_file: None,
            bind_dn_template: Templates::default(),
            allowed_groups: Vec::new(),
            group_search_filter: "(|(member={userdn})(uniqueMember={userdn})(memberUid={uid}))"
                .into(),
            group_attributes: vec!["member".into(), "uniqueMember".into(), "memberUid".into()],
            valid_username_regex: r"^[a-z][.a-z0-9_-]*$".into(),
            lookup_dn: false,
            user_search_base: None,
            user_attribute: None,
            lookup_dn_search_filter: "({login_attr}={login})".into(),
            lookup_dn_search_user: None,
            lookup_dn_search_password: None,
            lookup_dn_search_password_file: None,
            lookup_dn_user_dn_attribute: None,
            search_filter: String::new(),
            attributes: Vec::new(),
            use_lookup_dn_username: false,
            escape_userdn: false,
            auth_state_attributes: Vec::new(),
        }
    }
}

impl LdapConfig {
    /// Checks the config as ldapauthenticator's validators do and reads the password file.
    pub fn resolve(mut self) -> Result<LdapConfig, String> {
        if self.server_address.is_empty() {
            return Err("auth.ldap.server_address is required".into());
        }
        self.split_server_address()?;
        if self.use_ssl == Some(true) {
            self.tls_strategy = "on_connect".into();
        }
        if !matches!(
            self.tls_strategy.as_str(),
            "before_bind" | "on_connect" | "insecure"
        ) {
            return Err(
                "auth.ldap.tls_strategy must be \"before_bind\", \"on_connect\" or \"insecure\""
                    .into(),
            );
        }
        if !self.lookup_dn && self.bind_dn_template.list().is_empty() {
            return Err("auth.ldap requires either lookup_dn or bind_dn_template".into());
        }
        if self.lookup_dn
            && (self.user_search_base.is_none()
                || self.user_attribute.is_none()
                || self.lookup_dn_user_dn_attribute.is_none())
        {
            return Err("auth.ldap.lookup_dn needs user_search_base, user_attribute and lookup_dn_user_dn_attribute".into());
        }
        if !self.allowed_groups.is_empty()
            && (self.group_search_filter.is_empty() || self.group_attributes.is_empty())
        {
            return Err(
                "auth.ldap.allowed_groups requires both group_search_filter and group_attributes"
                    .into(),
            );
        }
        regex::Regex::new(&self.valid_username_regex)
            .map_err(|e| format!("auth.ldap.valid_username_regex: {e}"))?;
        if let Some(p) = &self.lookup_dn_search_password_file {
            let s = std::fs::read_to_string(p)
                .map_err(|e| format!("lookup_dn_search_password_file {}: {e}", p.display()))?;
            self.lookup_dn_search_password = Some(s.trim_end_matches(['\n', '\r']).to_string());
        }
        Ok(self)
    }

    /// python-ldap3's `Server` also takes `ldap://host[:port]`, `ldaps://host[:port]` and
    /// `host:port`: those become `server_address`, `server_port` and (`ldaps`) `on_connect`.
    fn split_server_address(&mut self) -> Result<(), String> {
        let bad = || {
            format!(
                "auth.ldap.server_address {:?} is not a host, host:port or ldap(s)://host[:port]",
                self.server_address
            )
        };
        let mut rest = self.server_address.trim_end_matches('/').to_string();
        if let Some((scheme, after)) = rest.split_once("://") {
            match scheme.to_ascii_lowercase().as_str() {
                "ldaps" => self.tls_strategy = "on_connect".into(),
                "ldap" => {}
                _ => return Err(bad()),
            }
            rest = after.to_string();
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, tail) = v6.split_once(']').ok_or_else(bad)?;
            (h.to_string(), tail.strip_prefix(':').map(str::to_string))
        } else if rest.matches(':').count() == 1 {
            let (h, p) = rest.split_once(':').expect("one colon");
            (h.to_string(), Some(p.to_string()))
        } else {
            (rest.clone(), None)
        };
        if host.is_empty() || host.contains('/') {
            return Err(bad());
        }
        if let Some(p) = port {
            let p: u16 = p.parse().map_err(|_| bad())?;
            self.server_port.get_or_insert(p);
        }
        self.server_address = host;
        Ok(())
    }

    pub fn url(&self) -> String {
        let tls = self.tls_strategy == "on_connect";
        let port = self.server_port.unwrap_or(if tls { 636 } else { 389 });
        let scheme = if tls { "ldaps" } else { "ldap" };
        let host = if self.server_address.contains(':') {
            format!("[{}]", self.server_address)
        } else {
            self.server_address.clone()
        };
        format!("{scheme}://{host}:{port}")
    }
}

/// Python ldap3's `escape_filter_chars` (RFC 4515): a value safe inside a search filter.
pub fn escape_filter(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\5c"),
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// Python ldap3's `escape_rdn` (RFC 4514): a value safe as one RDN value of a DN.
pub fn escape_rdn(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        match c {
            '\\' | ',' | '+' | '"' | '<' | '>' | ';' | '=' | '\0' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    if out.starts_with('#') || out.starts_with(' ') {
        out.insert(0, '\\');
    }
    if out.ends_with(' ') && !out.ends_with("\\ ") {
        out.insert(out.len() - 1, '\\');
    }
    out
}

/// Python's `str.format` with named fields only (`{username}`; `{{` and `}}` are braces).
/// An unknown field is left as written.
pub fn format_template(template: &str, fields: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(tail.as_bytes()[0] as char);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('{') {
            if let Some(end) = tail.find('}') {
                let name = &tail[1..end];
                match fields.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => out.push_str(&tail[..=end]),
                }
                rest = &tail[end + 1..];
                continue;
            }
        }
        out.push(tail.as_bytes()[0] as char);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[path = "ldap_auth_tests.rs"]
mod tests;
