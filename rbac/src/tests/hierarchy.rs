//! The scope hierarchy table of the contract (§2.5), row by row.

use super::reg;
use crate::Builtin;

#[track_caller]
fn check_direct(parent: &str, expected: &[&str]) {
    let builtin = Builtin::from_name(parent).unwrap_or_else(|| panic!("{parent} is built-in"));
    let got: Vec<&str> = builtin.subscopes().iter().map(|b| b.as_str()).collect();
    assert_eq!(got, expected, "direct subscopes of {parent}");
}

#[track_caller]
fn check_closure(parent: &str, expected: &[&str]) {
    let registry = reg();
    let got: Vec<&str> = registry.closure(parent).into_iter().collect();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(got, expected, "recursive expansion of {parent}");
}

/// Every row of the hierarchy table: parent → direct subscopes.
#[test]
fn hierarchy_rows() {
    let table: &[(&str, &[&str])] = &[
        (
            "admin:users",
            &[
                "admin:auth_state",
                "users",
                "read:roles:users",
                "delete:users",
            ],
        ),
        ("users", &["read:users", "list:users", "users:activity"]),
        ("list:users", &["read:users:name"]),
        (
            "read:users",
            &[
                "read:users:name",
                "read:users:groups",
                "read:users:activity",
            ],
        ),
        ("users:activity", &["read:users:activity"]),
        ("admin:servers", &["admin:server_state", "servers"]),
        (
            "servers",
            &["read:servers", "start:servers", "delete:servers"],
        ),
        ("read:servers", &["read:users:name"]),
        ("tokens", &["read:tokens"]),
        (
            "admin:groups",
            &["groups", "read:roles:groups", "delete:groups"],
        ),
        ("groups", &["read:groups", "list:groups"]),
        ("list:groups", &["read:groups:name"]),
        ("read:groups", &["read:groups:name"]),
        (
            "admin:services",
            &["list:services", "read:services", "read:roles:services"],
        ),
        ("list:services", &["read:services:name"]),
        ("read:services", &["read:services:name"]),
        (
            "read:roles",
            &[
                "read:roles:users",
                "read:roles:services",
                "read:roles:groups",
            ],
        ),
        (
            "shares",
            &[
                "access:servers",
                "read:shares",
                "users:shares",
                "groups:shares",
            ],
        ),
        ("users:shares", &["read:users:shares"]),
        ("groups:shares", &["read:groups:shares"]),
    ];
    for (parent, subs) in table {
        check_direct(parent, subs);
    }
}

/// Leaves named by the contract, and the other scopes without subscopes.
#[test]
fn leaves_and_special_scopes() {
    let leaves = [
        "admin-ui",
        "read:hub",
        "proxy",
        "shutdown",
        "read:metrics",
        "access:servers",
        "access:services",
        "(no_scope)",
        "self",
        "inherit",
        "admin:auth_state",
        "delete:users",
        "read:users:name",
        "read:users:groups",
        "read:users:activity",
        "read:roles:users",
        "read:roles:services",
        "read:roles:groups",
        "admin:server_state",
        "start:servers",
        "delete:servers",
        "read:tokens",
        "read:groups:name",
        "delete:groups",
        "read:services:name",
        "read:users:shares",
        "read:groups:shares",
        "read:shares",
    ];
    for leaf in leaves {
        check_direct(leaf, &[]);
    }
    let metascopes: Vec<&str> = Builtin::ALL
        .iter()
        .filter(|b| b.is_metascope())
        .map(|b| b.as_str())
        .collect();
    assert_eq!(metascopes, ["(no_scope)", "self", "inherit"]);
    // 20 parents + 28 leaves = every built-in scope.
    assert_eq!(Builtin::ALL.len(), 48);
}

#[test]
fn recursive_expansion_of_parents() {
    check_closure(
        "admin:users",
        &[
            "admin:users",
            "admin:auth_state",
            "users",
            "read:roles:users",
            "delete:users",
            "read:users",
            "list:users",
            "users:activity",
            "read:users:name",
            "read:users:groups",
            "read:users:activity",
        ],
    );
    check_closure(
        "admin:servers",
        &[
            "admin:servers",
            "admin:server_state",
            "servers",
            "read:servers",
            "start:servers",
            "delete:servers",
            "read:users:name",
        ],
    );
    check_closure(
        "admin:groups",
        &[
            "admin:groups",
            "groups",
            "read:roles:groups",
            "delete:groups",
            "read:groups",
            "list:groups",
            "read:groups:name",
        ],
    );
    check_closure(
        "admin:services",
        &[
            "admin:services",
            "list:services",
            "read:services",
            "read:roles:services",
            "read:services:name",
        ],
    );
    check_closure(
        "shares",
        &[
            "shares",
            "access:servers",
            "read:shares",
            "users:shares",
            "read:users:shares",
            "groups:shares",
            "read:groups:shares",
        ],
    );
    check_closure("users:activity", &["users:activity", "read:users:activity"]);
    check_closure("read:hub", &["read:hub"]);
    check_closure("custom:unknown", &["custom:unknown"]);
}

#[test]
fn names_round_trip_and_have_descriptions() {
    for b in Builtin::ALL {
        assert_eq!(Builtin::from_name(b.as_str()), Some(*b));
        assert!(!b.description().is_empty(), "{b} has a description");
        assert_eq!(reg().description(b.as_str()), Some(b.description()));
    }
    assert_eq!(Builtin::from_name("read:user"), None);
}
