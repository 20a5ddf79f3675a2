//! List endpoints: unfiltered, restricted, wrong filter kind, missing.

use super::{members, set, Groups};
use crate::{list_groups, list_services, list_users, Builtin, ListDenied, ListGrant, ScopeSet};

const G: Groups = &[("g", &["carol"])];

type ListFn = fn(&ScopeSet) -> Result<ListGrant, ListDenied>;

/// Expected `(users, groups, services)` of a restricted grant, or the denial.
type Expected = Result<
    (
        &'static [&'static str],
        &'static [&'static str],
        &'static [&'static str],
    ),
    ListDenied,
>;

#[track_caller]
fn check_list(f: ListFn, held: &[&str], expected: Expected) {
    let got = f(&set(held)).map(|grant| match grant {
        ListGrant::All => None,
        ListGrant::Only(filters) => Some(filters),
    });
    match (got, expected) {
        (Ok(None), Ok(_)) => panic!("{held:?}: expected a restricted grant, got All"),
        (Ok(Some(f)), Ok((users, groups, services))) => {
            let v = |s: &std::collections::BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
            assert_eq!(v(f.users()), users, "{held:?}");
            assert_eq!(v(f.groups()), groups, "{held:?}");
            assert_eq!(v(f.services()), services, "{held:?}");
        }
        (got, expected) => assert_eq!(got.map(|_| ()), expected.map(|_| ()), "{held:?}"),
    }
}

#[test]
fn list_grants() {
    let forbidden = |required| Err(ListDenied::Forbidden { required });
    assert_eq!(list_users(&set(&["list:users"])), Ok(ListGrant::All));
    assert_eq!(list_groups(&set(&["list:groups"])), Ok(ListGrant::All));
    assert_eq!(
        list_services(&set(&["list:services", "read:services"])),
        Ok(ListGrant::All)
    );
    check_list(
        list_users,
        &["list:users!user=alice"],
        Ok((&["alice"], &[], &[])),
    );
    check_list(
        list_users,
        &["list:users!user=alice", "list:users!group=g"],
        Ok((&["alice"], &["g"], &[])),
    );
    check_list(
        list_users,
        &["list:users!server=alice/"],
        Err(ListDenied::InvalidFilter),
    );
    check_list(
        list_users,
        &["list:users!service=s"],
        Err(ListDenied::InvalidFilter),
    );
    check_list(list_users, &["read:users"], forbidden(Builtin::ListUsers));
    check_list(
        list_groups,
        &["list:groups!group=g"],
        Ok((&[], &["g"], &[])),
    );
    check_list(
        list_groups,
        &["list:groups!user=alice"],
        Err(ListDenied::InvalidFilter),
    );
    check_list(list_groups, &[], forbidden(Builtin::ListGroups));
    check_list(
        list_services,
        &["list:services!service=s"],
        Ok((&[], &[], &["s"])),
    );
    check_list(
        list_services,
        &["list:services!user=alice"],
        Ok((&["alice"], &[], &[])),
    );
    check_list(
        list_services,
        &["read:services"],
        forbidden(Builtin::ListServices),
    );
}

#[test]
fn list_membership() {
    let m = members(G);
    let users = list_users(&set(&["list:users!user=alice", "list:users!group=g"])).unwrap();
    assert!(users.allows_user("alice", &m));
    assert!(users.allows_user("carol", &m));
    assert!(!users.allows_user("bob", &m));
    assert!(ListGrant::All.allows_user("bob", &m));
    let groups = list_groups(&set(&["list:groups!group=g"])).unwrap();
    assert!(groups.allows_group("g") && !groups.allows_group("h"));
    let services = list_services(&set(&["list:services!user=alice"])).unwrap();
    assert!(!services.allows_service("alice"));
    let services = list_services(&set(&["list:services!service=s"])).unwrap();
    assert!(services.allows_service("s") && !services.allows_service("t"));
}
