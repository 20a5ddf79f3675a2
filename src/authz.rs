//! Effective scopes of owners and tokens, computed from the replicated state with rbac and
//! cached until the state's authorization epoch changes.
//!
//! Upstream recomputes a token's scopes (token ∩ owner) on every request; so do we in effect:
//! a cached value is only used while no role, group, admin flag or service changed since it
//! was computed, so revoking a role takes effect with the next request on every replica.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rafthub_raft::state::model::{ClientKind, Owner as ModelOwner, ShareWith, Token};
use rafthub_raft::HubState;
use rafthub_rbac::{self as rbac, Client, ExpandContext, Owner, Scope, ScopeRegistry, ScopeSet};

/// Cached entries before the cache is simply cleared (bounded memory under token churn).
const CACHE_CAP: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Owner(ModelOwner),
    Token(u64),
}

pub struct Authz {
    pub registry: ScopeRegistry,
    cache: Mutex<HashMap<Key, (u64, Arc<ScopeSet>)>>,
}

/// Group membership as rbac asks for it, answered from the state.
pub fn membership(st: &HubState) -> impl rbac::Membership + '_ {
    move |user: &str| {
        st.user(user)
            .map(|u| st.user_group_names(u.id))
            .unwrap_or_default()
    }
}

/// The roles an owner holds: default ones implied by the model plus assigned ones.
pub fn owner_roles(st: &HubState, owner: &ModelOwner) -> Vec<String> {
    let mut roles = Vec::new();
    match owner {
        ModelOwner::User(id) => {
            let Some(u) = st.user_by_id(*id) else {
                return roles;
            };
            roles.push("user".to_string());
            if u.admin {
                roles.push("admin".to_string());
            }
            roles.extend(u.roles.iter().cloned());
            for gid in st.user_group_ids(*id) {
                if let Some(g) = st.group_by_id(gid) {
                    roles.extend(g.roles.iter().cloned());
                }
            }
        }
        ModelOwner::Service(name) => {
            let Some(s) = st.service(name) else {
                return roles;
            };
            if s.admin {
                roles.push("admin".to_string());
            }
            roles.extend(s.roles.iter().cloned());
        }
    }
    roles.sort();
    roles.dedup();
    roles
}

impl Authz {
    pub fn new(registry: ScopeRegistry) -> Authz {
        Authz {
            registry,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, st: &HubState, key: Key, compute: impl FnOnce() -> ScopeSet) -> Arc<ScopeSet> {
        let epoch = st.authz_epoch();
        if let Some((e, v)) = self.cache.lock().get(&key) {
            if *e == epoch {
                return v.clone();
            }
        }
        let v = Arc::new(compute());
        let mut c = self.cache.lock();
        if c.len() >= CACHE_CAP {
            c.clear();
        }
        c.insert(key, (epoch, v.clone()));
        v
    }

    /// Raw scopes of a role: config roles first, then the built-in defaults.
    fn role_scopes(&self, st: &HubState, name: &str) -> Vec<String> {
        if let Some(r) = st.role(name) {
            return r.scopes.clone();
        }
        rbac::default_role(name)
            .map(|r| r.scopes)
            .unwrap_or_default()
    }

    fn parse(&self, raw: &[String]) -> Vec<Scope> {
        raw.iter()
            .filter_map(|s| match Scope::parse(s, &self.registry) {
                Ok(sc) => Some(sc),
                Err(e) => {
                    tracing::warn!(scope = %s, error = %e, "ignoring an invalid scope");
                    None
                }
            })
            .collect()
    }

    /// An owner's expanded scopes from its roles and its groups' roles.
    pub fn owner_scopes(&self, st: &HubState, owner: &ModelOwner) -> Arc<ScopeSet> {
        self.cached(st, Key::Owner(owner.clone()), || {
            let mut raw: Vec<String> = owner_roles(st, owner)
                .iter()
                .flat_map(|r| self.role_scopes(st, r))
                .collect();
            if let ModelOwner::User(id) = owner {
                raw.extend(shared_scopes(st, *id));
            }
            let parsed = self.parse(&raw);
            match owner_name(st, owner) {
                Some(NamedOwner::User(n)) => rbac::expand(
                    &parsed,
                    ExpandContext::owner(Owner::User(&n)),
                    &self.registry,
                ),
                Some(NamedOwner::Service(n)) => rbac::expand(
                    &parsed,
                    ExpandContext::owner(Owner::Service(&n)),
                    &self.registry,
                ),
                None => ScopeSet::new(),
            }
        })
    }

    /// A token's effective scopes: its own, expanded for owner and client, ∩ the owner's.
    pub fn token_scopes(&self, st: &HubState, tok: &Token) -> Arc<ScopeSet> {
        self.cached(st, Key::Token(tok.id), || {
            let owner_scopes = self.owner_scopes(st, &tok.owner);
            let raw = self.parse(&tok.scopes);
            let kind = st
                .oauth_client(&tok.client_id)
                .map(|c| c.kind.clone())
                .unwrap_or_default();
            let client = match &kind {
                ClientKind::Hub => Client::Hub,
                ClientKind::Server { user, server } => Client::Server { user, server },
                ClientKind::Service(s) => Client::Service(s),
            };
            let m = membership(st);
            match owner_name(st, &tok.owner) {
                Some(NamedOwner::User(n)) => rbac::token_scopes(
                    &raw,
                    Owner::User(&n),
                    client,
                    &owner_scopes,
                    &m,
                    &self.registry,
                ),
                Some(NamedOwner::Service(n)) => rbac::token_scopes(
                    &raw,
                    Owner::Service(&n),
                    client,
                    &owner_scopes,
                    &m,
                    &self.registry,
                ),
                None => ScopeSet::new(),
            }
        })
    }
}

/// The scopes servers shared with a user grant it, directly or through its groups, each
/// filtered to its server (`access:servers!server=alice/`).
///
/// Upstream folds both into the scopes of a browser session, but for token requests only the
/// direct user shares, unexpanded; so there a group share's `access:servers` is discarded from
/// the OAuth token a single-user server checks, and access through a group share fails. Here
/// an owner's scopes are the same whatever authenticates it, and a token still gets only what
/// it asked for (token ∩ owner).
pub fn shared_scopes(st: &HubState, user_id: u64) -> Vec<String> {
    let withs = std::iter::once(ShareWith::User(user_id))
        .chain(st.user_group_ids(user_id).map(ShareWith::Group));
    let mut out = Vec::new();
    for with in withs {
        for (owner_id, server) in st.servers_shared_with(with) {
            let Some(owner) = st.user_by_id(owner_id) else {
                continue;
            };
            for share in st.shares_of(owner_id, server) {
                if share.with == with {
                    out.extend(
                        share
                            .scopes
                            .iter()
                            .map(|base| format!("{base}!server={}/{server}", owner.name)),
                    );
                }
            }
        }
    }
    out
}

enum NamedOwner {
    User(String),
    Service(String),
}

fn owner_name(st: &HubState, owner: &ModelOwner) -> Option<NamedOwner> {
    match owner {
        ModelOwner::User(id) => st.user_by_id(*id).map(|u| NamedOwner::User(u.name.clone())),
        ModelOwner::Service(n) => st.service(n).map(|s| NamedOwner::Service(s.name.clone())),
    }
}
