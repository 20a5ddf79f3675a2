//! Model keys per scope (contract §1.4), filters and unions.

use super::{members, set, Groups};
use crate::{
    can_read_server, can_read_server_state, group_model_keys, service_model_keys, user_model_keys,
};

const G: Groups = &[("g", &["alice"])];

#[track_caller]
fn check_user_keys(held: &[&str], user: &str, expected: &[&str]) {
    let mut got: Vec<&str> = user_model_keys(&set(held), user, &members(G))
        .into_iter()
        .map(|k| k.as_str())
        .collect();
    got.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(got, expected, "{held:?} on user {user}");
}

#[track_caller]
fn check_group_keys(held: &[&str], group: &str, expected: &[&str]) {
    let mut got: Vec<&str> = group_model_keys(&set(held), group)
        .into_iter()
        .map(|k| k.as_str())
        .collect();
    got.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(got, expected, "{held:?} on group {group}");
}

#[track_caller]
fn check_service_keys(held: &[&str], service: &str, expected: &[&str]) {
    let mut got: Vec<&str> = service_model_keys(&set(held), service)
        .into_iter()
        .map(|k| k.as_str())
        .collect();
    got.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(got, expected, "{held:?} on service {service}");
}

/// One row per scope of the user-model table; the scope is given alone
/// (its subscopes are not added, so each row is tested in isolation).
#[test]
fn user_model_rows() {
    check_user_keys(
        &["read:users"],
        "alice",
        &[
            "kind",
            "name",
            "user_info",
            "admin",
            "roles",
            "groups",
            "server",
            "pending",
            "created",
            "last_activity",
        ],
    );
    check_user_keys(
        &["read:users:name"],
        "alice",
        &["kind", "name", "user_info", "admin"],
    );
    check_user_keys(&["read:users:groups"], "alice", &["kind", "name", "groups"]);
    check_user_keys(
        &["read:users:activity"],
        "alice",
        &["kind", "name", "last_activity"],
    );
    check_user_keys(&["read:servers"], "alice", &["kind", "name", "servers"]);
    check_user_keys(
        &["read:roles:users"],
        "alice",
        &["kind", "name", "roles", "admin"],
    );
    check_user_keys(
        &["admin:auth_state"],
        "alice",
        &["kind", "name", "auth_state"],
    );
    check_user_keys(&[], "alice", &[]);
    check_user_keys(&["read:groups", "read:hub"], "alice", &[]);
}

#[test]
fn user_model_filters_and_unions() {
    check_user_keys(
        &["read:users:name!user=alice"],
        "alice",
        &["kind", "name", "user_info", "admin"],
    );
    check_user_keys(&["read:users:name!user=alice"], "bob", &[]);
    check_user_keys(
        &["read:users:groups!group=g"],
        "alice",
        &["kind", "name", "groups"],
    );
    check_user_keys(&["read:users:groups!group=g"], "bob", &[]);
    // a server filter names a server, not the user: no user keys
    check_user_keys(&["read:servers!server=alice/gpu"], "alice", &[]);
    check_user_keys(
        &["read:users:activity", "read:servers!user=alice"],
        "alice",
        &["kind", "name", "last_activity", "servers"],
    );
    // the culler's scopes
    check_user_keys(
        &[
            "list:users",
            "read:users:name",
            "read:users:activity",
            "read:servers",
            "delete:servers",
        ],
        "bob",
        &[
            "kind",
            "name",
            "user_info",
            "admin",
            "last_activity",
            "servers",
        ],
    );
    // whoami of alice's server token (contract §1.2 example keys)
    check_user_keys(
        &[
            "access:servers!server=alice/",
            "read:users:activity!user=alice",
            "read:users:groups!user=alice",
            "read:users:name!user=alice",
            "users:activity!user=alice",
        ],
        "alice",
        &[
            "kind",
            "name",
            "admin",
            "user_info",
            "groups",
            "last_activity",
        ],
    );
}

#[test]
fn group_model_rows() {
    check_group_keys(
        &["read:groups"],
        "g",
        &["kind", "name", "properties", "users"],
    );
    check_group_keys(&["read:groups:name"], "g", &["kind", "name"]);
    check_group_keys(&["read:roles:groups"], "g", &["kind", "name", "roles"]);
    check_group_keys(
        &["read:groups!group=g"],
        "g",
        &["kind", "name", "properties", "users"],
    );
    check_group_keys(&["read:groups!group=g"], "h", &[]);
    check_group_keys(
        &["read:groups:name", "read:roles:groups!group=h"],
        "h",
        &["kind", "name", "roles"],
    );
}

#[test]
fn service_model_rows() {
    check_service_keys(
        &["read:services"],
        "s",
        &[
            "kind", "name", "admin", "url", "prefix", "command", "pid", "info", "display",
        ],
    );
    check_service_keys(&["read:services:name"], "s", &["kind", "name", "admin"]);
    check_service_keys(
        &["read:roles:services"],
        "s",
        &["kind", "name", "roles", "admin"],
    );
    check_service_keys(
        &["read:services:name!service=s"],
        "s",
        &["kind", "name", "admin"],
    );
    check_service_keys(&["read:services:name!service=s"], "t", &[]);
}

#[test]
fn servers_in_user_model() {
    let m = members(G);
    let table: &[(&[&str], &str, &str, bool, bool)] = &[
        (&["read:servers"], "bob", "", true, false),
        (
            &["read:servers!server=alice/gpu"],
            "alice",
            "gpu",
            true,
            false,
        ),
        (
            &["read:servers!server=alice/gpu"],
            "alice",
            "",
            false,
            false,
        ),
        (&["read:servers!user=alice"], "alice", "x", true, false),
        (
            &["read:servers!group=g", "admin:server_state!group=g"],
            "alice",
            "",
            true,
            true,
        ),
        (&["admin:server_state!user=alice"], "alice", "", false, true),
        (&["admin:server_state!user=alice"], "bob", "", false, false),
    ];
    for (held, user, server, read, state) in table {
        let scopes = set(held);
        assert_eq!(
            can_read_server(&scopes, user, server, &m),
            *read,
            "{held:?} read {user}/{server}"
        );
        assert_eq!(
            can_read_server_state(&scopes, user, server, &m),
            *state,
            "{held:?} state {user}/{server}"
        );
    }
}
