//! The pure half of the generic OAuth login, by its outputs.

use std::collections::BTreeSet;

use serde_json::json;

use super::*;

fn cfg() -> OAuthConfig {
    OAuthConfig {
        client_id: "hub".into(),
        client_secret: "s3cret".into(),
        authorize_url: "https://idp.example/authorize".into(),
        token_url: "https://idp.example/token".into(),
        userdata_url: "https://idp.example/userinfo".into(),
        scope: vec!["openid".into(), "profile".into()],
        ..Default::default()
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn query_of(url: &str) -> Vec<(String, String)> {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

#[test]
fn resolve_fills_from_oauthenticators_environment_and_checks_like_its_validators() {
    let env = |k: &str| match k {
        "OAUTH_CLIENT_ID" => Some("from-env".to_string()),
        "OAUTH2_TOKEN_URL" => Some("https://t".to_string()),
        _ => None,
    };
    let c = OAuthConfig {
        client_id: String::new(),
        token_url: String::new(),
        ..cfg()
    }
    .resolve(env, false)
    .expect("valid");
    assert_eq!(
        (c.client_id.as_str(), c.token_url.as_str()),
        ("from-env", "https://t")
    );
    assert_eq!(c.auth_state_groups_key, "oauth_user.groups");
    // The deprecated claim_groups_key names a claim of the user info.
    let c = OAuthConfig {
        claim_groups_key: Some("roles".into()),
        ..cfg()
    }
    .resolve(no_env, true)
    .unwrap();
    assert_eq!(c.auth_state_groups_key, "oauth_user.roles");

    let bad: [(OAuthConfig, bool, &str); 8] = [
        (
            OAuthConfig {
                authorize_url: String::new(),
                ..cfg()
            },
            false,
            "authorize_url is required",
        ),
        (
            OAuthConfig {
                userdata_url: String::new(),
                ..cfg()
            },
            false,
            "userdata_url is required",
        ),
        (
            OAuthConfig {
                userdata_from_id_token: true,
                ..cfg()
            },
            false,
            "cannot specify both",
        ),
        (
            OAuthConfig {
                userdata_token_method: "body".into(),
                ..cfg()
            },
            false,
            "userdata_token_method",
        ),
        (
            OAuthConfig {
                allowed_scopes: vec!["email".into()],
                ..cfg()
            },
            false,
            "subset of scope",
        ),
        (
            OAuthConfig {
                admin_groups: vec!["a".into()],
                ..cfg()
            },
            false,
            "require auth.manage_groups",
        ),
        (
            OAuthConfig {
                validate_server_cert: false,
                ..cfg()
            },
            false,
            "ca_file",
        ),
        (
            OAuthConfig {
                claim_groups_key: Some("g".into()),
                ..cfg()
            },
            false,
            "claim_groups_key requires",
        ),
    ];
    // Variables for keys with a default apply while the key holds it.
    let env2 = |k: &str| match k {
        "OAUTH2_USERNAME_KEY" => Some("email".to_string()),
        "LOGIN_SERVICE" => Some("Keycloak".to_string()),
        "OAUTH2_BASIC_AUTH" => Some("True".to_string()),
        "OAUTH2_GROUPS_KEY" => Some("roles".to_string()),
        _ => None,
    };
    let c = cfg().resolve(env2, true).unwrap();
    assert_eq!(
        (c.username_claim.as_str(), c.login_service.as_str()),
        ("email", "Keycloak")
    );
    assert!(c.basic_auth);
    assert_eq!(c.auth_state_groups_key, "oauth_user.roles");
    let set = OAuthConfig {
        username_claim: "sub".into(),
        ..cfg()
    };
    assert_eq!(set.resolve(env2, false).unwrap().username_claim, "sub");
    // oauthenticator's deprecated names still read.
    let old: OAuthConfig = toml::from_str(
        "username_key = 'email'\nextra_params = { audience = 'a' }\ntls_verify = true",
    )
    .expect("deprecated names");
    assert_eq!(old.username_claim, "email");
    assert_eq!(old.token_params["audience"], "a");
    for (c, manage, want) in bad {
        let e = c.resolve(no_env, manage).expect_err(want);
        assert!(e.contains(want), "{e:?} should mention {want:?}");
    }
}

#[test]
fn the_authorize_redirect_carries_what_tornados_authorize_redirect_sends() {
    let mut c = cfg();
    c.extra_authorize_params
        .insert("prompt".into(), "login".into());
    let url = authorize_redirect(&c, "https://hub/hub/oauth_callback", "st", Some("ch"));
    assert!(url.starts_with("https://idp.example/authorize?"));
    let q = query_of(&url);
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("response_type"), Some("code"));
    assert_eq!(get("client_id"), Some("hub"));
    assert_eq!(get("redirect_uri"), Some("https://hub/hub/oauth_callback"));
    assert_eq!(get("scope"), Some("openid profile"));
    assert_eq!(get("state"), Some("st"));
    assert_eq!(get("code_challenge"), Some("ch"));
    assert_eq!(get("code_challenge_method"), Some("S256"));
    assert_eq!(get("prompt"), Some("login"));
    // An authorize URL with a query of its own keeps it.
    c.authorize_url = "https://idp.example/auth?tenant=x".into();
    assert!(authorize_redirect(&c, "r", "s", None)
        .starts_with("https://idp.example/auth?tenant=x&response_type=code"));
    assert!(!authorize_redirect(&c, "r", "s", None).contains("code_challenge"));
    // Tornado's order; a key of extra_authorize_params replaces the same key (a dict
    // update), and no scope is sent when none is configured.
    c.scope.clear();
    c.extra_authorize_params
        .insert("response_type".into(), "code id_token".into());
    let keys = query_of(&authorize_redirect(&c, "r", "s", Some("ch")));
    let names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "tenant",
            "response_type",
            "redirect_uri",
            "client_id",
            "prompt",
            "code_challenge",
            "code_challenge_method",
            "state"
        ]
    );
    assert_eq!(keys[1].1, "code id_token");
}

#[test]
fn state_round_trips_and_garbage_is_an_empty_state() {
    let s = LoginState {
        state_id: "abc".into(),
        next_url: Some("/hub/token".into()),
        code_verifier: Some("v".into()),
    };
    assert_eq!(decode_state(&encode_state(&s)), s);
    // oauthenticator's own encoding of {"state_id": "abc"} (padded URL-safe base64).
    assert_eq!(url_state("abc"), "eyJzdGF0ZV9pZCI6ImFiYyJ9");
    assert_eq!(decode_state("eyJzdGF0ZV9pZCI6ImFiYyJ9").state_id, "abc");
    assert_eq!(
        decode_state("eyJzdGF0ZV9pZCI6ImFiYyJ9".trim_end_matches('=')).state_id,
        "abc"
    );
    for junk in ["", "!!!", "bm90IGpzb24="] {
        assert_eq!(decode_state(junk), LoginState::default(), "{junk}");
    }
}

#[test]
fn next_is_forced_to_a_local_path() {
    let cases = [
        ("/hub/home?x=1", Some("/hub/home?x=1")),
        ("https://evil.example/steal", Some("/steal")),
        ("//evil.example/x", Some("/x")),
        ("https://evil.example", Some("/")),
        ("relative/path", Some("/relative/path")),
        ("/\\evil.example", Some("/%5Cevil.example")),
        ("/\t/evil.example/x", Some("/x")),
        ("/\n/evil.example", Some("/")),
        ("/hub/caf\u{e9} x\u{7}", Some("/hub/caf%C3%A9%20x%07")),
        ("", None),
    ];
    for (input, want) in cases {
        assert_eq!(local_next(input).as_deref(), want, "{input}");
    }
}

#[test]
fn pkce_is_rfc7636_s256() {
    // RFC 7636 appendix B.
    let random = [
        116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37,
        77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
    ];
    let (verifier, challenge) = pkce_pair(random);
    assert_eq!(verifier, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

#[test]
fn the_token_form_puts_client_credentials_in_the_body_unless_basic_auth() {
    let mut c = cfg();
    c.token_params.insert("audience".into(), "hub".into());
    let f = token_form(&c, "the-code", "https://hub/cb", Some("ver"));
    let keys: Vec<&str> = f.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "code",
            "grant_type",
            "redirect_uri",
            "code_verifier",
            "client_id",
            "client_secret",
            "audience"
        ]
    );
    c.basic_auth = true;
    let f = token_form(&c, "the-code", "https://hub/cb", None);
    assert!(!f
        .iter()
        .any(|(k, _)| k == "client_secret" || k == "client_id" || k == "code_verifier"));
}

#[test]
fn usernames_and_groups_come_from_the_configured_claims() {
    let info =
        json!({"username": "Alice", "sub": 42, "groups": ["staff", 7], "nested": {"g": ["x"]}});
    assert_eq!(username_from(&info, "username").unwrap(), "Alice");
    assert_eq!(username_from(&info, "sub").unwrap(), "42");
    assert!(username_from(&info, "email")
        .unwrap_err()
        .starts_with("No email found"));
    assert!(username_from(&json!({"username": ""}), "username").is_err());
    let state = json!({"oauth_user": info});
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(groups_at(&state, "oauth_user.groups"), set(&["staff", "7"]));
    assert_eq!(groups_at(&state, "oauth_user.nested.g"), set(&["x"]));
    assert_eq!(groups_at(&state, "oauth_user.missing"), set(&[]));
    assert_eq!(groups_at(&state, "oauth_user.username"), set(&[]));
}

#[test]
fn id_token_claims_check_audience_and_expiry() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jwt = |claims: serde_json::Value| {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims.to_string()))
    };
    let ok = id_token_claims(
        &jwt(json!({"aud": "hub", "exp": 200, "username": "a"})),
        "hub",
        100,
    );
    assert_eq!(ok.unwrap()["username"], "a");
    assert!(id_token_claims(&jwt(json!({"aud": ["x", "hub"]})), "hub", 100).is_ok());
    let fractional = json!({"aud": "hub", "exp": 100.5, "nbf": 99.5});
    assert!(id_token_claims(&jwt(fractional), "hub", 100).is_ok());
    let errs = [
        (jwt(json!({"aud": "other", "exp": 200})), "aud"),
        (jwt(json!({"exp": 200})), "aud"),
        (jwt(json!({"aud": "hub", "exp": 100})), "expired"),
        (jwt(json!({"aud": "hub", "exp": 99.9})), "expired"),
        (jwt(json!({"aud": "hub", "exp": "later"})), "not a number"),
        (jwt(json!({"aud": "hub", "nbf": 101})), "not yet valid"),
        ("not-a-jwt".to_string(), "not a JWT"),
        ("a.%%%.b".to_string(), "base64url"),
    ];
    for (t, want) in errs {
        let e = id_token_claims(&t, "hub", 100).unwrap_err();
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn admission_follows_oauthenticators_check_allowed() {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let (allowed, blocked, admins) = (s(&["al"]), s(&["bad"]), s(&["root"]));
    let (groups_ok, groups_admin, scopes) = (s(&["staff"]), s(&["ops"]), s(&["hub:use"]));
    let base = AllowConfig {
        allowed_users: &allowed,
        blocked_users: &blocked,
        admin_users: &admins,
        allowed_groups: &groups_ok,
        admin_groups: &groups_admin,
        allowed_scopes: &scopes,
        ..Default::default()
    };
    let id = |name: &str, groups: Option<&[&str]>, scopes: &[&str], exists: bool| Identity {
        name: name.into(),
        granted_scopes: s(scopes),
        groups: groups.map(|g| g.iter().map(|x| x.to_string()).collect()),
        exists,
    };
    let managed = AllowConfig {
        manage_groups: true,
        ..base.clone()
    };
    let all = AllowConfig {
        allow_all: true,
        ..base.clone()
    };
    let existing = AllowConfig {
        allow_existing_users: true,
        ..base.clone()
    };
    // (config, identity, expected): None = refused, Some(admin) = admitted.
    let cases: Vec<(&AllowConfig, Identity, Option<Option<bool>>)> = vec![
        (&base, id("al", None, &[], false), Some(None)),
        (&base, id("zed", None, &[], false), None),
        (&base, id("root", None, &[], false), Some(Some(true))),
        (&base, id("zed", None, &["hub:use", "x"], false), Some(None)),
        (&all, id("zed", None, &[], false), Some(None)),
        (&all, id("bad", None, &[], false), None),
        (&existing, id("zed", None, &[], true), Some(None)),
        (&existing, id("zed", None, &[], false), None),
        // Groups count only when managed; admin_groups then set the flag either way.
        (&base, id("zed", Some(&["staff"]), &[], false), None),
        (
            &managed,
            id("zed", Some(&["staff"]), &[], false),
            Some(Some(false)),
        ),
        (
            &managed,
            id("zed", Some(&["ops"]), &[], false),
            Some(Some(true)),
        ),
        (&managed, id("zed", Some(&["other"]), &[], false), None),
        (
            &managed,
            id("root", Some(&[]), &[], false),
            Some(Some(true)),
        ),
        (&managed, id("al", Some(&[]), &[], false), Some(Some(false))),
    ];
    for (i, (c, who, want)) in cases.into_iter().enumerate() {
        assert_eq!(admit(c, &who), want, "case {i}: {}", who.name);
    }
}
