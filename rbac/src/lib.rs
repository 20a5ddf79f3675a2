//! JupyterHub's RBAC scope algebra, as pure functions.
//!
//! **Boundary:** rbac never does IO and knows nothing of HTTP or Raft. It
//! turns scope strings, roles and the caller's view of the world (who owns a
//! token, which groups a user is in, supplied through [`Membership`]) into
//! decisions. The hub maps those decisions to status codes and messages;
//! the state machine stores raw scope strings and never calls in here.
//!
//! Behaviour follows upstream JupyterHub 6.x (`scopes.py`, `roles.py`,
//! `apihandlers/base.py`). The pieces:
//!
//! - [`Scope`] / [`Filter`]: one parsed scope string, [`ScopeRegistry`] the
//!   names that exist (built-in [`Builtin`] plus `custom:` scopes);
//! - [`expand`]: raw scopes → [`ScopeSet`] (subscopes, templates, `self`);
//! - [`ScopeSet::intersect`]: token ∩ owner, group-aware;
//! - [`check_access`], [`list_users`] & co: handler decisions, including
//!   upstream's 403-vs-404 rule;
//! - [`user_model_keys`] & co: which model keys a caller sees;
//! - [`token_scopes`], [`whoami`], [`resolve_requested_scopes`] and the
//!   OAuth helpers: the scopes tokens carry and get.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod access;
mod builtin;
mod error;
mod expand;
mod intersect;
mod list;
mod membership;
mod model;
mod registry;
mod resolve;
mod roles;
mod scope;
mod scope_set;
mod token;

pub use access::{check_access, AccessDecision, Resource, NOT_FOUND_MESSAGE};
pub use builtin::Builtin;
pub use error::{CustomScopeError, ExcessScopesError, RoleError, ScopeError};
pub use expand::{
    access_scopes, expand, identify_scopes, identify_templates, self_scopes, Client, ExpandContext,
    Owner, SELF_SCOPES,
};
pub use list::{list_groups, list_services, list_users, ListDenied, ListGrant};
pub use membership::{Membership, NoGroups};
pub use model::{
    can_read_server, can_read_server_state, group_model_keys, service_model_keys, user_model_keys,
    GroupKey, ServiceKey, UserKey, GROUP_KEYS, SERVICE_KEYS, USER_KEYS,
};
pub use registry::{CustomScope, ScopeRegistry};
pub use resolve::{
    oauth_check_client_scopes, oauth_default_scopes, oauth_grant_scopes, oauth_required_scopes,
    parse_oauth_scopes, resolve_requested_scopes, server_client_allowed_scopes,
    server_oauth_access_scopes, server_token_request, server_token_scopes, share_scopes, Resolved,
};
pub use roles::{
    default_role, default_roles, roles_to_scopes, validate_role, validate_role_name, Role,
};
pub use scope::{parse_scopes, Filter, FilterKind, Scope};
pub use scope_set::{FilterSet, Grant, ScopeSet};
pub use token::{check_token_scopes, token_scopes, whoami, Whoami};

#[cfg(test)]
mod tests;
