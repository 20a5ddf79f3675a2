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
    let r = reqwest::Client::new()
        .post(format!("{}/oauth2/token", h.api(0)))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
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
        cfg.hub.roles.push(RoleConfig {
            name: "service-users".into(),
            description: String::new(),
            scopes: vec!["access:services".into()],
            users: vec!["alice".into()],
            groups: vec![],
            services: vec![],
        });
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
