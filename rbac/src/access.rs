//! Access decisions for handlers (upstream `needs_scope`, `has_scope` and
//! `check_scope_filter`).
//!
//! The 403-vs-404 rule: if the caller holds one of the required bases but its
//! filter does not cover the resource, the answer is "not found", so that a
//! caller cannot probe which users or servers exist. Only a caller holding
//! none of the bases at all learns that it lacks permission.

use std::fmt;

use crate::intersect::GroupCache;
use crate::{Builtin, Grant, Membership, ScopeSet};

/// The resource a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// No specific resource (`/info`, `/proxy`, list endpoints): only an
    /// unfiltered grant counts.
    Global,
    /// A user, by name.
    User(&'a str),
    /// A server of a user (`""` is the default server).
    Server {
        /// Owner name.
        user: &'a str,
        /// Server name.
        server: &'a str,
    },
    /// A group, by name.
    Group(&'a str),
    /// A service, by name.
    Service(&'a str),
}

impl fmt::Display for Resource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Resource::Global => f.write_str("*"),
            Resource::User(u) => write!(f, "user={u}"),
            Resource::Server { user, server } => write!(f, "server={user}/{server}"),
            Resource::Group(g) => write!(f, "group={g}"),
            Resource::Service(s) => write!(f, "service={s}"),
        }
    }
}

/// Outcome of [`check_access`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessDecision {
    /// Some required scope covers the resource.
    Allowed,
    /// A required base is held, but its filter does not cover the resource
    /// (upstream: 404 "No access to resources or resources not found").
    NotFound,
    /// None of the required bases is held (upstream: 403 "Action is not
    /// authorized with current scopes; requires any of [...]").
    Forbidden {
        /// The "any of" list that was required.
        required: Vec<Builtin>,
    },
}

/// Upstream's text for [`AccessDecision::NotFound`].
pub const NOT_FOUND_MESSAGE: &str = "No access to resources or resources not found";

impl AccessDecision {
    /// Whether access is granted.
    pub fn is_allowed(&self) -> bool {
        matches!(self, AccessDecision::Allowed)
    }

    /// Upstream's error message for a denial, `None` when allowed.
    pub fn message(&self) -> Option<String> {
        match self {
            AccessDecision::Allowed => None,
            AccessDecision::NotFound => Some(NOT_FOUND_MESSAGE.to_owned()),
            AccessDecision::Forbidden { required } => {
                let names: Vec<&str> = required.iter().map(|b| b.as_str()).collect();
                Some(format!(
                    "Action is not authorized with current scopes; requires any of [{}]",
                    names.join(", ")
                ))
            }
        }
    }
}

impl ScopeSet {
    /// Whether `base` covers `resource` (upstream `has_scope` /
    /// `check_scope_filter`):
    /// - unfiltered covers everything, including [`Resource::Global`];
    /// - a user is covered by `user=` or by a `group=` the user is in;
    /// - a server by its `server=`, its owner's `user=` or an owner's group;
    /// - groups and services only by their own filter.
    pub fn grants(&self, base: &str, resource: Resource<'_>, membership: &dyn Membership) -> bool {
        let Some(grant) = self.grant(base) else {
            return false;
        };
        let filters = match grant {
            Grant::All => return true,
            Grant::Only(f) => f,
        };
        let groups = GroupCache::new(membership);
        match resource {
            Resource::Global => false,
            Resource::User(user) => {
                filters.users().contains(user) || groups.in_any(user, filters.groups())
            }
            Resource::Server { user, server } => {
                filters.servers().contains(&format!("{user}/{server}"))
                    || filters.users().contains(user)
                    || groups.in_any(user, filters.groups())
            }
            Resource::Group(group) => filters.groups().contains(group),
            Resource::Service(service) => filters.services().contains(service),
        }
    }
}

/// Decide a request that needs any of `any_of` on `resource`.
pub fn check_access(
    scopes: &ScopeSet,
    any_of: &[Builtin],
    resource: Resource<'_>,
    membership: &dyn Membership,
) -> AccessDecision {
    if any_of
        .iter()
        .any(|b| scopes.grants(b.as_str(), resource, membership))
    {
        return AccessDecision::Allowed;
    }
    let filtered_request = resource != Resource::Global;
    if filtered_request && any_of.iter().any(|b| scopes.has_base(b.as_str())) {
        return AccessDecision::NotFound;
    }
    AccessDecision::Forbidden {
        required: any_of.to_vec(),
    }
}
