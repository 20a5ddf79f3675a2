//! Handler decisions: Allowed / NotFound (404) / Forbidden (403).

use super::{members, set, Groups};
use crate::{check_access, AccessDecision, Builtin, Resource};

const G: Groups = &[("g", &["alice"]), ("h", &["bob"])];

#[track_caller]
fn check_access_case(
    held: &[&str],
    any_of: &[Builtin],
    resource: Resource<'_>,
    expected: &AccessDecision,
) {
    let got = check_access(&set(held), any_of, resource, &members(G));
    assert_eq!(
        &got, expected,
        "{held:?} needs any of {any_of:?} on {resource}"
    );
}

fn server<'a>(user: &'a str, server: &'a str) -> Resource<'a> {
    Resource::Server { user, server }
}

#[test]
fn decisions() {
    use AccessDecision::{Allowed, NotFound};
    use Builtin::*;
    let forbidden = |required: &[Builtin]| AccessDecision::Forbidden {
        required: required.to_vec(),
    };
    let user_get = &[
        ReadUsers,
        ReadUsersName,
        ReadServers,
        ReadUsersGroups,
        ReadUsersActivity,
        ReadRolesUsers,
    ][..];
    let table: Vec<(&[&str], &[Builtin], Resource<'_>, AccessDecision)> = vec![
        // no resource: only unfiltered counts; filtered is still 403
        (&["read:hub"], &[ReadHub], Resource::Global, Allowed),
        (
            &["proxy!user=alice"],
            &[Proxy],
            Resource::Global,
            forbidden(&[Proxy]),
        ),
        (&[], &[Shutdown], Resource::Global, forbidden(&[Shutdown])),
        // user resources
        (
            &["read:users"],
            &[ReadUsers],
            Resource::User("bob"),
            Allowed,
        ),
        (
            &["read:users!user=alice"],
            &[ReadUsers],
            Resource::User("alice"),
            Allowed,
        ),
        (
            &["read:users!user=alice"],
            &[ReadUsers],
            Resource::User("bob"),
            NotFound,
        ),
        (
            &["read:users!group=g"],
            &[ReadUsers],
            Resource::User("alice"),
            Allowed,
        ),
        (
            &["read:users!group=g"],
            &[ReadUsers],
            Resource::User("bob"),
            NotFound,
        ),
        (
            &["read:users!server=alice/"],
            &[ReadUsers],
            Resource::User("alice"),
            NotFound,
        ),
        (
            &["read:groups"],
            &[ReadUsers],
            Resource::User("alice"),
            forbidden(&[ReadUsers]),
        ),
        // any-of: one matching scope is enough; held-but-filtered gives 404
        (
            &["read:users:activity!user=alice"],
            user_get,
            Resource::User("alice"),
            Allowed,
        ),
        (
            &["read:users:activity!user=alice"],
            user_get,
            Resource::User("bob"),
            NotFound,
        ),
        (
            &["read:hub"],
            user_get,
            Resource::User("bob"),
            forbidden(user_get),
        ),
        // server resources: server, owner's user, owner's group
        (
            &["read:servers!server=alice/gpu"],
            &[ReadServers],
            server("alice", "gpu"),
            Allowed,
        ),
        (
            &["read:servers!server=alice/gpu"],
            &[ReadServers],
            server("alice", ""),
            NotFound,
        ),
        (
            &["read:servers!user=alice"],
            &[ReadServers],
            server("alice", "gpu"),
            Allowed,
        ),
        (
            &["read:servers!user=alice"],
            &[ReadServers],
            server("bob", ""),
            NotFound,
        ),
        (
            &["read:servers!group=g"],
            &[ReadServers],
            server("alice", ""),
            Allowed,
        ),
        (
            &["read:servers!group=g"],
            &[ReadServers],
            server("bob", ""),
            NotFound,
        ),
        (
            &["start:servers"],
            &[StartServers],
            server("bob", "x"),
            Allowed,
        ),
        (
            &["servers!user=alice"],
            &[StartServers],
            server("alice", ""),
            forbidden(&[StartServers]),
        ),
        // group and service resources: only their own filter
        (
            &["read:groups!group=g"],
            &[ReadGroups],
            Resource::Group("g"),
            Allowed,
        ),
        (
            &["read:groups!group=g"],
            &[ReadGroups],
            Resource::Group("h"),
            NotFound,
        ),
        (
            &["read:groups!user=alice"],
            &[ReadGroups],
            Resource::Group("g"),
            NotFound,
        ),
        (
            &["read:services!service=s"],
            &[ReadServices],
            Resource::Service("s"),
            Allowed,
        ),
        (
            &["read:services!service=s"],
            &[ReadServices],
            Resource::Service("t"),
            NotFound,
        ),
        (
            &["read:services"],
            &[ReadServices],
            Resource::Service("t"),
            Allowed,
        ),
    ];
    for (held, any_of, resource, expected) in &table {
        check_access_case(held, any_of, *resource, expected);
    }
}

/// The default server token (`server` role) of alice.
#[test]
fn server_token_decisions() {
    use AccessDecision::{Allowed, NotFound};
    let held = &[
        "access:servers!server=alice/",
        "read:users:activity!user=alice",
        "read:users:groups!user=alice",
        "read:users:name!user=alice",
        "users:activity!user=alice",
    ][..];
    let forbidden = |b: Builtin| AccessDecision::Forbidden { required: vec![b] };
    check_access_case(
        held,
        &[Builtin::UsersActivity],
        Resource::User("alice"),
        &Allowed,
    );
    check_access_case(
        held,
        &[Builtin::UsersActivity],
        Resource::User("bob"),
        &NotFound,
    );
    check_access_case(
        held,
        &[Builtin::AccessServers],
        server("alice", ""),
        &Allowed,
    );
    check_access_case(
        held,
        &[Builtin::AccessServers],
        server("alice", "gpu"),
        &NotFound,
    );
    check_access_case(
        held,
        &[Builtin::StartServers],
        server("alice", ""),
        &forbidden(Builtin::StartServers),
    );
    check_access_case(
        held,
        &[Builtin::ReadServers],
        server("alice", ""),
        &forbidden(Builtin::ReadServers),
    );
}

#[test]
fn messages() {
    assert_eq!(AccessDecision::Allowed.message(), None);
    assert_eq!(
        AccessDecision::NotFound.message().as_deref(),
        Some("No access to resources or resources not found")
    );
    let forbidden = AccessDecision::Forbidden {
        required: vec![Builtin::ReadUsers, Builtin::ReadUsersName],
    };
    assert_eq!(
        forbidden.message().as_deref(),
        Some("Action is not authorized with current scopes; requires any of [read:users, read:users:name]")
    );
    assert!(AccessDecision::Allowed.is_allowed());
    assert!(!AccessDecision::NotFound.is_allowed());
}
