//! Table-driven tests. Each file covers one area; every table row is one
//! line so that the tables read like the reference tables they mirror.

mod access;
mod expand;
mod hierarchy;
mod intersect;
mod list;
mod model;
mod parse;
mod resolve;
mod roles;
mod token;

use std::collections::BTreeSet;

use crate::{parse_scopes, Scope, ScopeRegistry, ScopeSet};

/// Group table: `(group, members)`.
pub(crate) type Groups = &'static [(&'static str, &'static [&'static str])];

pub(crate) fn reg() -> ScopeRegistry {
    ScopeRegistry::builtin()
}

/// An expanded scope set from literal strings.
pub(crate) fn set(items: &[&str]) -> ScopeSet {
    ScopeSet::from_expanded(items, &reg()).expect("valid expanded scopes")
}

/// Raw scopes from literal strings.
pub(crate) fn raw(items: &[&str]) -> Vec<Scope> {
    parse_scopes(items, &reg()).expect("valid raw scopes")
}

pub(crate) fn raw_set(items: &[&str]) -> BTreeSet<Scope> {
    raw(items).into_iter().collect()
}

pub(crate) fn strings<'a>(items: impl IntoIterator<Item = &'a Scope>) -> Vec<String> {
    let mut out: Vec<String> = items.into_iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

pub(crate) fn sorted(items: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
    out.sort();
    out
}

/// A [`crate::Membership`] from a group table.
pub(crate) fn members(groups: Groups) -> impl Fn(&str) -> Vec<String> {
    move |user: &str| {
        groups
            .iter()
            .filter(|(_, users)| users.contains(&user))
            .map(|(group, _)| (*group).to_owned())
            .collect()
    }
}
