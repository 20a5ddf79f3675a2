//! Default roles (contract §2.5) and role validation.

use std::collections::BTreeMap;

use super::{reg, strings};
use crate::{
    default_role, default_roles, roles_to_scopes, validate_role, validate_role_name, CustomScope,
    Role, RoleError, ScopeError, ScopeRegistry,
};

#[track_caller]
fn check_default_role(name: &str, description: &str, scopes: &[&str]) {
    let role = default_role(name).unwrap_or_else(|| panic!("default role {name}"));
    assert_eq!(role.description.as_deref(), Some(description));
    assert_eq!(role.scopes, scopes, "scopes of role {name}");
    assert_eq!(
        validate_role(&role, &reg()).map(|s| s.len()),
        Ok(scopes.len())
    );
}

#[test]
fn default_role_table() {
    check_default_role("user", "Standard user privileges", &["self"]);
    check_default_role(
        "admin",
        "Elevated privileges (can do anything)",
        &[
            "admin-ui",
            "admin:users",
            "admin:servers",
            "admin:services",
            "tokens",
            "admin:groups",
            "list:services",
            "read:services",
            "read:hub",
            "proxy",
            "shutdown",
            "access:services",
            "access:servers",
            "read:roles",
            "read:metrics",
            "shares",
        ],
    );
    check_default_role(
        "server",
        "Post activity only",
        &["users:activity!user", "access:servers!server"],
    );
    check_default_role(
        "token",
        "Token with same permissions as its owner",
        &["inherit"],
    );
    let names: Vec<String> = default_roles().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["user", "admin", "server", "token"]);
    assert_eq!(default_role("nope"), None);
}

#[test]
fn role_names() {
    let ok = ["abc", "my-role", "a.b_c~d1", "r00"];
    let bad = [
        "ab",
        "Admin",
        "1role",
        "role-",
        "role_",
        "has space",
        "rôle",
        "",
    ];
    for name in ok {
        assert_eq!(validate_role_name(name), Ok(()), "{name}");
    }
    for name in bad {
        assert_eq!(
            validate_role_name(name),
            Err(RoleError::InvalidName(name.to_owned())),
            "{name}"
        );
    }
    assert!(validate_role_name(&"a".repeat(255)).is_ok());
    assert!(validate_role_name(&"a".repeat(256)).is_err());
}

fn role(name: &str, description: Option<&str>, scopes: &[&str]) -> Role {
    Role {
        name: name.to_owned(),
        description: description.map(str::to_owned),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    }
}

#[track_caller]
fn check_validate(r: Role, registry: &ScopeRegistry, expected: Result<usize, RoleError>) {
    assert_eq!(
        validate_role(&r, registry).map(|s| s.len()),
        expected,
        "{r:?}"
    );
}

#[test]
fn role_validation() {
    let b = reg();
    let scope_err = |role: &str, source| {
        Err(RoleError::Scope {
            role: role.to_owned(),
            source,
        })
    };
    check_validate(
        role("reader", None, &["read:users", "list:users!group=g"]),
        &b,
        Ok(2),
    );
    check_validate(role("empty", None, &[]), &b, Ok(0));
    check_validate(
        role("bad", None, &["read:userz"]),
        &b,
        scope_err("bad", ScopeError::UnknownScope("read:userz".into())),
    );
    check_validate(
        role("draft", None, &["all"]),
        &b,
        scope_err("draft", ScopeError::DraftAll),
    );
    check_validate(
        role("x", None, &["read:users"]),
        &b,
        Err(RoleError::InvalidName("x".into())),
    );
    // admin may be listed (to assign users) but not redefined
    check_validate(role("admin", None, &[]), &b, Ok(0));
    check_validate(default_role("admin").unwrap(), &b, Ok(16));
    check_validate(
        role("admin", Some("mine"), &[]),
        &b,
        Err(RoleError::AdminOverride {
            field: "description",
        }),
    );
    check_validate(
        role("admin", None, &["read:hub"]),
        &b,
        Err(RoleError::AdminOverride { field: "scopes" }),
    );
    // custom scopes need the registry that defines them
    let custom: BTreeMap<String, CustomScope> = [(
        "custom:x:read".to_owned(),
        CustomScope {
            description: "x".into(),
            subscopes: vec![],
        },
    )]
    .into();
    let with_custom = ScopeRegistry::with_custom(custom).unwrap();
    check_validate(
        role("custom", None, &["custom:x:read!group=g"]),
        &with_custom,
        Ok(1),
    );
    check_validate(
        role("custom", None, &["custom:x:read"]),
        &b,
        scope_err("custom", ScopeError::UnknownScope("custom:x:read".into())),
    );
}

#[test]
fn roles_union_to_raw_scopes() {
    let roles = [
        default_role("user").unwrap(),
        default_role("server").unwrap(),
        role("extra", None, &["self", "read:hub"]),
    ];
    let scopes = roles_to_scopes(&roles, &reg()).unwrap();
    assert_eq!(
        strings(&scopes),
        [
            "access:servers!server",
            "read:hub",
            "self",
            "users:activity!user"
        ]
    );
    let bad = [role("oops", None, &["nope"])];
    assert!(roles_to_scopes(&bad, &reg()).is_err());
}
