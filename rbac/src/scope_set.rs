//! A normalized set of *expanded* scopes (upstream's "parsed scopes").
//!
//! Each base scope maps either to "unfiltered" (all resources) or to the set
//! of resources its filters name. Unfiltered absorbs filtered entries of the
//! same base, which is upstream's `reduce_scopes`. Templates and metascope
//! expansion never appear here: [`crate::expand`] resolves them first.

use std::collections::{BTreeMap, BTreeSet};

use crate::{Filter, FilterKind, Scope, ScopeError, ScopeRegistry};

/// The resources a filtered grant covers, by filter kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterSet {
    users: BTreeSet<String>,
    servers: BTreeSet<String>,
    groups: BTreeSet<String>,
    services: BTreeSet<String>,
}

impl FilterSet {
    /// `!user=` names.
    pub fn users(&self) -> &BTreeSet<String> {
        &self.users
    }
    /// `!server=` values (`user/server`).
    pub fn servers(&self) -> &BTreeSet<String> {
        &self.servers
    }
    /// `!group=` names.
    pub fn groups(&self) -> &BTreeSet<String> {
        &self.groups
    }
    /// `!service=` names.
    pub fn services(&self) -> &BTreeSet<String> {
        &self.services
    }

    /// The names for one kind.
    pub fn of(&self, kind: FilterKind) -> &BTreeSet<String> {
        match kind {
            FilterKind::User => &self.users,
            FilterKind::Server => &self.servers,
            FilterKind::Group => &self.groups,
            FilterKind::Service => &self.services,
        }
    }

    pub(crate) fn of_mut(&mut self, kind: FilterKind) -> &mut BTreeSet<String> {
        match kind {
            FilterKind::User => &mut self.users,
            FilterKind::Server => &mut self.servers,
            FilterKind::Group => &mut self.groups,
            FilterKind::Service => &mut self.services,
        }
    }

    /// Whether no filter is present.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
            && self.servers.is_empty()
            && self.groups.is_empty()
            && self.services.is_empty()
    }

    /// The kinds that have at least one value.
    pub fn kinds(&self) -> impl Iterator<Item = FilterKind> + '_ {
        KINDS.into_iter().filter(|k| !self.of(*k).is_empty())
    }

    /// Every filter as `(kind, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (FilterKind, &str)> + '_ {
        KINDS
            .into_iter()
            .flat_map(move |k| self.of(k).iter().map(move |v| (k, v.as_str())))
    }
}

pub(crate) const KINDS: [FilterKind; 4] = [
    FilterKind::User,
    FilterKind::Server,
    FilterKind::Group,
    FilterKind::Service,
];

/// What one base scope grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// No filter: every resource.
    All,
    /// Only the listed resources (never empty).
    Only(FilterSet),
}

/// A normalized set of expanded scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet {
    grants: BTreeMap<String, Grant>,
}

impl ScopeSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Load scopes that are already expanded (e.g. stored share scopes, or a
    /// test fixture). Template filters are an error here.
    pub fn from_expanded<I, S>(texts: I, registry: &ScopeRegistry) -> Result<Self, ScopeError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = Self::new();
        for text in texts {
            set.insert(&Scope::parse(text.as_ref(), registry)?)?;
        }
        Ok(set)
    }

    /// Add one expanded scope. Only fails for template filters.
    pub fn insert(&mut self, scope: &Scope) -> Result<(), ScopeError> {
        match scope.filter() {
            None => self.insert_all(scope.base()),
            Some(filter) => match filter.value() {
                Some(value) => self.insert_filter(scope.base(), filter.kind(), value),
                None => return Err(ScopeError::UnresolvedTemplate(scope.to_string())),
            },
        }
        Ok(())
    }

    pub(crate) fn insert_all(&mut self, base: &str) {
        self.grants.insert(base.to_owned(), Grant::All);
    }

    pub(crate) fn insert_filter(&mut self, base: &str, kind: FilterKind, value: &str) {
        let grant = self
            .grants
            .entry(base.to_owned())
            .or_insert_with(|| Grant::Only(FilterSet::default()));
        if let Grant::Only(filters) = grant {
            filters.of_mut(kind).insert(value.to_owned());
        }
    }

    /// Insert a grant for `base`; an empty filter set is ignored so that
    /// `Grant::Only` is never empty.
    pub(crate) fn insert_grant(&mut self, base: &str, grant: Grant) {
        match grant {
            Grant::All => self.insert_all(base),
            Grant::Only(filters) => {
                for (kind, value) in filters.iter() {
                    self.insert_filter(base, kind, value);
                }
            }
        }
    }

    /// What `base` grants, if anything.
    pub fn grant(&self, base: &str) -> Option<&Grant> {
        self.grants.get(base)
    }

    /// Whether `base` is held in any form (filtered or not).
    pub fn has_base(&self, base: &str) -> bool {
        self.grants.contains_key(base)
    }

    /// All `(base, grant)` pairs, by base name.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Grant)> + '_ {
        self.grants.iter().map(|(b, g)| (b.as_str(), g))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// Number of scope strings ([`Self::to_strings_sorted`] length).
    pub fn len(&self) -> usize {
        self.grants
            .values()
            .map(|g| match g {
                Grant::All => 1,
                Grant::Only(f) => f.iter().count(),
            })
            .sum()
    }

    /// Add everything `other` grants (set union, then reduce).
    pub fn extend_from(&mut self, other: &ScopeSet) {
        for (base, grant) in &other.grants {
            self.insert_grant(base, grant.clone());
        }
    }

    /// Union of two sets.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        let mut out = self.clone();
        out.extend_from(other);
        out
    }

    /// Every scope as a [`Scope`] value.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.grants.iter().flat_map(|(base, grant)| {
            let items: Vec<Scope> = match grant {
                Grant::All => vec![Scope::from_parts(base, None)],
                Grant::Only(f) => f
                    .iter()
                    .map(|(kind, value)| Scope::from_parts(base, Some(make_filter(kind, value))))
                    .collect(),
            };
            items
        })
    }

    /// The scope strings, sorted like Python's `sorted()` (by code point),
    /// which is what whoami's `scopes` field shows.
    pub fn to_strings_sorted(&self) -> Vec<String> {
        let mut out: Vec<String> = self.iter().map(|s| s.to_string()).collect();
        out.sort();
        out
    }

    /// String-level set difference, as upstream's `set - set` on expanded
    /// scope strings: `x!user=a` is *not* removed by an unfiltered `x`.
    pub(crate) fn difference(&self, other: &ScopeSet) -> ScopeSet {
        let mut out = ScopeSet::new();
        for (base, grant) in &self.grants {
            match (grant, other.grants.get(base)) {
                (Grant::All, Some(Grant::All)) => {}
                (Grant::All, _) => out.insert_all(base),
                (Grant::Only(mine), Some(Grant::Only(theirs))) => {
                    for (kind, value) in mine.iter() {
                        if !theirs.of(kind).contains(value) {
                            out.insert_filter(base, kind, value);
                        }
                    }
                }
                (Grant::Only(mine), _) => out.insert_grant(base, Grant::Only(mine.clone())),
            }
        }
        out
    }
}

pub(crate) fn make_filter(kind: FilterKind, value: &str) -> Filter {
    let value = value.to_owned();
    match kind {
        FilterKind::User => Filter::User(value),
        FilterKind::Server => Filter::Server(value),
        FilterKind::Group => Filter::Group(value),
        FilterKind::Service => Filter::Service(value),
    }
}
