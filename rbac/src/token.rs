//! The scopes a request actually carries: token scopes (recomputed on every
//! request against the owner's current scopes), the whoami view, and the
//! checks made when a token is created.

use crate::{
    access_scopes, expand, identify_scopes, Builtin, Client, ExcessScopesError, ExpandContext,
    Membership, Owner, Scope, ScopeRegistry, ScopeSet,
};

/// The effective scopes of a token (upstream `get_scopes_for(token)`).
///
/// - a token holding `inherit` has exactly its owner's scopes;
/// - otherwise: expand the token's raw scopes for its owner and client, add
///   the client's access scope (OAuth tokens, i.e. any client but
///   [`Client::Hub`]) and the owner's identify scopes, then intersect with
///   `owner_scopes` (roles, group roles and shares, already expanded).
///
/// Because the intersection happens here, a scope the owner lost is gone
/// from every token at once; identify scopes the owner lacks are dropped too.
pub fn token_scopes(
    raw: &[Scope],
    owner: Owner<'_>,
    client: Client<'_>,
    owner_scopes: &ScopeSet,
    membership: &dyn Membership,
    registry: &ScopeRegistry,
) -> ScopeSet {
    if raw.iter().any(|s| s.is(Builtin::Inherit)) {
        return owner_scopes.clone();
    }
    let mut scopes = expand(raw, ExpandContext::token(owner, client), registry);
    for access in access_scopes(client) {
        scopes
            .insert(&access)
            .expect("access scopes carry concrete filters");
    }
    scopes.extend_from(&identify_scopes(owner));
    scopes.intersect(owner_scopes, membership)
}

/// What `GET /hub/api/user` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whoami {
    /// Scopes to filter the caller's own model with: the held scopes plus
    /// the identify scopes, so anyone can read their own name and groups.
    pub model_scopes: ScopeSet,
    /// The `scopes` field: the held scopes only, sorted.
    pub scopes: Vec<String>,
}

/// Whoami for a caller holding `held` (its token's or cookie's effective
/// scopes). Identify scopes added just for this request are *not* listed
/// unless actually held; token scopes from [`token_scopes`] already include
/// them whenever the owner has them.
pub fn whoami(held: &ScopeSet, me: Owner<'_>) -> Whoami {
    Whoami {
        model_scopes: held.union(&identify_scopes(me)),
        scopes: held.to_strings_sorted(),
    }
}

/// Check scopes requested for a new token (upstream `_check_token_scopes`):
/// every expanded scope must be held by the owner. `inherit` is always
/// allowed.
pub fn check_token_scopes(
    requested: &[Scope],
    owner: Owner<'_>,
    client: Option<Client<'_>>,
    owner_scopes: &ScopeSet,
    membership: &dyn Membership,
    registry: &ScopeRegistry,
) -> Result<(), ExcessScopesError> {
    let rest: Vec<Scope> = requested
        .iter()
        .filter(|s| !s.is(Builtin::Inherit))
        .cloned()
        .collect();
    let ctx = ExpandContext {
        owner: Some(owner),
        client,
    };
    let wanted = expand(&rest, ctx, registry);
    if wanted.is_empty() {
        return Ok(());
    }
    let excess = wanted.difference(&wanted.intersect(owner_scopes, membership));
    if excess.is_empty() {
        Ok(())
    } else {
        Err(ExcessScopesError {
            excess: excess.to_strings_sorted(),
            owner: owner.describe(),
        })
    }
}
