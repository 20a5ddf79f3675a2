//! Scope parsing, filters and custom scope definitions.

use std::collections::BTreeMap;

use super::reg;
use crate::{CustomScope, CustomScopeError, Filter, FilterKind, Scope, ScopeError, ScopeRegistry};

/// Expected `(base, filter)` or the parse error.
type Expected = Result<(&'static str, Option<Filter>), ScopeError>;

#[track_caller]
fn check_parse(input: &str, expected: Expected) {
    let got = Scope::parse(input, &reg());
    match (got, expected) {
        (Ok(scope), Ok((base, filter))) => {
            assert_eq!(scope.base(), base, "{input}");
            assert_eq!(scope.filter(), filter.as_ref(), "{input}");
            assert_eq!(scope.to_string(), input, "round trip of {input}");
        }
        (got, expected) => assert_eq!(got.map(|_| ()), expected.map(|_| ()), "{input}"),
    }
}

fn s(v: &str) -> String {
    v.to_owned()
}

#[test]
fn parse_table() {
    use Filter::*;
    let unknown_filter = |scope: &str, filter: &str| ScopeError::UnknownFilter {
        scope: s(scope),
        filter: s(filter),
    };
    let table: Vec<(&str, Expected)> = vec![
        ("read:users", Ok(("read:users", None))),
        (
            "read:users!user=alice",
            Ok(("read:users", Some(User(s("alice"))))),
        ),
        (
            "read:servers!server=alice/gpu",
            Ok(("read:servers", Some(Server(s("alice/gpu"))))),
        ),
        (
            "read:servers!server=alice/",
            Ok(("read:servers", Some(Server(s("alice/"))))),
        ),
        (
            "read:groups!group=g",
            Ok(("read:groups", Some(Group(s("g"))))),
        ),
        (
            "access:services!service=s",
            Ok(("access:services", Some(Service(s("s"))))),
        ),
        (
            "users:activity!user",
            Ok(("users:activity", Some(UserTemplate))),
        ),
        (
            "access:servers!server",
            Ok(("access:servers", Some(ServerTemplate))),
        ),
        (
            "access:services!service",
            Ok(("access:services", Some(ServiceTemplate))),
        ),
        ("self", Ok(("self", None))),
        ("inherit", Ok(("inherit", None))),
        ("(no_scope)", Ok(("(no_scope)", None))),
        ("start:servers", Ok(("start:servers", None))),
        (
            "read:users!user=a=b",
            Ok(("read:users", Some(User(s("a=b"))))),
        ),
        ("read:user", Err(ScopeError::UnknownScope(s("read:user")))),
        (
            "read:user!user=x",
            Err(ScopeError::UnknownScope(s("read:user!user=x"))),
        ),
        ("all", Err(ScopeError::DraftAll)),
        ("custom:foo", Err(ScopeError::UnknownScope(s("custom:foo")))),
        (
            "read:users!group",
            Err(unknown_filter("read:users!group", "group")),
        ),
        (
            "read:users!foo=bar",
            Err(unknown_filter("read:users!foo=bar", "foo=bar")),
        ),
        ("read:users!", Err(unknown_filter("read:users!", ""))),
        (
            "read:users!user=",
            Err(ScopeError::EmptyFilterValue(s("read:users!user="))),
        ),
        (
            "read:groups!group=",
            Err(ScopeError::EmptyFilterValue(s("read:groups!group="))),
        ),
        (
            "read:servers!server=alice",
            Err(ScopeError::InvalidServerFilter(s(
                "read:servers!server=alice",
            ))),
        ),
        (
            "read:servers!server=/x",
            Err(ScopeError::InvalidServerFilter(s("read:servers!server=/x"))),
        ),
        (
            "self!user=alice",
            Err(ScopeError::FilteredMetascope(s("self!user=alice"))),
        ),
        (
            "inherit!user",
            Err(ScopeError::FilteredMetascope(s("inherit!user"))),
        ),
    ];
    for (input, expected) in table {
        check_parse(input, expected);
    }
}

#[test]
fn filter_kinds_and_templates() {
    let table = [
        (Filter::User(s("a")), FilterKind::User, false, "user=a"),
        (
            Filter::server("a", ""),
            FilterKind::Server,
            false,
            "server=a/",
        ),
        (
            Filter::server("a", "gpu"),
            FilterKind::Server,
            false,
            "server=a/gpu",
        ),
        (Filter::Group(s("g")), FilterKind::Group, false, "group=g"),
        (
            Filter::Service(s("s")),
            FilterKind::Service,
            false,
            "service=s",
        ),
        (Filter::UserTemplate, FilterKind::User, true, "user"),
        (Filter::ServerTemplate, FilterKind::Server, true, "server"),
        (
            Filter::ServiceTemplate,
            FilterKind::Service,
            true,
            "service",
        ),
    ];
    for (filter, kind, template, text) in table {
        assert_eq!(filter.kind(), kind, "{text}");
        assert_eq!(filter.is_template(), template, "{text}");
        assert_eq!(filter.to_string(), text);
    }
}

fn custom(entries: &[(&str, &[&str])]) -> BTreeMap<String, CustomScope> {
    entries
        .iter()
        .map(|(name, subs)| {
            let def = CustomScope {
                description: format!("about {name}"),
                subscopes: subs.iter().map(|x| s(x)).collect(),
            };
            (s(name), def)
        })
        .collect()
}

#[track_caller]
fn check_custom(entries: &[(&str, &[&str])], expected: Result<(), CustomScopeError>) {
    assert_eq!(
        ScopeRegistry::with_custom(custom(entries)).map(|_| ()),
        expected
    );
}

#[test]
fn custom_scope_definitions() {
    let invalid = |n: &str| Err(CustomScopeError::InvalidName(s(n)));
    check_custom(&[("custom:okay", &[])], Ok(()));
    check_custom(
        &[("custom:parent", &["custom:child"]), ("custom:child", &[])],
        Ok(()),
    );
    check_custom(&[("custom:jupyter_server:read:*", &[])], Ok(()));
    check_custom(&[("custom:a1_", &[])], Ok(()));
    check_custom(&[("read:users", &[])], invalid("read:users"));
    check_custom(&[("notcustom:prefix", &[])], invalid("notcustom:prefix"));
    check_custom(&[("custom:!illegal", &[])], invalid("custom:!illegal"));
    check_custom(&[("custom:ab", &[])], invalid("custom:ab"));
    check_custom(&[("custom:abc-", &[])], invalid("custom:abc-"));
    check_custom(&[("custom:abc:", &[])], invalid("custom:abc:"));
    check_custom(&[("custom:-abc", &[])], invalid("custom:-abc"));
    check_custom(&[("custom:Abc", &[])], invalid("custom:Abc"));
    check_custom(
        &[("custom:bad", &["read:users"])],
        Err(CustomScopeError::NonCustomSubscope {
            scope: s("custom:bad"),
            subscope: s("read:users"),
        }),
    );
    check_custom(
        &[("custom:nosub", &["custom:undefined"])],
        Err(CustomScopeError::UndefinedSubscope {
            scope: s("custom:nosub"),
            subscope: s("custom:undefined"),
        }),
    );
}

#[test]
fn custom_scopes_parse_once_defined() {
    let registry = ScopeRegistry::with_custom(custom(&[("custom:foo:read", &[])])).unwrap();
    let scope = Scope::parse("custom:foo:read!user=alice", &registry).unwrap();
    assert_eq!(scope.base(), "custom:foo:read");
    assert_eq!(
        registry.description("custom:foo:read"),
        Some("about custom:foo:read")
    );
    assert_eq!(
        registry.description("read:hub"),
        Some("Read detailed information about the Hub.")
    );
    assert_eq!(registry.description("custom:nope"), None);
}
