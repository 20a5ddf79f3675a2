//! Where the hub's pages send a browser, compared with upstream JupyterHub 6.1.1's handlers:
//! after login (`get_next_url` with `redirect_to_server`), `{hub}user-redirect/...` (query
//! kept, by way of `{hub}spawn`), `{hub}user/<name>` without a path (the 424 page) and the
//! last-resort handlers (`/hub` → `/hub/`, the 404 page, `PrefixRedirectHandler`).

mod support;

use reqwest::{Method, StatusCode};
use support::browser::{Browser, Reply};
use support::*;

/// The dummy authenticator's login form, posted with `next` (if any); the reply to the POST.
async fn login_with_next(b: &mut Browser, name: &str, next: Option<&str>) -> Reply {
    let r = b.send(Method::GET, "/hub/login", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let xsrf = b.xsrf();
    let form = [
        ("_xsrf", xsrf.as_str()),
        ("username", name),
        ("password", ""),
    ];
    let path = match next {
        Some(n) => format!(
            "/hub/login?next={}",
            form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
        ),
        None => "/hub/login".to_string(),
    };
    b.send(Method::POST, &path, Some(&form)).await
}

/// One expectation: `GET path` answers `status`, and the Location (for redirects) or the
/// body (otherwise) contains `fragment`.
async fn check(b: &mut Browser, path: &str, status: u16, fragment: &str) {
    let r = b.send(Method::GET, path, None).await;
    assert_eq!(r.status.as_u16(), status, "GET {path}: {}", r.body);
    let seen = if r.location.is_empty() {
        &r.body
    } else {
        &r.location
    };
    assert!(
        seen.contains(fragment),
        "GET {path}: {fragment:?} not in {seen:?}"
    );
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_land_where_upstream_sends_them() {
    let hubs = Hubs::start_with(1, |cfg| cfg.auth.kind = "dummy".into()).await;
    let addr = hubs.nodes[0].cfg.listen.api.to_string();

    // Not logged in: everything asks for the login, keeping the whole URL as `next`.
    let mut anon = Browser::new(&addr);
    let nbgitpuller =
        "/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgithub.com%2Fa%2Fb&urlpath=lab";
    for (path, status, fragment) in [
        (
            nbgitpuller,
            302,
            format!("/hub/login?next={}", enc(nbgitpuller)),
        ),
        ("/hub/", 302, "/hub/login?next=%2Fhub%2F".into()),
        // The query comes back too (upstream's `web.authenticated` uses the request URI).
        (
            "/hub/home?x=1",
            302,
            "/hub/login?next=%2Fhub%2Fhome%3Fx%3D1".into(),
        ),
        (
            "/hub/token?a=b",
            302,
            "/hub/login?next=%2Fhub%2Ftoken%3Fa%3Db".into(),
        ),
        (
            "/hub/spawn/alice/lab?profile=gpu",
            302,
            "/hub/login?next=%2Fhub%2Fspawn%2Falice%2Flab%3Fprofile%3Dgpu".into(),
        ),
        ("/hub", 301, "/hub/".into()),
        // No signup page with the dummy authenticator (upstream: NativeAuthenticator adds it).
        ("/hub/signup", 404, "<html".into()),
        // The proxy's error target answers 200; the proxy sets the status (as upstream).
        (
            "/hub/error/404?url=%2Fnope",
            200,
            "No route for &#x2f;nope".into(),
        ),
        ("/hub/nonexistent", 404, "<html".into()),
        ("/hub/api/nonexistent", 404, "\"status\":404".into()),
        ("/favicon.ico", 302, "/hub/favicon.ico".into()),
        ("/hub/favicon.ico", 200, "<svg".into()),
        (
            "/hub/spawn-pending/alice",
            302,
            "/hub/login?next=%2Fhub%2Fspawn-pending%2Falice".into(),
        ),
        (
            "/services/none/x?y=1",
            302,
            "/hub/services/none/x?y=1".into(),
        ),
    ] {
        check(&mut anon, path, status, &fragment).await;
    }

    // Login without `next`: to the server, started by {hub}spawn since it is not running.
    let mut b = Browser::new(&addr);
    let r = login_with_next(&mut b, "alice", None).await;
    assert_eq!(
        (r.status.as_u16(), r.location.as_str()),
        (302, "/hub/spawn")
    );
    // With a local `next`, there; an absolute one is ignored (no open redirect).
    let mut b2 = Browser::new(&addr);
    let r = login_with_next(&mut b2, "bob", Some("/hub/token")).await;
    assert_eq!(r.location, "/hub/token");
    // Nor one a browser reads as another host: it drops tabs and newlines ("/\t/evil" is
    // "//evil") and reads "\" as "/".
    for (i, evil) in [
        "https://evil.example/x",
        "//evil.example/x",
        "/\t/evil.example/x",
        "/\n/evil.example/x",
        "/\\evil.example/x",
    ]
    .into_iter()
    .enumerate()
    {
        let mut b3 = Browser::new(&addr);
        let r = login_with_next(&mut b3, &format!("carol{i}"), Some(evil)).await;
        assert_eq!(r.location, "/hub/spawn", "next={evil:?}");
    }

    let target = "/user/alice/lab/tree/a%20b.ipynb?repo=x&branch=main";
    for (path, status, fragment) in [
        // Logged in, the login page and the hub's root go where a login would.
        ("/hub/login", 302, "/hub/spawn".to_string()),
        ("/hub/", 302, "/hub/spawn".into()),
        // user-redirect keeps the path as sent and the query (nbgitpuller's links).
        (
            "/hub/user-redirect/lab/tree/a%20b.ipynb?repo=x&branch=main",
            302,
            format!("/hub/spawn/alice?next={}", enc(target)),
        ),
        (
            "/hub/user-redirect/",
            302,
            format!("/hub/spawn/alice?next={}", enc("/user/alice/")),
        ),
        // The server is not running: the 424 page, with or without a path after the name.
        ("/hub/user/alice/", 424, "Server not running".into()),
        ("/hub/user/alice", 424, "Server not running".into()),
        ("/hub/user/alice/tree", 424, "Server not running".into()),
        // The launch link comes back to the request, query included (nbgitpuller's links).
        (
            "/hub/user/alice/git-pull?repo=x",
            424,
            "git-pull%3Frepo%3Dx".into(),
        ),
        ("/hub/nonexistent", 404, "<html".into()),
        // Another user's pending page needs the `servers` scope on them (upstream: 404).
        (
            "/hub/spawn-pending/admin",
            404,
            "No access to resources".into(),
        ),
        (
            "/hub/spawn-pending/alice/nope",
            404,
            "alice has no such server nope".into(),
        ),
        // Nor may she start theirs (upstream: 404 too).
        ("/hub/spawn/admin", 404, "No access to resources".into()),
        // Outside the hub's prefix (no route): to the same path under it, query kept.
        (
            "/user/alice/tree?x=1",
            302,
            "/hub/user/alice/tree?x=1".into(),
        ),
    ] {
        check(&mut b, path, status, &fragment).await;
    }
    // Other methods are not redirected (a POST would come back as a GET): upstream's
    // PrefixRedirectHandler meets them with the XSRF check, then with 405.
    check(&mut b, "/hub/home", 200, "").await;
    let xsrf = b.xsrf();
    for (method, path, status, fragment) in [
        (
            Method::POST,
            "/user/alice/api/kernels".to_string(),
            403,
            "&#x27;_xsrf&#x27; argument missing from POST",
        ),
        (
            Method::DELETE,
            "/user/alice/api/kernels/k?_xsrf=forged".into(),
            403,
            "XSRF cookie does not match DELETE argument",
        ),
        (
            Method::POST,
            format!("/user/alice/api/kernels?_xsrf={xsrf}"),
            405,
            "",
        ),
        (Method::HEAD, "/user/alice/tree".into(), 405, ""),
    ] {
        let r = b.send(method.clone(), &path, None).await;
        assert_eq!(r.status.as_u16(), status, "{method} {path}: {}", r.body);
        assert!(r.location.is_empty(), "{method} {path} redirected");
        assert!(
            r.body.contains(fragment),
            "{method} {path}: {fragment:?} not in {}",
            r.body
        );
    }
    // An admin may look at anyone's, and gets a 404 for a user that is not.
    let mut adm = Browser::new(&addr);
    login_with_next(&mut adm, "admin", Some("/hub/home")).await;
    check(&mut adm, "/hub/spawn-pending/alice", 200, "not running").await;
    check(
        &mut adm,
        "/hub/spawn-pending/ghost",
        404,
        "No such user: ghost",
    )
    .await;
    hubs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redirect_to_server_logins_go_home() {
    let hubs = Hubs::start_with(1, |cfg| {
        cfg.auth.kind = "dummy".into();
        cfg.hub.redirect_to_server = false;
    })
    .await;
    let mut b = Browser::new(&hubs.nodes[0].cfg.listen.api.to_string());
    let r = login_with_next(&mut b, "alice", None).await;
    assert_eq!((r.status.as_u16(), r.location.as_str()), (302, "/hub/home"));
    check(&mut b, "/hub/", 302, "/hub/home").await;
    hubs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_headers_and_secure_cookies_as_upstream() {
    let hubs = Hubs::start_with(1, |cfg| cfg.auth.kind = "dummy".into()).await;
    let base = format!("http://{}", hubs.nodes[0].cfg.listen.api);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = "frame-ancestors 'none'; report-uri /hub/security/csp-report";
    for (path, csp) in [
        ("/hub/login", page.to_string()),
        ("/hub/nonexistent", page.to_string()),
        ("/hub/api/", format!("{page}; default-src 'none'")),
        (
            "/hub/api/nonexistent",
            format!("{page}; default-src 'none'"),
        ),
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(
            r.headers()
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok()),
            Some(csp.as_str()),
            "{path}"
        );
    }
    // A CORS preflight to any API URL: 200, no credentials needed, the allowed headers named.
    let r = http
        .request(reqwest::Method::OPTIONS, format!("{base}/hub/api/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("access-control-allow-headers")
            .and_then(|v| v.to_str().ok()),
        Some("accept, content-type, authorization")
    );
    // Behind TLS termination (the proxy says https), every hub cookie is Secure; not over http.
    for (proto, secure) in [
        (Some("https"), true),
        (Some("http,https"), true),
        (None, false),
    ] {
        let mut rb = http.get(format!("{base}/hub/login"));
        if let Some(p) = proto {
            rb = rb.header("X-Forwarded-Proto", p);
        }
        let r = rb.send().await.unwrap();
        let cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert!(!cookies.is_empty());
        for c in &cookies {
            assert_eq!(c.contains("; Secure"), secure, "{proto:?}: {c}");
            // Only the XSRF token is for scripts.
            assert_eq!(c.contains("; HttpOnly"), !c.starts_with("_xsrf="), "{c}");
        }
    }
    hubs.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_base_url_without_its_slash_leads_to_the_hub() {
    let hubs = Hubs::start_with(1, |cfg| {
        cfg.auth.kind = "dummy".into();
        cfg.hub.base_url = "/jhub/".into();
    })
    .await;
    let mut b = Browser::new(&hubs.nodes[0].cfg.listen.api.to_string());
    for (path, status, fragment) in [
        ("/jhub", 302, "/jhub/hub/"),
        ("/jhub/hub", 301, "/jhub/hub/"),
        ("/jhub/favicon.ico", 302, "/jhub/hub/favicon.ico"),
        ("/jhub/hub/nonexistent", 404, "<html"),
    ] {
        check(&mut b, path, status, fragment).await;
    }
    hubs.shutdown().await;
}

/// `{hub}logo` (single-user pages link to it): rafthub's own by default, else the configured
/// `logo_file` with its type, and 404 when that file is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logo_is_served_as_upstream_serves_logo_file() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("logo.png");
    let bytes = b"\x89PNG\r\n\x1a\nnot really";
    std::fs::write(&png, bytes).unwrap();
    let get = |addr: String| async move {
        let r = reqwest::get(format!("http://{addr}/hub/logo"))
            .await
            .unwrap();
        let ty = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (r.status().as_u16(), ty, r.bytes().await.unwrap().to_vec())
    };
    let default = Hubs::start_with(1, |_| {}).await;
    let (status, ty, body) = get(default.nodes[0].cfg.listen.api.to_string()).await;
    assert_eq!((status, ty.as_str()), (200, "image/svg+xml"));
    assert!(body.starts_with(b"<svg"));
    default.shutdown().await;

    let file = png.clone();
    let own = Hubs::start_with(1, move |cfg| cfg.hub.logo_file = Some(file.clone())).await;
    let addr = own.nodes[0].cfg.listen.api.to_string();
    assert_eq!(
        get(addr.clone()).await,
        (200, "image/png".into(), bytes.to_vec())
    );
    std::fs::remove_file(&png).unwrap();
    assert_eq!(get(addr).await.0, 404);
    own.shutdown().await;
}
