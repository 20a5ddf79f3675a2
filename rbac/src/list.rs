//! List endpoints (`GET /users`, `/groups`, `/services`).
//!
//! Upstream lets any form of `list:*` through the door (`post_filter=True`)
//! and then restricts the listing to the filter. A filter of a kind that
//! cannot restrict that listing is refused for users and groups (a
//! `list:users!server=…` must not silently list everybody) and simply matches
//! nothing for services.

use crate::intersect::GroupCache;
use crate::{Builtin, FilterKind, FilterSet, Grant, Membership, ScopeSet};

/// Which entries of a listing the caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListGrant {
    /// Every entry.
    All,
    /// Only entries named by these filters.
    Only(FilterSet),
}

/// Why a listing is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListDenied {
    /// The `list:*` scope is not held at all (403 "Action is not authorized
    /// with current scopes; requires any of \[list:users\]").
    Forbidden {
        /// The scope that was required.
        required: Builtin,
    },
    /// Held, but with a filter of the wrong kind (upstream: bare 403).
    InvalidFilter,
}

impl ListGrant {
    /// Whether a user (with the groups `membership` reports) is listed.
    pub fn allows_user(&self, user: &str, membership: &dyn Membership) -> bool {
        match self {
            ListGrant::All => true,
            ListGrant::Only(f) => {
                f.users().contains(user) || GroupCache::new(membership).in_any(user, f.groups())
            }
        }
    }

    /// Whether a group is listed.
    pub fn allows_group(&self, group: &str) -> bool {
        match self {
            ListGrant::All => true,
            ListGrant::Only(f) => f.groups().contains(group),
        }
    }

    /// Whether a service is listed.
    pub fn allows_service(&self, service: &str) -> bool {
        match self {
            ListGrant::All => true,
            ListGrant::Only(f) => f.services().contains(service),
        }
    }
}

fn list_grant(
    scopes: &ScopeSet,
    base: Builtin,
    allowed_kinds: Option<&[FilterKind]>,
) -> Result<ListGrant, ListDenied> {
    match scopes.grant(base.as_str()) {
        None => Err(ListDenied::Forbidden { required: base }),
        Some(Grant::All) => Ok(ListGrant::All),
        Some(Grant::Only(f)) => match allowed_kinds {
            Some(kinds) if f.kinds().any(|k| !kinds.contains(&k)) => Err(ListDenied::InvalidFilter),
            _ => Ok(ListGrant::Only(f.clone())),
        },
    }
}

/// `GET /users`: `list:users`, unfiltered or restricted by `!user=`/`!group=`.
pub fn list_users(scopes: &ScopeSet) -> Result<ListGrant, ListDenied> {
    list_grant(
        scopes,
        Builtin::ListUsers,
        Some(&[FilterKind::User, FilterKind::Group]),
    )
}

/// `GET /groups`: `list:groups`, unfiltered or restricted by `!group=`.
pub fn list_groups(scopes: &ScopeSet) -> Result<ListGrant, ListDenied> {
    list_grant(scopes, Builtin::ListGroups, Some(&[FilterKind::Group]))
}

/// `GET /services`: `list:services`; only `!service=` filters select
/// anything, other kinds are ignored (upstream does not refuse them).
pub fn list_services(scopes: &ScopeSet) -> Result<ListGrant, ListDenied> {
    list_grant(scopes, Builtin::ListServices, None)
}
