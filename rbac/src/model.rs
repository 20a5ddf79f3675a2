//! Which keys of the user, group and service models a caller may see
//! (upstream `APIHandler.user_model` / `group_model` / `service_model`).
//!
//! Each scope unlocks a fixed set of keys when its filter covers the entity;
//! the visible keys are the union. A model with no visible key is `{}`.

use std::collections::BTreeSet;

use crate::{Builtin, Membership, Resource, ScopeSet};

macro_rules! model_keys {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $(
                #[doc = concat!("`", $text, "`")]
                $variant,
            )*
        }

        impl $name {
            /// The JSON key.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }
        }
    };
}

model_keys!(
    /// A key of the user model.
    UserKey {
        Kind = "kind", Name = "name", UserInfo = "user_info", Admin = "admin", Roles = "roles",
        Groups = "groups", Server = "server", Pending = "pending", Created = "created",
        LastActivity = "last_activity", Servers = "servers", AuthState = "auth_state",
    }
);

model_keys!(
    /// A key of the group model.
    GroupKey { Kind = "kind", Name = "name", Roles = "roles", Users = "users", Properties = "properties" }
);

model_keys!(
    /// A key of the service model.
    ServiceKey {
        Kind = "kind", Name = "name", Roles = "roles", Admin = "admin", Url = "url",
        Prefix = "prefix", Command = "command", Pid = "pid", Info = "info", Display = "display",
    }
);

/// Scope → user model keys (contract §1.4).
pub const USER_KEYS: &[(Builtin, &[UserKey])] = {
    use UserKey::*;
    &[
        (
            Builtin::ReadUsers,
            &[
                Kind,
                Name,
                UserInfo,
                Admin,
                Roles,
                Groups,
                Server,
                Pending,
                Created,
                LastActivity,
            ],
        ),
        (Builtin::ReadUsersName, &[Kind, Name, UserInfo, Admin]),
        (Builtin::ReadUsersGroups, &[Kind, Name, Groups]),
        (Builtin::ReadUsersActivity, &[Kind, Name, LastActivity]),
        (Builtin::ReadServers, &[Kind, Name, Servers]),
        (Builtin::ReadRolesUsers, &[Kind, Name, Roles, Admin]),
        (Builtin::AdminAuthState, &[Kind, Name, AuthState]),
    ]
};

/// Scope → group model keys.
pub const GROUP_KEYS: &[(Builtin, &[GroupKey])] = {
    use GroupKey::*;
    &[
        (Builtin::ReadGroups, &[Kind, Name, Properties, Users]),
        (Builtin::ReadGroupsName, &[Kind, Name]),
        (Builtin::ReadRolesGroups, &[Kind, Name, Roles]),
    ]
};

/// Scope → service model keys.
pub const SERVICE_KEYS: &[(Builtin, &[ServiceKey])] = {
    use ServiceKey::*;
    &[
        (
            Builtin::ReadServices,
            &[Kind, Name, Admin, Url, Prefix, Command, Pid, Info, Display],
        ),
        (Builtin::ReadServicesName, &[Kind, Name, Admin]),
        (Builtin::ReadRolesServices, &[Kind, Name, Roles, Admin]),
    ]
};

fn visible<K: Ord + Copy>(
    table: &[(Builtin, &[K])],
    scopes: &ScopeSet,
    resource: Resource<'_>,
    membership: &dyn Membership,
) -> BTreeSet<K> {
    table
        .iter()
        .filter(|(scope, _)| scopes.grants(scope.as_str(), resource, membership))
        .flat_map(|(_, keys)| keys.iter().copied())
        .collect()
}

/// Visible keys of `user`'s model.
///
/// The hub then builds `servers` from the servers for which
/// [`can_read_server`] holds; upstream shows the `servers` key when
/// [`UserKey::Servers`] is visible *or* that map is non-empty (and only if
/// some other key is visible at all), and fills `pending` only when
/// [`UserKey::Pending`] is visible.
pub fn user_model_keys(
    scopes: &ScopeSet,
    user: &str,
    membership: &dyn Membership,
) -> BTreeSet<UserKey> {
    visible(USER_KEYS, scopes, Resource::User(user), membership)
}

/// Visible keys of a group's model.
pub fn group_model_keys(scopes: &ScopeSet, group: &str) -> BTreeSet<GroupKey> {
    visible(GROUP_KEYS, scopes, Resource::Group(group), &crate::NoGroups)
}

/// Visible keys of a service's model.
pub fn service_model_keys(scopes: &ScopeSet, service: &str) -> BTreeSet<ServiceKey> {
    visible(
        SERVICE_KEYS,
        scopes,
        Resource::Service(service),
        &crate::NoGroups,
    )
}

/// Whether a server appears in its owner's `servers` map (`read:servers`).
pub fn can_read_server(
    scopes: &ScopeSet,
    user: &str,
    server: &str,
    membership: &dyn Membership,
) -> bool {
    scopes.grants(
        Builtin::ReadServers.as_str(),
        Resource::Server { user, server },
        membership,
    )
}

/// Whether a server model carries `state` (`admin:server_state`).
pub fn can_read_server_state(
    scopes: &ScopeSet,
    user: &str,
    server: &str,
    membership: &dyn Membership,
) -> bool {
    scopes.grants(
        Builtin::AdminServerState.as_str(),
        Resource::Server { user, server },
        membership,
    )
}
