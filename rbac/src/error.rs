//! Typed errors. Messages follow upstream's wording where the hub shows them
//! to clients (e.g. a 400 for a bad token scope request).

/// A scope string that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The base scope is neither built-in nor a defined `custom:` scope.
    #[error("Scope '{0}' does not exist")]
    UnknownScope(String),
    /// `all` was the draft name of `inherit`; upstream gives this hint.
    #[error("Draft scope 'all' is now called 'inherit'")]
    DraftAll,
    /// The part after `!` is not one of the known filter forms.
    #[error("Scope filter '!{filter}' in scope '{scope}' does not exist")]
    UnknownFilter {
        /// The whole scope string.
        scope: String,
        /// The filter text after `!`.
        filter: String,
    },
    /// `!user=` with nothing after `=`.
    #[error("Empty string is not a valid filter: {0}")]
    EmptyFilterValue(String),
    /// `!server=` value without the `<user>/<server>` shape.
    #[error("Scope '{0}': a server filter must look like !server=<user>/<server>")]
    InvalidServerFilter(String),
    /// `self!user=x` and friends: metascopes take no filter.
    #[error("Metascope in '{0}' cannot carry a filter")]
    FilteredMetascope(String),
    /// A template filter (`!user`, `!server`, `!service`) where only expanded
    /// scopes are allowed.
    #[error("Scope '{0}' has an unresolved template filter")]
    UnresolvedTemplate(String),
    /// A share may only carry `!server=<owner>/<server>` of the shared server.
    #[error("!{filter} not allowed on sharing {scope}, only !{allowed}")]
    ShareFilter {
        /// The offending scope.
        scope: String,
        /// Its filter.
        filter: String,
        /// The only filter a share of that server may carry.
        allowed: String,
    },
}

/// A role definition that upstream would refuse to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// Role names: 3-255 chars of `[a-z0-9-_~.]`, starting with a letter and
    /// ending with a letter or digit.
    #[error(
        "Invalid role name: {0:?}. Role names must be 3-255 characters, contain only lowercase \
         ascii letters, numbers, and '-.~_', start with a letter and end with a letter or number"
    )]
    InvalidName(String),
    /// The `admin` role's description and scopes are fixed.
    #[error("Cannot override admin role admin.{field}")]
    AdminOverride {
        /// `description` or `scopes`.
        field: &'static str,
    },
    /// One of the role's scopes does not parse.
    #[error("role {role}: {source}")]
    Scope {
        /// Role name.
        role: String,
        /// The scope problem.
        #[source]
        source: ScopeError,
    },
}

/// A `custom_scopes` config entry that upstream would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomScopeError {
    /// Name must match `custom:[a-z0-9][a-z0-9_-*:]+[a-z0-9_*]`.
    #[error(
        "Invalid scope name: {0:?}. Custom scopes must start with `custom:` and contain only \
         lowercase ascii letters, numbers, hyphen, underscore, colon, and asterisk (-_:*). The \
         part after `custom:` must start with a letter or number. Scopes may not end with a \
         hyphen or colon."
    )]
    InvalidName(String),
    /// Custom scopes may only have custom subscopes.
    #[error("non-custom subscope {subscope} in {scope} is not allowed")]
    NonCustomSubscope {
        /// The custom scope.
        scope: String,
        /// The built-in subscope it names.
        subscope: String,
    },
    /// A subscope that is not defined in the same `custom_scopes` table.
    #[error("subscope {subscope} in {scope} not found. All scopes must be defined.")]
    UndefinedSubscope {
        /// The custom scope.
        scope: String,
        /// The missing subscope.
        subscope: String,
    },
}

/// Requested token scopes that exceed what the owner holds (upstream raises a
/// ValueError that the tokens endpoint turns into a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Not assigning requested scopes {} not held by {owner}", excess.join(","))]
pub struct ExcessScopesError {
    /// The expanded scopes the owner does not hold, sorted.
    pub excess: Vec<String>,
    /// `User alice` or `Service culler`.
    pub owner: String,
}
