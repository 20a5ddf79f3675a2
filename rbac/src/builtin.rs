//! The built-in scope table (upstream `scope_definitions`, JupyterHub 6.x).
//!
//! One macro invocation defines every built-in scope once: its wire name, its
//! human description (shown on the OAuth confirmation page) and its *direct*
//! subscopes. Everything else (recursive expansion, validation) derives from
//! this table, so adding a scope upstream means adding one line here.

macro_rules! builtin_scopes {
    ($( $variant:ident = $name:literal, $desc:literal, [$($sub:ident),*]; )*) => {
        /// A scope defined by JupyterHub itself (as opposed to `custom:` scopes).
        ///
        /// Handlers name the scopes they require with this enum, so a typo in a
        /// required scope is a compile error rather than a silent 403.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Builtin {
            $(
                #[doc = $desc]
                $variant,
            )*
        }

        impl Builtin {
            /// Every built-in scope, in upstream's definition order.
            pub const ALL: &'static [Builtin] = &[$(Builtin::$variant,)*];

            /// The scope name as it appears on the wire (`read:users:name`).
            pub const fn as_str(self) -> &'static str {
                match self { $(Builtin::$variant => $name,)* }
            }

            /// Human-readable description (upstream `description`).
            pub const fn description(self) -> &'static str {
                match self { $(Builtin::$variant => $desc,)* }
            }

            /// Direct subscopes (one level; see [`crate::ScopeRegistry::closure`]
            /// for the recursive expansion).
            pub const fn subscopes(self) -> &'static [Builtin] {
                match self { $(Builtin::$variant => &[$(Builtin::$sub),*],)* }
            }

            /// Look a built-in scope up by its wire name.
            pub fn from_name(name: &str) -> Option<Builtin> {
                match name {
                    $($name => Some(Builtin::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

builtin_scopes! {
    NoScope = "(no_scope)", "Identify the owner of the requesting entity.", [];
    SelfScope = "self", "Your own resources (metascope for users).", [];
    Inherit = "inherit", "Anything you have access to (metascope for tokens).", [];
    AdminUi = "admin-ui", "Access the admin page.", [];
    AdminUsers = "admin:users",
        "Read, modify, create, and delete users and their authentication state, not including their servers or tokens.",
        [AdminAuthState, Users, ReadRolesUsers, DeleteUsers];
    AdminAuthState = "admin:auth_state", "Read a user's authentication state.", [];
    Users = "users",
        "Read and write permissions to user models (excluding servers, tokens and authentication state).",
        [ReadUsers, ListUsers, UsersActivity];
    DeleteUsers = "delete:users", "Delete users.", [];
    ListUsers = "list:users", "List users, including at least their names.", [ReadUsersName];
    ReadUsers = "read:users",
        "Read user models (including the URL of the default server if it is running).",
        [ReadUsersName, ReadUsersGroups, ReadUsersActivity];
    ReadUsersName = "read:users:name", "Read names of users.", [];
    ReadUsersGroups = "read:users:groups", "Read users' group membership.", [];
    ReadUsersActivity = "read:users:activity", "Read time of last user activity.", [];
    ReadRoles = "read:roles", "Read role assignments.",
        [ReadRolesUsers, ReadRolesServices, ReadRolesGroups];
    ReadRolesUsers = "read:roles:users", "Read user role assignments.", [];
    ReadRolesServices = "read:roles:services", "Read service role assignments.", [];
    ReadRolesGroups = "read:roles:groups", "Read group role assignments.", [];
    UsersActivity = "users:activity", "Update time of last user activity.", [ReadUsersActivity];
    AdminServers = "admin:servers",
        "Read, start, stop, create and delete user servers and their state.",
        [AdminServerState, Servers];
    AdminServerState = "admin:server_state", "Read and write users' server state.", [];
    Servers = "servers", "Start and stop user servers.", [ReadServers, StartServers, DeleteServers];
    ReadServers = "read:servers",
        "Read users' names and their server models (excluding the server state).",
        [ReadUsersName];
    StartServers = "start:servers", "Start and edit users' servers. (added in JupyterHub 6)", [];
    DeleteServers = "delete:servers", "Stop and delete users' servers.", [];
    Tokens = "tokens", "Read, write, create and delete user tokens.", [ReadTokens];
    ReadTokens = "read:tokens", "Read user tokens.", [];
    AdminGroups = "admin:groups", "Read and write group information, create and delete groups.",
        [Groups, ReadRolesGroups, DeleteGroups];
    Groups = "groups",
        "Read and write group information, including adding/removing any users to/from groups.",
        [ReadGroups, ListGroups];
    ListGroups = "list:groups", "List groups, including at least their names.", [ReadGroupsName];
    ReadGroups = "read:groups", "Read group models.", [ReadGroupsName];
    ReadGroupsName = "read:groups:name", "Read group names.", [];
    DeleteGroups = "delete:groups", "Delete groups.", [];
    AdminServices = "admin:services",
        "Create, read, update, delete services, not including services defined from config files.",
        [ListServices, ReadServices, ReadRolesServices];
    ListServices = "list:services", "List services, including at least their names.", [ReadServicesName];
    ReadServices = "read:services", "Read service models.", [ReadServicesName];
    ReadServicesName = "read:services:name", "Read service names.", [];
    ReadHub = "read:hub", "Read detailed information about the Hub.", [];
    AccessServers = "access:servers", "Access user servers via API or browser.", [];
    AccessServices = "access:services", "Access services via API or browser.", [];
    UsersShares = "users:shares", "Read and revoke a user's access to shared servers.", [ReadUsersShares];
    ReadUsersShares = "read:users:shares", "Read servers shared with a user.", [];
    GroupsShares = "groups:shares", "Read and revoke a group's access to shared servers.", [ReadGroupsShares];
    ReadGroupsShares = "read:groups:shares", "Read servers shared with a group.", [];
    ReadShares = "read:shares", "Read information about shared access to servers.", [];
    Shares = "shares", "Manage access to shared servers.",
        [AccessServers, ReadShares, UsersShares, GroupsShares];
    Proxy = "proxy",
        "Read information about the proxy's routing table, sync the Hub with the proxy and notify the Hub about a new proxy.",
        [];
    Shutdown = "shutdown", "Shutdown the hub.", [];
    ReadMetrics = "read:metrics", "Read prometheus metrics.", [];
}

impl Builtin {
    /// Metascopes are placeholders (`self`, `inherit`, `(no_scope)`) that
    /// never take a filter; `self` and `inherit` are resolved by expansion.
    pub const fn is_metascope(self) -> bool {
        matches!(
            self,
            Builtin::NoScope | Builtin::SelfScope | Builtin::Inherit
        )
    }
}

impl std::fmt::Display for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
