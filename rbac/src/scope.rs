//! One scope string, parsed: a base name plus an optional `!filter`.
//!
//! Parsing is strict where upstream is lax in ways that only ever hide
//! mistakes (an empty filter value, a server filter without `/`, a filter on
//! a metascope): those are rejected when the config or request is read,
//! instead of failing later at request time.

use std::fmt;

use crate::{Builtin, ScopeError, ScopeRegistry};

/// The four kinds of resources a filter can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FilterKind {
    /// `!user=<name>`.
    User,
    /// `!server=<user>/<server>`.
    Server,
    /// `!group=<name>`.
    Group,
    /// `!service=<name>`.
    Service,
}

impl FilterKind {
    /// The filter key on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            FilterKind::User => "user",
            FilterKind::Server => "server",
            FilterKind::Group => "group",
            FilterKind::Service => "service",
        }
    }
}

/// The part of a scope after `!`.
///
/// Templates (`!user`, `!server`, `!service`) are placeholders that
/// [`crate::expand`] resolves against the token owner or OAuth client; there
/// is no `!group` template upstream.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Filter {
    /// `!user=<name>`.
    User(String),
    /// `!server=<user>/<server>`; the default server is `<user>/`.
    Server(String),
    /// `!group=<name>`.
    Group(String),
    /// `!service=<name>`.
    Service(String),
    /// Bare `!user`: the owning user.
    UserTemplate,
    /// Bare `!server`: the OAuth client's server.
    ServerTemplate,
    /// Bare `!service`: the owning service or the OAuth client's service.
    ServiceTemplate,
}

impl Filter {
    /// `!server=<user>/<server>` for the default (`""`) or a named server.
    pub fn server(user: &str, server: &str) -> Self {
        Filter::Server(format!("{user}/{server}"))
    }

    /// The resource kind this filter is about.
    pub fn kind(&self) -> FilterKind {
        match self {
            Filter::User(_) | Filter::UserTemplate => FilterKind::User,
            Filter::Server(_) | Filter::ServerTemplate => FilterKind::Server,
            Filter::Group(_) => FilterKind::Group,
            Filter::Service(_) | Filter::ServiceTemplate => FilterKind::Service,
        }
    }

    /// The concrete value, or `None` for a template.
    pub fn value(&self) -> Option<&str> {
        match self {
            Filter::User(v) | Filter::Server(v) | Filter::Group(v) | Filter::Service(v) => Some(v),
            _ => None,
        }
    }

    /// Whether this is a bare template that still needs resolving.
    pub fn is_template(&self) -> bool {
        self.value().is_none()
    }

    fn parse(scope: &str, text: &str) -> Result<Self, ScopeError> {
        let unknown = || ScopeError::UnknownFilter {
            scope: scope.to_owned(),
            filter: text.to_owned(),
        };
        let Some((key, value)) = text.split_once('=') else {
            return match text {
                "user" => Ok(Filter::UserTemplate),
                "server" => Ok(Filter::ServerTemplate),
                "service" => Ok(Filter::ServiceTemplate),
                _ => Err(unknown()),
            };
        };
        if !matches!(key, "user" | "server" | "group" | "service") {
            return Err(unknown());
        }
        if value.is_empty() {
            return Err(ScopeError::EmptyFilterValue(scope.to_owned()));
        }
        let value = value.to_owned();
        Ok(match key {
            "user" => Filter::User(value),
            "group" => Filter::Group(value),
            "service" => Filter::Service(value),
            _ => match value.split_once('/') {
                Some((user, _)) if !user.is_empty() => Filter::Server(value),
                _ => return Err(ScopeError::InvalidServerFilter(scope.to_owned())),
            },
        })
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.value() {
            Some(v) => write!(f, "{}={v}", self.kind().as_str()),
            None => f.write_str(self.kind().as_str()),
        }
    }
}

/// A parsed scope: `base[!filter]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    base: String,
    filter: Option<Filter>,
}

impl Scope {
    /// Parse and validate one scope string against `registry` (upstream
    /// `_check_scopes_exist` plus `parse_scopes`' empty-value check).
    pub fn parse(text: &str, registry: &ScopeRegistry) -> Result<Self, ScopeError> {
        let (base, filter) = match text.split_once('!') {
            Some((base, filter)) => (base, Some(filter)),
            None => (text, None),
        };
        if !registry.is_defined(base) {
            if base == "all" {
                return Err(ScopeError::DraftAll);
            }
            return Err(ScopeError::UnknownScope(text.to_owned()));
        }
        let filter = match filter {
            None => None,
            Some(f) => {
                if Builtin::from_name(base).is_some_and(Builtin::is_metascope) {
                    return Err(ScopeError::FilteredMetascope(text.to_owned()));
                }
                Some(Filter::parse(text, f)?)
            }
        };
        Ok(Self {
            base: base.to_owned(),
            filter,
        })
    }

    /// An unfiltered built-in scope.
    pub fn builtin(base: Builtin) -> Self {
        Self {
            base: base.as_str().to_owned(),
            filter: None,
        }
    }

    /// A filtered built-in scope. Metascopes never carry filters, so passing
    /// one here is a programming error.
    pub fn filtered(base: Builtin, filter: Filter) -> Self {
        debug_assert!(!base.is_metascope(), "metascope {base} cannot be filtered");
        Self {
            base: base.as_str().to_owned(),
            filter: Some(filter),
        }
    }

    /// Build from parts that are already known to be valid (crate-internal).
    pub(crate) fn from_parts(base: &str, filter: Option<Filter>) -> Self {
        Self {
            base: base.to_owned(),
            filter,
        }
    }

    /// The base scope name.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The filter, if any.
    pub fn filter(&self) -> Option<&Filter> {
        self.filter.as_ref()
    }

    /// Whether this is the given built-in scope without a filter.
    pub fn is(&self, base: Builtin) -> bool {
        self.filter.is_none() && self.base == base.as_str()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.filter {
            Some(filter) => write!(f, "{}!{filter}", self.base),
            None => f.write_str(&self.base),
        }
    }
}

/// Parse many scope strings, stopping at the first error.
pub fn parse_scopes<I, S>(texts: I, registry: &ScopeRegistry) -> Result<Vec<Scope>, ScopeError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    texts
        .into_iter()
        .map(|t| Scope::parse(t.as_ref(), registry))
        .collect()
}
