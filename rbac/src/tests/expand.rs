//! Expansion: subscopes with filters, the `!server` rule, templates, `self`.

use std::collections::BTreeMap;

use super::{raw, reg, sorted};
use crate::{
    expand, self_scopes, Builtin, Client, CustomScope, ExpandContext, Owner, ScopeRegistry,
};

#[track_caller]
fn check_expand(input: &[&str], ctx: ExpandContext<'_>, expected: &[&str]) {
    let got = expand(&raw(input), ctx, &reg()).to_strings_sorted();
    assert_eq!(got, sorted(expected), "expand {input:?} with {ctx:?}");
}

const ALICE: Owner<'static> = Owner::User("alice");
const ALICE_DEFAULT: Client<'static> = Client::Server {
    user: "alice",
    server: "",
};

/// `self` for alice, spelled out (contract §2.5 metascopes, fully expanded).
pub(crate) const SELF_ALICE: &[&str] = &[
    "access:servers!user=alice",
    "delete:servers!user=alice",
    "read:servers!user=alice",
    "read:shares!user=alice",
    "read:tokens!user=alice",
    "read:users!user=alice",
    "read:users:activity!user=alice",
    "read:users:groups!user=alice",
    "read:users:name!user=alice",
    "read:users:shares!user=alice",
    "servers!user=alice",
    "start:servers!user=alice",
    "tokens!user=alice",
    "users:activity!user=alice",
    "users:shares!user=alice",
];

#[test]
fn filters_are_kept_on_subscopes() {
    let none = ExpandContext::none();
    check_expand(
        &["read:users!user=alice"],
        none,
        &[
            "read:users!user=alice",
            "read:users:name!user=alice",
            "read:users:groups!user=alice",
            "read:users:activity!user=alice",
        ],
    );
    check_expand(
        &["groups!group=g"],
        none,
        &[
            "groups!group=g",
            "read:groups!group=g",
            "list:groups!group=g",
            "read:groups:name!group=g",
        ],
    );
    check_expand(
        &["admin:services!service=s"],
        none,
        &[
            "admin:services!service=s",
            "list:services!service=s",
            "read:services!service=s",
            "read:roles:services!service=s",
            "read:services:name!service=s",
        ],
    );
    check_expand(
        &["users:shares!group=g"],
        none,
        &["users:shares!group=g", "read:users:shares!group=g"],
    );
}

/// A `!server` filter does not carry over to `read:user*` scopes, including
/// the scope itself.
#[test]
fn server_filter_drops_read_users() {
    let none = ExpandContext::none();
    check_expand(
        &["servers!server=alice/gpu"],
        none,
        &[
            "servers!server=alice/gpu",
            "read:servers!server=alice/gpu",
            "start:servers!server=alice/gpu",
            "delete:servers!server=alice/gpu",
        ],
    );
    check_expand(
        &["read:servers!server=alice/"],
        none,
        &["read:servers!server=alice/"],
    );
    check_expand(
        &["users!server=alice/"],
        none,
        &[
            "users!server=alice/",
            "list:users!server=alice/",
            "users:activity!server=alice/",
        ],
    );
    check_expand(&["read:users!server=alice/"], none, &[]);
    check_expand(&["read:users:shares!server=alice/"], none, &[]);
    check_expand(
        &["shares!server=alice/x"],
        none,
        &[
            "shares!server=alice/x",
            "access:servers!server=alice/x",
            "read:shares!server=alice/x",
            "users:shares!server=alice/x",
            "groups:shares!server=alice/x",
            "read:groups:shares!server=alice/x",
        ],
    );
    // Template form: dropped before the template is resolved.
    check_expand(
        &["read:servers!server"],
        ExpandContext::token(ALICE, ALICE_DEFAULT),
        &["read:servers!server=alice/"],
    );
    // A user filter keeps read:users:name.
    check_expand(
        &["read:servers!user=alice"],
        none,
        &["read:servers!user=alice", "read:users:name!user=alice"],
    );
}

#[test]
fn templates_resolve_against_owner_and_client() {
    let svc = Owner::Service("culler");
    let table: &[(&str, ExpandContext<'_>, &[&str])] = &[
        (
            "read:users:name!user",
            ExpandContext::owner(ALICE),
            &["read:users:name!user=alice"],
        ),
        (
            "users:activity!user",
            ExpandContext::owner(ALICE),
            &[
                "users:activity!user=alice",
                "read:users:activity!user=alice",
            ],
        ),
        ("users:activity!user", ExpandContext::owner(svc), &[]),
        ("users:activity!user", ExpandContext::none(), &[]),
        (
            "read:services:name!service",
            ExpandContext::owner(svc),
            &["read:services:name!service=culler"],
        ),
        (
            "read:services:name!service",
            ExpandContext::owner(ALICE),
            &[],
        ),
        (
            "access:services!service",
            ExpandContext::token(ALICE, Client::Service("grafana")),
            &["access:services!service=grafana"],
        ),
        (
            "access:services!service",
            ExpandContext::token(svc, Client::Service("grafana")),
            &["access:services!service=grafana"],
        ),
        (
            "access:services!service",
            ExpandContext::token(svc, Client::Hub),
            &["access:services!service=culler"],
        ),
        (
            "access:servers!server",
            ExpandContext::token(ALICE, ALICE_DEFAULT),
            &["access:servers!server=alice/"],
        ),
        (
            "access:servers!server",
            ExpandContext::token(
                ALICE,
                Client::Server {
                    user: "alice",
                    server: "gpu",
                },
            ),
            &["access:servers!server=alice/gpu"],
        ),
        (
            "access:servers!server",
            ExpandContext::token(ALICE, Client::Hub),
            &[],
        ),
        ("access:servers!server", ExpandContext::owner(ALICE), &[]),
    ];
    for (input, ctx, expected) in table {
        check_expand(&[input], *ctx, expected);
    }
}

#[test]
fn metascopes() {
    check_expand(&["self"], ExpandContext::owner(ALICE), SELF_ALICE);
    check_expand(
        &["self"],
        ExpandContext::owner(Owner::Service("culler")),
        &[],
    );
    check_expand(&["self"], ExpandContext::none(), &[]);
    check_expand(&["inherit"], ExpandContext::owner(ALICE), &["inherit"]);
    check_expand(&["(no_scope)"], ExpandContext::none(), &["(no_scope)"]);
    assert_eq!(self_scopes("alice").to_strings_sorted(), sorted(SELF_ALICE));
}

#[test]
fn unfiltered_absorbs_filtered() {
    let none = ExpandContext::none();
    check_expand(
        &["access:services", "access:services!service=x"],
        none,
        &["access:services"],
    );
    check_expand(
        &["read:users!user=a", "users"],
        none,
        &[
            "users",
            "read:users",
            "list:users",
            "users:activity",
            "read:users:name",
            "read:users:groups",
            "read:users:activity",
        ],
    );
    check_expand(
        &["read:users!user=a", "read:users!group=g"],
        none,
        &[
            "read:users!user=a",
            "read:users!group=g",
            "read:users:name!user=a",
            "read:users:name!group=g",
            "read:users:groups!user=a",
            "read:users:groups!group=g",
            "read:users:activity!user=a",
            "read:users:activity!group=g",
        ],
    );
    // self plus an unfiltered scope it contains
    let mut expected: Vec<&str> = SELF_ALICE
        .iter()
        .copied()
        .filter(|s| !s.starts_with("access:servers"))
        .collect();
    expected.push("access:servers");
    check_expand(
        &["self", "access:servers"],
        ExpandContext::owner(ALICE),
        &expected,
    );
}

/// The admin role expands to every built-in scope except the metascopes.
#[test]
fn admin_role_covers_every_scope() {
    let admin = crate::default_role("admin").unwrap();
    let scopes = raw(&admin.scopes.iter().map(String::as_str).collect::<Vec<_>>());
    let got = expand(&scopes, ExpandContext::owner(ALICE), &reg()).to_strings_sorted();
    let mut all: Vec<String> = Builtin::ALL
        .iter()
        .filter(|b| !b.is_metascope())
        .map(|b| b.as_str().to_owned())
        .collect();
    all.sort();
    assert_eq!(got, all);
}

#[test]
fn custom_scopes_expand_with_filters() {
    let custom: BTreeMap<String, CustomScope> = [
        (
            "custom:read",
            vec!["custom:read:contents", "custom:read:kernels"],
        ),
        ("custom:read:contents", vec![]),
        ("custom:read:kernels", vec!["custom:read"]), // a cycle terminates
    ]
    .into_iter()
    .map(|(n, subs)| {
        let def = CustomScope {
            description: n.to_owned(),
            subscopes: subs.into_iter().map(String::from).collect(),
        };
        (n.to_owned(), def)
    })
    .collect();
    let registry = ScopeRegistry::with_custom(custom).unwrap();
    let scopes = crate::parse_scopes(["custom:read!user"], &registry).unwrap();
    let got = expand(&scopes, ExpandContext::owner(ALICE), &registry).to_strings_sorted();
    assert_eq!(
        got,
        sorted(&[
            "custom:read!user=alice",
            "custom:read:contents!user=alice",
            "custom:read:kernels!user=alice",
        ])
    );
}
