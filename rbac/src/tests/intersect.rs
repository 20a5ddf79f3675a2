//! Intersection, including upstream's own test tables
//! (`test_intersect_expanded_scopes`, `test_intersect_groups`).

use super::{members, set, sorted, Groups};
use crate::NoGroups;

/// Runs both directions: intersection is symmetric.
#[track_caller]
fn check_intersect(left: &[&str], right: &[&str], groups: Groups, expected: &[&str]) {
    let membership = members(groups);
    for (a, b) in [(left, right), (right, left)] {
        let got = set(a).intersect(&set(b), &membership).to_strings_sorted();
        assert_eq!(got, sorted(expected), "{a:?} ∩ {b:?}");
    }
}

const NONE: Groups = &[];

#[test]
fn upstream_intersections_without_groups() {
    check_intersect(&[], &[], NONE, &[]);
    check_intersect(&[], &["users"], NONE, &[]);
    check_intersect(&["users!user=x", "users!group=y"], &[], NONE, &[]);
    check_intersect(
        &["users!user=x", "users!user=y", "users!group=y"],
        &["users!user=x"],
        NONE,
        &["users!user=x"],
    );
    check_intersect(
        &["users!user=x", "users!group=y"],
        &["users!user=x", "users!group=y", "users!user=z"],
        NONE,
        &["users!user=x", "users!group=y"],
    );
    check_intersect(
        &["users!group=y", "users!user=z"],
        &["users!user=x"],
        NONE,
        &[],
    );
    check_intersect(
        &["users!group=y", "users!user=z"],
        &["users!server=x/y"],
        NONE,
        &[],
    );
    check_intersect(
        &["users!group=y", "users!user=x"],
        &["users!server=x/y"],
        NONE,
        &["users!server=x/y"],
    );
    check_intersect(
        &["read:servers!user=abc"],
        &["read:servers!server=abc/xyz"],
        NONE,
        &["read:servers!server=abc/xyz"],
    );
    check_intersect(
        &["read:servers!user=abc"],
        &["read:servers!server=abcd/xyz"],
        NONE,
        &[],
    );
}

#[test]
fn upstream_intersections_with_groups() {
    const G1: Groups = &[("gx", &["ux"])];
    const G2: Groups = &[("gx", &["ux"]), ("gy", &["uy"])];
    check_intersect(
        &["users!group=gx"],
        &["users!user=ux"],
        G1,
        &["users!user=ux"],
    );
    check_intersect(
        &["read:users!group=gx"],
        &["read:users!user=nosuchuser"],
        NONE,
        &[],
    );
    check_intersect(
        &["read:users!group=gx"],
        &["read:users!server=nosuchuser/server"],
        NONE,
        &[],
    );
    check_intersect(
        &["read:users!group=gx"],
        &["read:users!server=ux/server"],
        G1,
        &["read:users!server=ux/server"],
    );
    check_intersect(
        &["read:users!group=gx"],
        &["read:users!server=ux/server", "read:users!user=uy"],
        G2,
        &["read:users!server=ux/server"],
    );
    check_intersect(
        &["read:users!group=gy"],
        &["read:users!server=ux/server", "read:users!user=uy"],
        G2,
        &["read:users!user=uy"],
    );
    // group > user > server hierarchy, both directions at once
    check_intersect(
        &["read:servers!server=ux/server", "read:servers!group=gy"],
        &["read:servers!server=uy/server", "read:servers!user=ux"],
        G2,
        &[
            "read:servers!server=ux/server",
            "read:servers!server=uy/server",
        ],
    );
    check_intersect(
        &["read:servers!user=ux", "read:servers!group=gy"],
        &["read:servers!user=uy", "read:servers!group=gx"],
        G2,
        &["read:servers!user=ux", "read:servers!user=uy"],
    );
}

#[test]
fn containment_rules() {
    const G: Groups = &[("g", &["alice"]), ("h", &["bob"])];
    // unfiltered contains everything
    check_intersect(&["read:users"], &["read:users"], G, &["read:users"]);
    check_intersect(
        &["read:users"],
        &["read:users!user=alice"],
        G,
        &["read:users!user=alice"],
    );
    check_intersect(
        &["read:users"],
        &["read:users!group=g", "read:users!server=bob/"],
        G,
        &["read:users!group=g", "read:users!server=bob/"],
    );
    // user in group
    check_intersect(
        &["read:users!user=alice"],
        &["read:users!group=g"],
        G,
        &["read:users!user=alice"],
    );
    check_intersect(&["read:users!user=alice"], &["read:users!group=h"], G, &[]);
    // server under user / under owner's group
    check_intersect(
        &["servers!server=alice/x"],
        &["servers!user=alice"],
        G,
        &["servers!server=alice/x"],
    );
    check_intersect(&["servers!server=alice/x"], &["servers!user=bob"], G, &[]);
    check_intersect(
        &["servers!server=alice/x"],
        &["servers!group=g"],
        G,
        &["servers!server=alice/x"],
    );
    check_intersect(
        &["servers!server=alice/x"],
        &["servers!server=alice/y"],
        G,
        &[],
    );
    // groups only match the same group, even when members overlap
    check_intersect(&["read:groups!group=g"], &["read:groups!group=h"], G, &[]);
    check_intersect(
        &["read:groups!group=g"],
        &["read:groups!group=g"],
        G,
        &["read:groups!group=g"],
    );
    check_intersect(
        &["read:users!group=g"],
        &["read:users!group=h", "read:users!group=g"],
        G,
        &["read:users!group=g"],
    );
    // services
    check_intersect(
        &["access:services!service=a"],
        &["access:services!service=b"],
        G,
        &[],
    );
    check_intersect(
        &["access:services!service=a"],
        &["access:services!service=a"],
        G,
        &["access:services!service=a"],
    );
    check_intersect(
        &["access:services!service=a"],
        &["access:services!user=alice"],
        G,
        &[],
    );
    // bases must match
    check_intersect(&["read:users"], &["read:servers"], G, &[]);
    // a server under a surviving user is kept, not reduced away
    check_intersect(
        &["tokens!user=a"],
        &["tokens!user=a", "tokens!server=a/s"],
        NONE,
        &["tokens!user=a", "tokens!server=a/s"],
    );
}

#[test]
fn no_groups_membership_never_matches_groups() {
    let got = set(&["read:users!user=alice"]).intersect(&set(&["read:users!group=g"]), &NoGroups);
    assert!(got.is_empty());
}
