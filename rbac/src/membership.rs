//! Group membership, supplied by the caller.
//!
//! Upstream queries the database for "which groups is this user in" in the
//! middle of scope checks. rbac stays pure: the hub passes something that
//! answers that question from its replicated state.

/// Answers "which groups is `user` in?".
///
/// Implemented for any `Fn(&str) -> Vec<String>`, so a closure over the
/// hub's state works directly.
pub trait Membership {
    /// The names of the groups `user` belongs to (any order; unknown users
    /// belong to none).
    fn groups_of(&self, user: &str) -> Vec<String>;
}

impl<F> Membership for F
where
    F: Fn(&str) -> Vec<String>,
{
    fn groups_of(&self, user: &str) -> Vec<String> {
        self(user)
    }
}

/// Nobody is in any group: group filters then only match group resources.
/// This is what upstream does when called without a database session.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGroups;

impl Membership for NoGroups {
    fn groups_of(&self, _user: &str) -> Vec<String> {
        Vec::new()
    }
}
