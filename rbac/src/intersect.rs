//! Intersection of two expanded scope sets (upstream
//! `_intersect_expanded_scopes`, always with group resolution).
//!
//! Used for "token scopes ∩ owner scopes" on every request, so revoking a
//! role takes effect at once, and for OAuth scope resolution.
//!
//! Per base held on both sides:
//! - unfiltered ∩ X = X;
//! - otherwise each side's filters survive if the other side contains them:
//!   `user=u` if the other has `user=u` or a `group=g` with u ∈ g;
//!   `server=u/s` if the other has that server, `user=u`, or a group of u;
//!   `group=g` and `service=s` only if the other has the very same filter.
//!
//! The result is not reduced further (a server under a surviving user stays
//! listed), matching upstream's output strings.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use crate::{FilterSet, Grant, Membership, ScopeSet};

/// Memoizes `groups_of` for one intersection or check.
pub(crate) struct GroupCache<'m> {
    membership: &'m dyn Membership,
    cache: RefCell<HashMap<String, BTreeSet<String>>>,
}

impl<'m> GroupCache<'m> {
    pub(crate) fn new(membership: &'m dyn Membership) -> Self {
        Self {
            membership,
            cache: RefCell::new(HashMap::new()),
        }
    }

    /// Whether `user` is in any of `groups`. No lookup when `groups` is empty.
    pub(crate) fn in_any(&self, user: &str, groups: &BTreeSet<String>) -> bool {
        if groups.is_empty() {
            return false;
        }
        let mut cache = self.cache.borrow_mut();
        let mine = cache
            .entry(user.to_owned())
            .or_insert_with(|| self.membership.groups_of(user).into_iter().collect());
        !mine.is_disjoint(groups)
    }
}

/// The owner part of a `user/server` filter value.
pub(crate) fn server_owner(server: &str) -> &str {
    server.split_once('/').map_or(server, |(user, _)| user)
}

impl ScopeSet {
    /// Scopes granted by both `self` and `other`, resolving user, server and
    /// group containment with `membership`.
    pub fn intersect(&self, other: &ScopeSet, membership: &dyn Membership) -> ScopeSet {
        let groups = GroupCache::new(membership);
        let mut out = ScopeSet::new();
        for (base, mine) in self.entries() {
            let Some(theirs) = other.grant(base) else {
                continue;
            };
            let grant = match (mine, theirs) {
                (Grant::All, g) | (g, Grant::All) => g.clone(),
                (Grant::Only(a), Grant::Only(b)) => Grant::Only(intersect_filters(a, b, &groups)),
            };
            out.insert_grant(base, grant);
        }
        out
    }
}

fn intersect_filters(a: &FilterSet, b: &FilterSet, groups: &GroupCache<'_>) -> FilterSet {
    let mut out = FilterSet::default();
    for (x, y) in [(a, b), (b, a)] {
        for user in x.users() {
            if y.users().contains(user) || groups.in_any(user, y.groups()) {
                out.of_mut(crate::FilterKind::User).insert(user.clone());
            }
        }
        for server in x.servers() {
            let owner = server_owner(server);
            if y.servers().contains(server)
                || y.users().contains(owner)
                || groups.in_any(owner, y.groups())
            {
                out.of_mut(crate::FilterKind::Server).insert(server.clone());
            }
        }
    }
    for kind in [crate::FilterKind::Group, crate::FilterKind::Service] {
        let common: BTreeSet<String> = a.of(kind).intersection(b.of(kind)).cloned().collect();
        *out.of_mut(kind) = common;
    }
    out
}
