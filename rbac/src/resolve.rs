//! Deciding which *raw* scopes a new token gets: server tokens at spawn time
//! and OAuth tokens at authorization time (upstream
//! `_resolve_requested_scopes` and its callers).
//!
//! Resolution keeps a requested raw scope as-is when it is fully covered (so
//! `read:servers!server` stays a template in the stored token) and falls back
//! to the covered expanded part when it is only partly covered.

use std::collections::BTreeSet;

use crate::{
    access_scopes, expand, identify_templates, Builtin, Client, ExpandContext, Filter, Membership,
    Owner, Scope, ScopeRegistry, ScopeSet,
};

/// Result of [`resolve_requested_scopes`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Granted scopes: requested raw scopes, plus expanded scopes for the
    /// granted part of partly covered requests.
    pub allowed: BTreeSet<Scope>,
    /// Requested raw scopes not (fully) granted.
    pub disallowed: BTreeSet<Scope>,
}

/// Intersect `requested` with `have`, first literally on raw scopes, then on
/// the expansion of each leftover scope.
pub fn resolve_requested_scopes(
    requested: &BTreeSet<Scope>,
    have: &BTreeSet<Scope>,
    ctx: ExpandContext<'_>,
    membership: &dyn Membership,
    registry: &ScopeRegistry,
) -> Resolved {
    let mut allowed: BTreeSet<Scope> = requested.intersection(have).cloned().collect();
    let mut disallowed: BTreeSet<Scope> = requested.difference(have).cloned().collect();
    if disallowed.is_empty() {
        return Resolved {
            allowed,
            disallowed,
        };
    }
    let mut expanded_allowed = expand(&allowed, ctx, registry);
    let expanded_have = expand(have, ctx, registry);
    for scope in disallowed.clone() {
        let wanted = expand([&scope], ctx, registry).difference(&expanded_allowed);
        let granted = if wanted.is_empty() {
            ScopeSet::new()
        } else {
            wanted.intersect(&expanded_have, membership)
        };
        if granted == wanted {
            allowed.insert(scope.clone());
            disallowed.remove(&scope);
        } else if !granted.is_empty() {
            allowed.extend(granted.iter());
        } else {
            continue;
        }
        expanded_allowed = expand(&allowed, ctx, registry);
    }
    Resolved {
        allowed,
        disallowed,
    }
}

/// The scopes a server token asks for (upstream `User.spawn`): the
/// configured `server_token_scopes` or else the `server` role, with
/// `!server` resolved to this server (the token's client is the hub, which
/// could not resolve it later), and `users:activity!user` added when
/// activity would otherwise not be allowed.
pub fn server_token_request(configured: &[Scope], user: &str, server: &str) -> BTreeSet<Scope> {
    let defaults;
    let configured = if configured.is_empty() {
        defaults = vec![
            Scope::filtered(Builtin::UsersActivity, Filter::UserTemplate),
            Scope::filtered(Builtin::AccessServers, Filter::ServerTemplate),
        ];
        &defaults[..]
    } else {
        configured
    };
    let mut out: BTreeSet<Scope> = configured
        .iter()
        .map(|s| match s.filter() {
            Some(Filter::ServerTemplate) => {
                Scope::from_parts(s.base(), Some(Filter::server(user, server)))
            }
            _ => s.clone(),
        })
        .collect();
    let activity = Scope::filtered(Builtin::UsersActivity, Filter::UserTemplate);
    let covered = out.contains(&activity)
        || out
            .iter()
            .any(|s| s.is(Builtin::UsersActivity) || s.is(Builtin::Inherit));
    if !covered {
        out.insert(activity);
    }
    out
}

/// The raw scopes stored on a new server token: [`server_token_request`]
/// resolved against the user's raw role scopes (plus `inherit`).
pub fn server_token_scopes(
    configured: &[Scope],
    user: &str,
    server: &str,
    user_role_scopes: &BTreeSet<Scope>,
    membership: &dyn Membership,
    registry: &ScopeRegistry,
) -> BTreeSet<Scope> {
    let requested = server_token_request(configured, user, server);
    let mut have = user_role_scopes.clone();
    have.insert(Scope::builtin(Builtin::Inherit));
    let ctx = ExpandContext::token(Owner::User(user), Client::Hub);
    resolve_requested_scopes(&requested, &have, ctx, membership, registry).allowed
}

/// Scopes every OAuth token of `client` gets: the identify templates and the
/// client's access scope.
pub fn oauth_required_scopes(client: Client<'_>) -> BTreeSet<Scope> {
    identify_templates()
        .into_iter()
        .chain(access_scopes(client))
        .collect()
}

/// Parse the `scope` request parameter, ignoring the deprecated `identify`.
/// An error means "not scopes"; upstream then tries the names as roles.
pub fn parse_oauth_scopes(
    raw: &[&str],
    registry: &ScopeRegistry,
) -> Result<BTreeSet<Scope>, crate::ScopeError> {
    raw.iter()
        .filter(|s| **s != "identify")
        .map(|s| Scope::parse(s, registry))
        .collect()
}

/// Scopes used when the authorize request names none: the client's allowed
/// scopes plus, unless those include `inherit`, the required ones.
pub fn oauth_default_scopes(client_allowed: &[Scope], client: Client<'_>) -> BTreeSet<Scope> {
    let mut out: BTreeSet<Scope> = client_allowed.iter().cloned().collect();
    if !out.iter().any(|s| s.is(Builtin::Inherit)) {
        out.extend(oauth_required_scopes(client));
    }
    out
}

/// Provider-side check: the request plus the required scopes must fit in
/// what the client may ask for. `Ok` carries the requested set to continue
/// with; `Err` the offending scopes (upstream rejects the whole request).
pub fn oauth_check_client_scopes(
    requested: &BTreeSet<Scope>,
    client_allowed: &[Scope],
    user: &str,
    client: Client<'_>,
    membership: &dyn Membership,
    registry: &ScopeRegistry,
) -> Result<BTreeSet<Scope>, BTreeSet<Scope>> {
    let required = oauth_required_scopes(client);
    let requested: BTreeSet<Scope> = requested.union(&required).cloned().collect();
    let mut allowed: BTreeSet<Scope> = client_allowed.iter().cloned().collect();
    allowed.extend(required);
    let ctx = ExpandContext::token(Owner::User(user), client);
    let resolved = resolve_requested_scopes(&requested, &allowed, ctx, membership, registry);
    if resolved.disallowed.is_empty() {
        Ok(requested)
    } else {
        Err(resolved.disallowed)
    }
}

/// Authorization-side step: keep what the user may grant. `have` is the
/// user's raw role scopes plus `inherit` and the required scopes; partial
/// grants are allowed (the disallowed part is only logged upstream).
pub fn oauth_grant_scopes(
    requested: &BTreeSet<Scope>,
    user_role_scopes: &BTreeSet<Scope>,
    user: &str,
    client: Client<'_>,
    membership: &dyn Membership,
    registry: &ScopeRegistry,
) -> Resolved {
    let mut have = user_role_scopes.clone();
    have.insert(Scope::builtin(Builtin::Inherit));
    have.extend(oauth_required_scopes(client));
    let ctx = ExpandContext::token(Owner::User(user), client);
    resolve_requested_scopes(requested, &have, ctx, membership, registry)
}

/// `allowed_scopes` registered for a server's OAuth client: the configured
/// extra scopes plus access to the server, as sorted strings.
pub fn server_client_allowed_scopes(extra: &[Scope], user: &str, server: &str) -> Vec<String> {
    let access = access_scopes(Client::Server { user, server });
    let all: BTreeSet<String> = extra.iter().chain(&access).map(|s| s.to_string()).collect();
    all.into_iter().collect()
}

/// `JUPYTERHUB_OAUTH_ACCESS_SCOPES` for a server: singleuser accepts a
/// browser token whose whoami `scopes` contain either string.
pub fn server_oauth_access_scopes(user: &str, server: &str) -> [String; 2] {
    [
        format!("access:servers!server={user}/{server}"),
        format!("access:servers!user={user}"),
    ]
}

/// Scopes of a share of `owner/server` (upstream `Share._apply_filter`):
/// each scope gets `!server=<owner>/<server>`; any other filter is an error.
pub fn share_scopes(
    requested: &[Scope],
    owner: &str,
    server: &str,
) -> Result<BTreeSet<Scope>, crate::ScopeError> {
    let filter = Filter::server(owner, server);
    requested
        .iter()
        .map(|s| match s.filter() {
            _ if Builtin::from_name(s.base()).is_some_and(Builtin::is_metascope) => {
                Err(crate::ScopeError::FilteredMetascope(s.to_string()))
            }
            Some(f) if *f != filter => Err(crate::ScopeError::ShareFilter {
                scope: s.to_string(),
                filter: f.to_string(),
                allowed: filter.to_string(),
            }),
            _ => Ok(Scope::from_parts(s.base(), Some(filter.clone()))),
        })
        .collect()
}
