//! Which scope names exist: the built-in table plus the `custom:` scopes
//! defined in config (`JupyterHub.custom_scopes`).
//!
//! Upstream mutates a global dict; here the registry is an immutable value
//! built once from config and passed to the functions that need to know
//! whether a name exists or what its subscopes are.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{Builtin, CustomScopeError};

/// One `custom_scopes` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomScope {
    /// Shown on the OAuth confirmation page.
    pub description: String,
    /// Other custom scopes implied by this one.
    #[serde(default)]
    pub subscopes: Vec<String>,
}

/// The set of defined scope names and their subscope edges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeRegistry {
    custom: BTreeMap<String, CustomScope>,
}

impl ScopeRegistry {
    /// Built-in scopes only.
    pub fn builtin() -> Self {
        Self::default()
    }

    /// Built-in scopes plus `custom`, validated like upstream
    /// `define_custom_scopes`: names must match the custom pattern and every
    /// subscope must be another custom scope of the same table.
    pub fn with_custom(custom: BTreeMap<String, CustomScope>) -> Result<Self, CustomScopeError> {
        for (name, def) in &custom {
            if !is_valid_custom_name(name) {
                return Err(CustomScopeError::InvalidName(name.clone()));
            }
            for sub in &def.subscopes {
                if custom.contains_key(sub) {
                    continue;
                }
                if Builtin::from_name(sub).is_some() {
                    return Err(CustomScopeError::NonCustomSubscope {
                        scope: name.clone(),
                        subscope: sub.clone(),
                    });
                }
                return Err(CustomScopeError::UndefinedSubscope {
                    scope: name.clone(),
                    subscope: sub.clone(),
                });
            }
        }
        Ok(Self { custom })
    }

    /// Whether `base` names a scope (built-in, metascope or defined custom).
    pub fn is_defined(&self, base: &str) -> bool {
        Builtin::from_name(base).is_some() || self.custom.contains_key(base)
    }

    /// Description of a defined scope.
    pub fn description(&self, base: &str) -> Option<&str> {
        match Builtin::from_name(base) {
            Some(b) => Some(b.description()),
            None => self.custom.get(base).map(|c| c.description.as_str()),
        }
    }

    /// The custom scope definitions.
    pub fn custom(&self) -> &BTreeMap<String, CustomScope> {
        &self.custom
    }

    /// `base` and all its subscopes, recursively (upstream `_expand_scope`
    /// without the filter). Unknown names yield just themselves. Cycles among
    /// custom scopes terminate (upstream would recurse forever).
    pub fn closure<'a>(&'a self, base: &'a str) -> BTreeSet<&'a str> {
        let mut out = BTreeSet::new();
        let mut stack = vec![base];
        while let Some(name) = stack.pop() {
            if !out.insert(name) {
                continue;
            }
            if let Some(b) = Builtin::from_name(name) {
                stack.extend(b.subscopes().iter().map(|s| s.as_str()));
            } else if let Some(c) = self.custom.get(name) {
                stack.extend(c.subscopes.iter().map(String::as_str));
            }
        }
        out
    }
}

/// `^custom:[a-z0-9][a-z0-9_\-*:]+[a-z0-9_*]$`, written out by hand to avoid
/// a regex dependency.
fn is_valid_custom_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("custom:") else {
        return false;
    };
    let bytes = rest.as_bytes();
    if bytes.len() < 3 {
        return false;
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let middle = |c: u8| alnum(c) || matches!(c, b'_' | b'-' | b'*' | b':');
    let last = |c: u8| alnum(c) || matches!(c, b'_' | b'*');
    alnum(bytes[0])
        && bytes[1..bytes.len() - 1].iter().all(|&c| middle(c))
        && last(bytes[bytes.len() - 1])
}
