//! Token scopes, whoami, and token creation checks.

use super::expand::SELF_ALICE;
use super::{members, raw, raw_set, reg, set, sorted, Groups};
use crate::{
    check_token_scopes, expand, server_token_scopes, token_scopes, user_model_keys, whoami, Client,
    ExcessScopesError, ExpandContext, NoGroups, Owner, ScopeSet,
};

const ALICE: Owner<'static> = Owner::User("alice");

/// Owner scopes from raw role scopes.
fn owned(role_scopes: &[&str]) -> ScopeSet {
    expand(&raw(role_scopes), ExpandContext::owner(ALICE), &reg())
}

fn alice_owner_scopes() -> ScopeSet {
    owned(&["self"])
}

#[track_caller]
fn check_token(
    raw_scopes: &[&str],
    owner: Owner<'_>,
    client: Client<'_>,
    owner_scopes: &ScopeSet,
    expected: &[&str],
) {
    let got = token_scopes(
        &raw(raw_scopes),
        owner,
        client,
        owner_scopes,
        &members(G),
        &reg(),
    );
    assert_eq!(
        got.to_strings_sorted(),
        sorted(expected),
        "token {raw_scopes:?} of {owner:?} via {client:?}"
    );
}

const G: Groups = &[("g", &["alice"])];

/// Contract §1.2: alice's `$JUPYTERHUB_API_TOKEN` with the default `server`
/// role, from spawn to whoami.
#[test]
fn server_token_whoami_example() {
    let stored = server_token_scopes(&[], "alice", "", &raw_set(&["self"]), &NoGroups, &reg());
    assert_eq!(
        super::strings(&stored),
        ["access:servers!server=alice/", "users:activity!user"]
    );
    let stored: Vec<_> = stored.into_iter().collect();
    let held = token_scopes(
        &stored,
        ALICE,
        Client::Hub,
        &alice_owner_scopes(),
        &NoGroups,
        &reg(),
    );
    let who = whoami(&held, ALICE);
    assert_eq!(
        who.scopes,
        [
            "access:servers!server=alice/",
            "read:users:activity!user=alice",
            "read:users:groups!user=alice",
            "read:users:name!user=alice",
            "users:activity!user=alice",
        ]
    );
    let keys: Vec<&str> = user_model_keys(&who.model_scopes, "alice", &NoGroups)
        .into_iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        sorted(&keys),
        sorted(&[
            "kind",
            "name",
            "admin",
            "user_info",
            "groups",
            "last_activity"
        ])
    );
}

#[test]
fn token_scope_table() {
    let alice = alice_owner_scopes();
    let default_server = Client::Server {
        user: "alice",
        server: "",
    };
    // inherit: exactly the owner's scopes, no identify added on top
    check_token(&["inherit"], ALICE, Client::Hub, &alice, SELF_ALICE);
    check_token(
        &["inherit"],
        ALICE,
        Client::Hub,
        &set(&["read:hub"]),
        &["read:hub"],
    );
    // the `server` role outside a spawn: no server to fill in
    check_token(
        &["users:activity!user", "access:servers!server"],
        ALICE,
        Client::Hub,
        &alice,
        &[
            "read:users:activity!user=alice",
            "read:users:groups!user=alice",
            "read:users:name!user=alice",
            "users:activity!user=alice",
        ],
    );
    // browser OAuth token for alice's own server: access + identify
    check_token(
        &[],
        ALICE,
        default_server,
        &alice,
        &[
            "access:servers!server=alice/",
            "read:users:groups!user=alice",
            "read:users:name!user=alice",
        ],
    );
    // scopes the owner lacks are dropped, including identify scopes
    check_token(
        &["read:users", "admin:users"],
        ALICE,
        Client::Hub,
        &owned(&["read:users!user=alice"]),
        &[
            "read:users!user=alice",
            "read:users:activity!user=alice",
            "read:users:groups!user=alice",
            "read:users:name!user=alice",
        ],
    );
    check_token(
        &["read:hub"],
        ALICE,
        Client::Hub,
        &set(&["read:hub"]),
        &["read:hub"],
    );
    check_token(&[], ALICE, Client::Hub, &ScopeSet::new(), &[]);
    // group-held owner scopes cover user-filtered token scopes
    check_token(
        &["read:users!user"],
        ALICE,
        Client::Hub,
        &owned(&["read:users!group=g"]),
        &[
            "read:users!user=alice",
            "read:users:activity!user=alice",
            "read:users:groups!user=alice",
            "read:users:name!user=alice",
        ],
    );
    // service token via its own OAuth client
    check_token(
        &[],
        Owner::Service("svc"),
        Client::Service("svc"),
        &set(&["read:services:name", "access:services"]),
        &[
            "access:services!service=svc",
            "read:services:name!service=svc",
        ],
    );
}

/// A share folded into bob's scopes lets bob's OAuth token reach alice's
/// server.
#[test]
fn shared_server_access() {
    let bob = Owner::User("bob");
    let mut owner = expand(&raw(&["self"]), ExpandContext::owner(bob), &reg());
    owner.extend_from(&set(&["access:servers!server=alice/"]));
    let client = Client::Server {
        user: "alice",
        server: "",
    };
    check_token(
        &[],
        bob,
        client,
        &owner,
        &[
            "access:servers!server=alice/",
            "read:users:groups!user=bob",
            "read:users:name!user=bob",
        ],
    );
    check_token(
        &[],
        bob,
        client,
        &expand(&raw(&["self"]), ExpandContext::owner(bob), &reg()),
        &["read:users:groups!user=bob", "read:users:name!user=bob"],
    );
}

#[test]
fn whoami_lists_only_held_scopes() {
    // a service whose roles do not include read:services:name
    let held = set(&["list:users"]);
    let who = whoami(&held, Owner::Service("culler"));
    assert_eq!(who.scopes, ["list:users"]);
    assert_eq!(
        who.model_scopes.to_strings_sorted(),
        ["list:users", "read:services:name!service=culler"]
    );
    // a user with no roles at all
    let who = whoami(&ScopeSet::new(), ALICE);
    assert!(who.scopes.is_empty());
    assert_eq!(
        who.model_scopes.to_strings_sorted(),
        ["read:users:groups!user=alice", "read:users:name!user=alice"]
    );
}

#[test]
fn token_creation_checks() {
    let alice = alice_owner_scopes();
    let check = |req: &[&str], owner_scopes: &ScopeSet| {
        check_token_scopes(
            &raw(req),
            ALICE,
            Some(Client::Hub),
            owner_scopes,
            &members(G),
            &reg(),
        )
    };
    assert_eq!(check(&["inherit"], &ScopeSet::new()), Ok(()));
    assert_eq!(check(&[], &ScopeSet::new()), Ok(()));
    assert_eq!(check(&["read:users!user", "tokens!user"], &alice), Ok(()));
    assert_eq!(
        check(&["access:servers!server"], &ScopeSet::new()),
        Ok(()),
        "expands to nothing"
    );
    assert_eq!(
        check(&["read:users!user"], &owned(&["read:users!group=g"])),
        Ok(())
    );
    let err = check(&["inherit", "read:hub", "read:users!user"], &alice).unwrap_err();
    assert_eq!(
        err,
        ExcessScopesError {
            excess: vec!["read:hub".into()],
            owner: "User alice".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "Not assigning requested scopes read:hub not held by User alice"
    );
    let err = check(&["read:users"], &alice).unwrap_err();
    assert_eq!(
        err.excess,
        [
            "read:users",
            "read:users:activity",
            "read:users:groups",
            "read:users:name"
        ]
    );
}
