//! The pure half of the LDAP authenticator, by its outputs.

use super::*;

fn cfg() -> LdapConfig {
    LdapConfig {
        server_address: "ldap.example.org".into(),
        bind_dn_template: Templates::One("uid={username},ou=people,dc=example,dc=org".into()),
        ..Default::default()
    }
}

#[test]
fn filter_values_are_escaped_as_python_ldap3_does() {
    let cases = [
        ("alice", "alice"),
        ("*)(uid=*", "\\2a\\29\\28uid=\\2a"),
        ("a\\b", "a\\5cb"),
        ("nul\0", "nul\\00"),
        ("åsa", "åsa"),
    ];
    for (input, want) in cases {
        assert_eq!(escape_filter(input), want, "{input:?}");
    }
}

#[test]
fn rdn_values_are_escaped_as_python_ldap3_does() {
    let cases = [
        ("alice", "alice"),
        ("a,ou=admins", "a\\,ou\\=admins"),
        ("x+y\"<>;", "x\\+y\\\"\\<\\>\\;"),
        ("#lead", "\\#lead"),
        (" lead", "\\ lead"),
        ("trail ", "trail\\ "),
        ("back\\slash", "back\\\\slash"),
    ];
    for (input, want) in cases {
        assert_eq!(escape_rdn(input), want, "{input:?}");
    }
}

#[test]
fn templates_format_named_fields_like_str_format() {
    let f = [("username", "al\\,ice"), ("uid", "u")];
    let cases = [
        ("uid={username},dc=x", "uid=al\\,ice,dc=x"),
        ("(|(a={uid})(b={uid}))", "(|(a=u)(b=u))"),
        ("{{literal}} {username}", "{literal} al\\,ice"),
        ("{unknown}", "{unknown}"),
        ("unbalanced { brace", "unbalanced { brace"),
        ("", ""),
    ];
    for (t, want) in cases {
        assert_eq!(format_template(t, &f), want, "{t:?}");
    }
}

#[test]
fn config_is_checked_like_ldapauthenticators_validators() {
    let ok = cfg().resolve().expect("valid");
    assert_eq!(ok.url(), "ldap://ldap.example.org:389");
    let tls = LdapConfig {
        use_ssl: Some(true),
        ..cfg()
    }
    .resolve()
    .unwrap();
    assert_eq!(
        (tls.tls_strategy.as_str(), tls.url()),
        ("on_connect", "ldaps://ldap.example.org:636".to_string())
    );
    let port = LdapConfig {
        server_port: Some(3389),
        server_address: "::1".into(),
        ..cfg()
    };
    assert_eq!(port.url(), "ldap://[::1]:3389");
    // A list of templates, blank entries dropped; a string works too.
    let many: LdapConfig = toml::from_str(
        "server_address = 'x'\nbind_dn_template = ['', 'uid={username},ou=a', 'uid={username},ou=b']",
    )
    .unwrap();
    assert_eq!(many.bind_dn_template.list().len(), 2);

    // python-ldap3's Server forms of the address.
    for (addr, url, strategy) in [
        (
            "ldaps://ad.example.org",
            "ldaps://ad.example.org:636",
            "on_connect",
        ),
        (
            "ldap://ad.example.org:3389/",
            "ldap://ad.example.org:3389",
            "before_bind",
        ),
        (
            "ad.example.org:1389",
            "ldap://ad.example.org:1389",
            "before_bind",
        ),
        ("[::1]:1389", "ldap://[::1]:1389", "before_bind"),
        ("::1", "ldap://[::1]:389", "before_bind"),
    ] {
        let c = LdapConfig {
            server_address: addr.into(),
            ..cfg()
        }
        .resolve()
        .unwrap_or_else(|e| panic!("{addr}: {e}"));
        assert_eq!(
            (c.url(), c.tls_strategy.as_str()),
            (url.to_string(), strategy),
            "{addr}"
        );
    }
    let bad: Vec<(LdapConfig, &str)> = vec![
        (
            LdapConfig {
                server_address: "http://x".into(),
                ..cfg()
            },
            "is not a host",
        ),
        (
            LdapConfig {
                server_address: "x:notaport".into(),
                ..cfg()
            },
            "is not a host",
        ),
        (
            LdapConfig {
                server_address: String::new(),
                ..cfg()
            },
            "server_address is required",
        ),
        (
            LdapConfig {
                tls_strategy: "always".into(),
                ..cfg()
            },
            "tls_strategy",
        ),
        (
            LdapConfig {
                bind_dn_template: Templates::One(String::new()),
                ..cfg()
            },
            "either lookup_dn or bind_dn_template",
        ),
        (
            LdapConfig {
                lookup_dn: true,
                ..cfg()
            },
            "lookup_dn needs",
        ),
        (
            LdapConfig {
                allowed_groups: vec!["cn=g".into()],
                group_attributes: vec![],
                ..cfg()
            },
            "allowed_groups requires",
        ),
        (
            LdapConfig {
                valid_username_regex: "(".into(),
                ..cfg()
            },
            "valid_username_regex",
        ),
    ];
    for (c, want) in bad {
        let e = c.resolve().expect_err(want);
        assert!(e.contains(want), "{e:?} should mention {want:?}");
    }
}
