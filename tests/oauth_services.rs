//! Logging in to a HubOAuth service: the hub registers the service's OAuth client
//! (`service-<name>`, its API token as the secret, `{base_url}services/<name>/oauth_callback`),
//! asks the user to confirm unless the service has `oauth_no_confirm`, and the code exchange
//! gives a token that identifies the user. As upstream's `init_services` and
//! `needs_oauth_confirm`.

mod support;

use rafthub::hub_config::{RoleConfig, ServiceConfig};
use reqwest::Method;
use serde_json::Value;
use support::browser::{Browser, Reply};
use support::Hubs;

const ASKS: &str = "asks-svc-token-0123456789";
const QUIET: &str = "quiet-svc-token-0123456789";

fn service(name: &str, token: &str, no_confirm: bool) -> ServiceConfig {
    ServiceConfig {
        name: name.into(),
        api_token: Some(token.into()),
        api_token_file: None,
        admin: false,
        url: Some("http://127.0.0.1:9".into()),
        display: true,
        command: vec![],
        environment: Default::default(),
        oauth_no_confirm: no_confirm,
    }
}

/// A role giving `users` access to every service.
fn service_users(users: &[&str]) -> RoleConfig {
    RoleConfig {
        name: "service-users".into(),
        description: String::new(),
        scopes: vec!["access:services".into()],
        users: users.iter().map(|u| u.to_string()).collect(),
        groups: vec![],
        services: vec![],
    }
}

fn authorize_path(service: &str, state: &str) -> String {
    format!(
        "/hub/api/oauth2/authorize?client_id=service-{service}&redirect_uri=%2Fservices%2F{service}%2Foauth_callback&response_type=code&state={state}"
    )
}

/// The authorize answer once the leader has registered the service's client (a leader duty
/// that runs just after start).
async fn authorize(b: &mut Browser, service: &str, state: &str) -> Reply {
    for _ in 0..100 {
        let r = b
            .send(Method::GET, &authorize_path(service, state), None)
            .await;
        if !r.body.contains("Invalid client") {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the client of service {service} was never registered");
}

/// Exchanges `code` at the token endpoint; (status, JSON body).
async fn exchange(h: &Hubs, service: &str, secret: &str, code: &str) -> (u16, Value) {
    let redirect = format!("/services/{service}/oauth_callback");
    let client_id = format!("service-{service}");
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id.as_str()),
        ("client_secret", secret),
        ("code", code),
        ("redirect_uri", redirect.as_str()),
    ];
    let (status, _, body) = token_request(h, &form).await;
    (status, body)
}

/// A raw token-endpoint request; (status, `WWW-Authenticate`, JSON body).
async fn token_request(h: &Hubs, form: &[(&str, &str)]) -> (u16, String, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/oauth2/token", h.api(0)))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, challenge, r.json().await.unwrap_or(Value::Null))
}

fn code_of(location: &str) -> String {
    let query = location.split_once('?').map(|x| x.1).unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {location}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_service_login_confirms_unless_no_confirm_and_identifies_the_user() {
    let h = Hubs::start_with(3, |cfg| {
        cfg.auth.kind = "dummy".into();
        cfg.hub.services.push(service("asks", ASKS, false));
        cfg.hub.services.push(service("quiet", QUIET, true));
        cfg.hub.roles.push(service_users(&["alice"]));
    })
    .await;
    h.wait_ready().await;
    let mut alice = Browser::new(&h.nodes[1].cfg.listen.api.to_string());
    alice.login("alice").await;

    // Upstream asks by default: the page, then the XSRF-checked POST redirects with a code.
    let r = authorize(&mut alice, "asks", "s1").await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert!(r.body.contains("Authorize access"), "{}", r.body);
    assert!(r.body.contains("JupyterHub service asks"), "{}", r.body);
    let xsrf = alice.xsrf();
    let r = alice
        .send(
            Method::POST,
            &authorize_path("asks", "s1"),
            Some(&[("_xsrf", xsrf.as_str())]),
        )
        .await;
    assert_eq!(r.status.as_u16(), 302, "{}", r.body);
    assert!(
        r.location.starts_with("/services/asks/oauth_callback?"),
        "{}",
        r.location
    );
    let (status, body) = exchange(&h, "asks", ASKS, &code_of(&r.location)).await;
    assert_eq!(status, 200, "{body}");

    // oauth_no_confirm: straight to the callback.
    let r = authorize(&mut alice, "quiet", "s2").await;
    assert_eq!(r.status.as_u16(), 302, "{}", r.body);
    assert!(
        r.location.starts_with("/services/quiet/oauth_callback?")
            && r.location.contains("state=s2"),
        "{}",
        r.location
    );
    let code = code_of(&r.location);
    // The secret is the service's API token; another secret is refused.
    let (status, _) = exchange(&h, "quiet", ASKS, &code).await;
    assert_eq!(status, 401);
    let (status, body) = exchange(&h, "quiet", QUIET, &code).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("access_token");
    let (_, me) = h.call_as(2, token, Method::GET, "/user", None).await;
    assert_eq!(me["name"], "alice", "{me}");

    // Without access:services the user is refused.
    let mut bob = Browser::new(&h.nodes[0].cfg.listen.api.to_string());
    bob.login("bob").await;
    let r = authorize(&mut bob, "quiet", "s3").await;
    assert_eq!(r.status.as_u16(), 403, "{}", r.body);
    h.shutdown().await;
}

/// The error answers of both endpoints, as upstream's oauthlib gives them: once the client
/// and its redirect URI are known, authorize errors go back to the client; the token
/// endpoint wants a code first, then an authenticated client (401 with a challenge); a
/// `redirect_uri` left out means the client's registered one, on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t11_oauth_errors_and_defaults_as_oauthlib() {
    let h = Hubs::start_with(1, |cfg| {
        cfg.auth.kind = "dummy".into();
        cfg.hub.services.push(service("quiet", QUIET, true));
        cfg.hub.roles.push(service_users(&["alice"]));
    })
    .await;
    let mut alice = Browser::new(&h.nodes[0].cfg.listen.api.to_string());
    alice.login("alice").await;
    authorize(&mut alice, "quiet", "s0").await;

    let base = "/hub/api/oauth2/authorize?client_id=service-quiet";
    for (query, location) in [
        (
            "&response_type=token&state=s1",
            "/services/quiet/oauth_callback?error=unsupported_response_type&state=s1",
        ),
        (
            "&state=s2",
            "/services/quiet/oauth_callback?error=invalid_request&error_description=Missing+response_type+parameter.&state=s2",
        ),
    ] {
        let r = alice
            .send(Method::GET, &format!("{base}{query}"), None)
            .await;
        assert_eq!(r.status.as_u16(), 302, "{query}: {}", r.body);
        assert_eq!(r.location, location, "{query}");
    }
    // No redirect_uri: the registered one, and a code.
    let r = alice
        .send(
            Method::GET,
            &format!("{base}&response_type=code&state=s3"),
            None,
        )
        .await;
    assert!(
        r.location
            .starts_with("/services/quiet/oauth_callback?code="),
        "{}",
        r.location
    );
    let code = code_of(&r.location);

    let grant = ("grant_type", "authorization_code");
    let client = ("client_id", "service-quiet");
    for (form, want, error) in [
        (
            vec![grant, client, ("client_secret", QUIET)],
            400,
            "invalid_request",
        ),
        (
            vec![grant, client, ("code", code.as_str())],
            401,
            "invalid_client",
        ),
        (
            vec![grant, ("client_secret", QUIET), ("code", code.as_str())],
            401,
            "invalid_client",
        ),
        (
            vec![
                grant,
                client,
                ("client_secret", "wrong"),
                ("code", code.as_str()),
            ],
            401,
            "invalid_client",
        ),
    ] {
        let (status, challenge, body) = token_request(&h, &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (want, Some(error)),
            "{form:?}: {body}"
        );
        if want == 401 {
            assert_eq!(challenge, "Bearer error=\"invalid_client\"", "{form:?}");
        }
    }
    // The code is still good (failed requests do not use it), and redirect_uri is optional.
    let form = [
        grant,
        client,
        ("client_secret", QUIET),
        ("code", code.as_str()),
    ];
    let (status, _, body) = token_request(&h, &form).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().expect("access_token");
    let (_, me) = h.call_as(0, token, Method::GET, "/user", None).await;
    assert_eq!(me["name"], "alice", "{me}");
    h.shutdown().await;
}
