//! Resolution of requested raw scopes: upstream's
//! `test_resolve_requested_scopes`, server tokens, OAuth and shares.

use super::{raw, raw_set, reg, sorted, strings};
use crate::{
    oauth_check_client_scopes, oauth_default_scopes, oauth_grant_scopes, oauth_required_scopes,
    parse_oauth_scopes, resolve_requested_scopes, server_client_allowed_scopes,
    server_oauth_access_scopes, server_token_request, server_token_scopes, share_scopes, Client,
    ExpandContext, NoGroups, Owner, ScopeError,
};

const SALMON: Client<'static> = Client::Server {
    user: "alice",
    server: "salmon",
};

#[track_caller]
fn check_resolve(requested: &[&str], have: &[&str], allowed: &[&str], disallowed: &[&str]) {
    let ctx = ExpandContext::token(Owner::User("alice"), SALMON);
    let got = resolve_requested_scopes(&raw_set(requested), &raw_set(have), ctx, &NoGroups, &reg());
    assert_eq!(
        strings(&got.allowed),
        sorted(allowed),
        "allowed for {requested:?} vs {have:?}"
    );
    assert_eq!(
        strings(&got.disallowed),
        sorted(disallowed),
        "disallowed for {requested:?} vs {have:?}"
    );
}

#[test]
fn upstream_resolve_table() {
    check_resolve(
        &["read:users:name!user"],
        &["read:users:name!user=alice"],
        &["read:users:name!user"],
        &[],
    );
    check_resolve(
        &["read:servers!server"],
        &["read:servers!user"],
        &["read:servers!server"],
        &[],
    );
    check_resolve(
        &["read:servers!server=alice/salmon"],
        &["read:servers"],
        &["read:servers!server=alice/salmon"],
        &[],
    );
    check_resolve(
        &["admin:servers!server"],
        &["read:servers"],
        &["read:servers!server=alice/salmon"],
        &["admin:servers!server"],
    );
    check_resolve(
        &["admin:servers", "read:users"],
        &["read:users"],
        &["read:users"],
        &["admin:servers"],
    );
    check_resolve(&["inherit"], &["inherit", "self"], &["inherit"], &[]);
    check_resolve(&["read:hub"], &["self"], &[], &["read:hub"]);
}

#[test]
fn server_token_requests() {
    let req = |configured: &[&str], server: &str| {
        strings(&server_token_request(&raw(configured), "alice", server))
    };
    assert_eq!(
        req(&[], ""),
        ["access:servers!server=alice/", "users:activity!user"]
    );
    assert_eq!(
        req(&[], "gpu"),
        ["access:servers!server=alice/gpu", "users:activity!user"]
    );
    assert_eq!(req(&["read:hub"], ""), ["read:hub", "users:activity!user"]);
    assert_eq!(
        req(&["users:activity", "read:servers!server"], "x"),
        ["read:servers!server=alice/x", "users:activity"]
    );
    assert_eq!(req(&["inherit"], ""), ["inherit"]);
    // resolved against the user's roles: a non-admin cannot get read:hub
    let stored = server_token_scopes(
        &raw(&["read:hub"]),
        "alice",
        "",
        &raw_set(&["self"]),
        &NoGroups,
        &reg(),
    );
    assert_eq!(strings(&stored), ["users:activity!user"]);
    let stored = server_token_scopes(
        &raw(&["inherit"]),
        "alice",
        "",
        &raw_set(&["self"]),
        &NoGroups,
        &reg(),
    );
    assert_eq!(strings(&stored), ["inherit"]);
}

#[test]
fn oauth_scopes() {
    assert_eq!(
        strings(&oauth_required_scopes(SALMON)),
        [
            "access:servers!server=alice/salmon",
            "read:users:groups!user",
            "read:users:name!user",
        ]
    );
    assert_eq!(
        strings(&oauth_required_scopes(Client::Service("grafana"))),
        [
            "access:services!service=grafana",
            "read:users:groups!user",
            "read:users:name!user",
        ]
    );
    assert_eq!(
        strings(&oauth_default_scopes(
            &raw(&["read:users:activity!user"]),
            SALMON
        )),
        [
            "access:servers!server=alice/salmon",
            "read:users:activity!user",
            "read:users:groups!user",
            "read:users:name!user",
        ]
    );
    assert_eq!(
        strings(&oauth_default_scopes(&raw(&["inherit"]), SALMON)),
        ["inherit"]
    );
    assert_eq!(
        strings(&parse_oauth_scopes(&["identify", "read:hub"], &reg()).unwrap()),
        ["read:hub"]
    );
    assert!(
        parse_oauth_scopes(&["server"], &reg()).is_err(),
        "role names are not scopes"
    );

    // provider side: the client may only ask for what it is allowed
    let check = |requested: &[&str], allowed: &[&str]| {
        oauth_check_client_scopes(
            &raw_set(requested),
            &raw(allowed),
            "bob",
            SALMON,
            &NoGroups,
            &reg(),
        )
        .map(|s| strings(&s))
        .map_err(|s| strings(&s))
    };
    assert_eq!(
        check(&[], &[]),
        Ok(sorted(&[
            "access:servers!server=alice/salmon",
            "read:users:groups!user",
            "read:users:name!user",
        ]))
    );
    assert_eq!(check(&["read:hub"], &[]), Err(vec!["read:hub".to_owned()]));
    assert_eq!(
        check(&["read:users:name!user"], &["read:users"]).map(|s| s.len()),
        Ok(3)
    );

    // user side: partial grants, access and identify always included
    let requested = raw_set(&[
        "read:users:activity!user",
        "read:hub",
        "access:servers!server=alice/salmon",
        "read:users:name!user",
    ]);
    let got = oauth_grant_scopes(
        &requested,
        &raw_set(&["self"]),
        "bob",
        SALMON,
        &NoGroups,
        &reg(),
    );
    assert_eq!(
        strings(&got.allowed),
        [
            "access:servers!server=alice/salmon",
            "read:users:activity!user",
            "read:users:name!user"
        ]
    );
    assert_eq!(strings(&got.disallowed), ["read:hub"]);
}

#[test]
fn server_client_and_env_scopes() {
    assert_eq!(
        server_client_allowed_scopes(&[], "alice", ""),
        ["access:servers!server=alice/"]
    );
    assert_eq!(
        server_client_allowed_scopes(
            &raw(&["read:users!user", "access:servers!server=alice/"]),
            "alice",
            ""
        ),
        ["access:servers!server=alice/", "read:users!user"]
    );
    assert_eq!(
        server_oauth_access_scopes("alice", ""),
        ["access:servers!server=alice/", "access:servers!user=alice"]
    );
    assert_eq!(
        server_oauth_access_scopes("alice", "gpu")[0],
        "access:servers!server=alice/gpu"
    );
}

#[test]
fn share_filters() {
    let got = share_scopes(
        &raw(&["access:servers", "read:shares!server=alice/gpu"]),
        "alice",
        "gpu",
    )
    .unwrap();
    assert_eq!(
        strings(&got),
        [
            "access:servers!server=alice/gpu",
            "read:shares!server=alice/gpu"
        ]
    );
    assert_eq!(
        share_scopes(&raw(&["access:servers!user=alice"]), "alice", "gpu"),
        Err(ScopeError::ShareFilter {
            scope: "access:servers!user=alice".into(),
            filter: "user=alice".into(),
            allowed: "server=alice/gpu".into(),
        })
    );
    assert_eq!(
        share_scopes(&raw(&["self"]), "alice", ""),
        Err(ScopeError::FilteredMetascope("self".into()))
    );
}
