//! Roles: named bundles of raw scopes (upstream `roles.py`).
//!
//! Users get `user` (and `admin` if admin), server tokens `server`, new API
//! tokens `token`. Roles from config are validated here the way upstream
//! validates them at load, so a bad role stops startup instead of failing
//! requests later.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::{parse_scopes, RoleError, Scope, ScopeRegistry};

/// A role definition: raw (unexpanded) scope strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// `[a-z][a-z0-9-_~.]{1,253}[a-z0-9]`.
    pub name: String,
    /// Free text; `None` when not given.
    #[serde(default)]
    pub description: Option<String>,
    /// Raw scopes, possibly with templates and metascopes.
    #[serde(default)]
    pub scopes: Vec<String>,
}

const USER_SCOPES: &[&str] = &["self"];
const ADMIN_SCOPES: &[&str] = &[
    "admin-ui",
    "admin:users",
    "admin:servers",
    "admin:services",
    "tokens",
    "admin:groups",
    "list:services",
    "read:services",
    "read:hub",
    "proxy",
    "shutdown",
    "access:services",
    "access:servers",
    "read:roles",
    "read:metrics",
    "shares",
];
const SERVER_SCOPES: &[&str] = &["users:activity!user", "access:servers!server"];
const TOKEN_SCOPES: &[&str] = &["inherit"];

fn role(name: &str, description: &str, scopes: &[&str]) -> Role {
    Role {
        name: name.to_owned(),
        description: Some(description.to_owned()),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// The four default roles, in upstream order: `user`, `admin`, `server`,
/// `token`.
pub fn default_roles() -> Vec<Role> {
    vec![
        role("user", "Standard user privileges", USER_SCOPES),
        role(
            "admin",
            "Elevated privileges (can do anything)",
            ADMIN_SCOPES,
        ),
        role("server", "Post activity only", SERVER_SCOPES),
        role(
            "token",
            "Token with same permissions as its owner",
            TOKEN_SCOPES,
        ),
    ]
}

/// One default role by name.
pub fn default_role(name: &str) -> Option<Role> {
    default_roles().into_iter().find(|r| r.name == name)
}

/// Check a role name against upstream's pattern.
pub fn validate_role_name(name: &str) -> Result<(), RoleError> {
    let bytes = name.as_bytes();
    let ok = (3..=255).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes[1..bytes.len() - 1].iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'~' | b'.')
        })
        && {
            let last = bytes[bytes.len() - 1];
            last.is_ascii_lowercase() || last.is_ascii_digit()
        };
    if ok {
        Ok(())
    } else {
        Err(RoleError::InvalidName(name.to_owned()))
    }
}

/// Validate a role from config (upstream `create_role`): valid name, `admin`
/// not redefined, every scope defined. Returns the parsed scopes.
///
/// For `admin`, a description or scope list that is given must equal the
/// default (scopes compared as a set; an empty list counts as "not given").
pub fn validate_role(role: &Role, registry: &ScopeRegistry) -> Result<Vec<Scope>, RoleError> {
    validate_role_name(&role.name)?;
    if role.name == "admin" {
        let default = default_role("admin").expect("admin is a default role");
        if role
            .description
            .as_ref()
            .is_some_and(|d| Some(d) != default.description.as_ref())
        {
            return Err(RoleError::AdminOverride {
                field: "description",
            });
        }
        let given: BTreeSet<&str> = role.scopes.iter().map(String::as_str).collect();
        let fixed: BTreeSet<&str> = default.scopes.iter().map(String::as_str).collect();
        if !given.is_empty() && given != fixed {
            return Err(RoleError::AdminOverride { field: "scopes" });
        }
    }
    parse_scopes(&role.scopes, registry).map_err(|source| RoleError::Scope {
        role: role.name.clone(),
        source,
    })
}

/// The union of the raw scopes of `roles` (upstream `roles_to_scopes`),
/// parsed against `registry` (which carries the custom scopes).
pub fn roles_to_scopes(
    roles: &[Role],
    registry: &ScopeRegistry,
) -> Result<BTreeSet<Scope>, RoleError> {
    let mut out = BTreeSet::new();
    for role in roles {
        let parsed = parse_scopes(&role.scopes, registry).map_err(|source| RoleError::Scope {
            role: role.name.clone(),
            source,
        })?;
        out.extend(parsed);
    }
    Ok(out)
}
