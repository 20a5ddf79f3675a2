//! Expansion: raw scopes (as in roles and tokens) → a normalized
//! [`ScopeSet`], following upstream `expand_scopes`.
//!
//! Order matters and mirrors upstream:
//! 1. every scope is replaced by itself plus all its subscopes, each keeping
//!    the filter, except that a `!server…` filter is *not* applied to (and
//!    therefore drops) `read:user*` scopes: `read:servers!server=a/x` implies
//!    no `read:users:name` at all;
//! 2. templates are resolved (`!user` → owner user, `!service` → OAuth
//!    client's service or owning service, `!server` → OAuth client's server);
//!    a template with no target is dropped;
//! 3. `self` becomes [`self_scopes`] for a user owner, nothing otherwise;
//! 4. the result is reduced (unfiltered absorbs filtered).

use crate::{Builtin, Filter, FilterKind, Scope, ScopeRegistry, ScopeSet};

/// Who owns the scopes being expanded (a token's or role holder's owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// A user, by name.
    User(&'a str),
    /// A service, by name.
    Service(&'a str),
}

impl Owner<'_> {
    /// `User alice` / `Service culler`, as upstream names owners in messages.
    pub fn describe(&self) -> String {
        match self {
            Owner::User(n) => format!("User {n}"),
            Owner::Service(n) => format!("Service {n}"),
        }
    }
}

/// The OAuth client a token was issued through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client<'a> {
    /// The built-in `jupyterhub` client (API tokens, server tokens): it has
    /// no server or service, so `!server` templates have no target.
    Hub,
    /// The client of a single-user server.
    Server {
        /// Server owner.
        user: &'a str,
        /// Server name (`""` for the default server).
        server: &'a str,
    },
    /// The client of a service.
    Service(&'a str),
}

/// Owner and client used to resolve templates and `self`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpandContext<'a> {
    /// The owner, if any.
    pub owner: Option<Owner<'a>>,
    /// The OAuth client, if any.
    pub client: Option<Client<'a>>,
}

impl<'a> ExpandContext<'a> {
    /// No owner, no client: templates and `self` are dropped.
    pub fn none() -> Self {
        Self::default()
    }

    /// Scopes owned by `owner`, not issued through any client (roles).
    pub fn owner(owner: Owner<'a>) -> Self {
        Self {
            owner: Some(owner),
            client: None,
        }
    }

    /// Scopes of a token owned by `owner` and issued through `client`.
    pub fn token(owner: Owner<'a>, client: Client<'a>) -> Self {
        Self {
            owner: Some(owner),
            client: Some(client),
        }
    }

    /// The concrete filter a template stands for here, if any.
    fn resolve(&self, template: &Filter) -> Option<(FilterKind, String)> {
        match template {
            Filter::UserTemplate => match self.owner {
                Some(Owner::User(u)) => Some((FilterKind::User, u.to_owned())),
                _ => None,
            },
            Filter::ServiceTemplate => match (self.client, self.owner) {
                (Some(Client::Service(s)), _) | (_, Some(Owner::Service(s))) => {
                    Some((FilterKind::Service, s.to_owned()))
                }
                _ => None,
            },
            Filter::ServerTemplate => match self.client {
                Some(Client::Server { user, server }) => {
                    Some((FilterKind::Server, format!("{user}/{server}")))
                }
                _ => None,
            },
            concrete => concrete.value().map(|v| (concrete.kind(), v.to_owned())),
        }
    }
}

/// Expand raw scopes into a normalized [`ScopeSet`] (upstream
/// `expand_scopes`). `inherit` and `(no_scope)` stay as literal unfiltered
/// bases, as upstream; token handling deals with `inherit` before expanding.
pub fn expand<'s, I>(scopes: I, ctx: ExpandContext<'_>, registry: &ScopeRegistry) -> ScopeSet
where
    I: IntoIterator<Item = &'s Scope>,
{
    let mut out = ScopeSet::new();
    let mut wants_self = false;
    for scope in scopes {
        if scope.is(Builtin::SelfScope) {
            wants_self = true;
            continue;
        }
        let names = registry.closure(scope.base());
        match scope.filter() {
            None => names.into_iter().for_each(|n| out.insert_all(n)),
            Some(filter) => {
                let Some((kind, value)) = ctx.resolve(filter) else {
                    continue;
                };
                let server_filter = filter.kind() == FilterKind::Server;
                for name in names {
                    // Cross-resource subscopes (read:servers -> read:users:name)
                    // make no sense under a server filter: upstream drops them.
                    if server_filter && name.starts_with("read:user") {
                        continue;
                    }
                    out.insert_filter(name, kind, &value);
                }
            }
        }
    }
    if wants_self {
        if let Some(Owner::User(user)) = ctx.owner {
            out.extend_from(&self_scopes(user));
        }
    }
    out
}

/// The raw scopes behind the `self` metascope (JupyterHub 6.x).
pub const SELF_SCOPES: [Builtin; 7] = [
    Builtin::ReadUsers,
    Builtin::UsersShares,
    Builtin::ReadShares,
    Builtin::UsersActivity,
    Builtin::Servers,
    Builtin::Tokens,
    Builtin::AccessServers,
];

/// What `self` means for `user`: [`SELF_SCOPES`] fully expanded, each with
/// `!user=<user>`.
pub fn self_scopes(user: &str) -> ScopeSet {
    let registry = ScopeRegistry::builtin();
    let mut out = ScopeSet::new();
    for raw in SELF_SCOPES {
        for name in registry.closure(raw.as_str()) {
            out.insert_filter(name, FilterKind::User, user);
        }
    }
    out
}

/// The scopes needed to identify oneself (upstream `identify_scopes`):
/// `read:users:name` and `read:users:groups` on oneself for a user,
/// `read:services:name` for a service.
pub fn identify_scopes(owner: Owner<'_>) -> ScopeSet {
    let mut out = ScopeSet::new();
    match owner {
        Owner::User(u) => {
            out.insert_filter(Builtin::ReadUsersName.as_str(), FilterKind::User, u);
            out.insert_filter(Builtin::ReadUsersGroups.as_str(), FilterKind::User, u);
        }
        Owner::Service(s) => {
            out.insert_filter(Builtin::ReadServicesName.as_str(), FilterKind::Service, s);
        }
    }
    out
}

/// Identify scopes in raw template form (`read:users:name!user`,
/// `read:users:groups!user`), as the OAuth provider requests them before it
/// knows the user.
pub fn identify_templates() -> Vec<Scope> {
    vec![
        Scope::filtered(Builtin::ReadUsersName, Filter::UserTemplate),
        Scope::filtered(Builtin::ReadUsersGroups, Filter::UserTemplate),
    ]
}

/// The scope needed to use what an OAuth client fronts (upstream
/// `access_scopes`): `access:servers!server=<user>/<name>` or
/// `access:services!service=<name>`; nothing for the hub's own client.
pub fn access_scopes(client: Client<'_>) -> Vec<Scope> {
    match client {
        Client::Hub => Vec::new(),
        Client::Server { user, server } => vec![Scope::filtered(
            Builtin::AccessServers,
            Filter::server(user, server),
        )],
        Client::Service(s) => vec![Scope::filtered(
            Builtin::AccessServices,
            Filter::Service(s.to_owned()),
        )],
    }
}
