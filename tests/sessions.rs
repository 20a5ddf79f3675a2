//! Login sessions across restarts: a browser's login cookie names a session id the
//! replicated state maps to its user. A replica rebuilds that map from its snapshot when it
//! starts; a session created before the snapshot must still be known after the restart.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::browser::Browser;
use support::*;

/// `GET /hub/api/user` with the browser's cookies only: the logged-in user's name, or the
/// status when the cookie is not recognised.
async fn whoami(b: &mut Browser) -> Result<String, StatusCode> {
    let r = b.send(Method::GET, "/hub/api/user", None).await;
    if r.status != StatusCode::OK {
        return Err(r.status);
    }
    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
    Ok(v["name"].as_str().expect("name").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t01_a_login_survives_a_restart_from_a_snapshot() {
    let mut h = Hubs::start_with(3, |cfg| cfg.auth.kind = "dummy".into()).await;
    let addr = h.nodes[2].cfg.listen.api.to_string();
    let mut alice = Browser::new(&addr);
    alice.login("alice").await;
    assert_eq!(whoami(&mut alice).await, Ok("alice".to_string()));

    // Enough rows after the login for every replica to take a snapshot that holds it
    // (a snapshot is due after 10,000 commands, or rows a batch touched; up to 50 % more on
    // some replicas, so they do not all take theirs at once).
    for batch in 0..16 {
        let names: Vec<String> = (0..1000).map(|i| format!("filler-{batch}-{i}")).collect();
        let r = h
            .call(
                0,
                Method::POST,
                "/users",
                Some(json!({ "usernames": names })),
            )
            .await;
        check_status(&r, 201);
    }
    let snaps = h.nodes[2].cfg.data_dir.join("snapshots");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let has_snapshot = || {
        std::fs::read_dir(&snaps).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "snap"))
        })
    };
    while !has_snapshot() {
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot on replica 3"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    h.stop(2).await;
    h.restart(2).await;
    h.wait_ready().await;
    // The same cookie, on the restarted replica: the session came back from the snapshot.
    assert_eq!(whoami(&mut alice).await, Ok("alice".to_string()));
    h.shutdown().await;
}

/// One cookie-authenticated API request and the status it must get.
struct XsrfCase {
    what: &'static str,
    method: Method,
    path: &'static str,
    /// `Sec-Fetch-Mode`, `Sec-Fetch-Site` (None: a client that sends neither).
    fetch: Option<(&'static str, &'static str)>,
    with_token: bool,
    want: u16,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t02_xsrf_follows_upstreams_fetch_metadata_rules() {
    let h = Hubs::start_with(1, |cfg| cfg.auth.kind = "dummy".into()).await;
    let addr = h.nodes[0].cfg.listen.api.to_string();
    let mut b = Browser::new(&addr);
    b.login("carol").await;
    let get = |what, fetch, with_token, want| XsrfCase {
        what,
        method: Method::GET,
        path: "/hub/api/user",
        fetch,
        with_token,
        want,
    };
    let cases = [
        get("no fetch metadata", None, false, 200),
        get("navigation", Some(("navigate", "none")), false, 200),
        get(
            "same-origin image",
            Some(("no-cors", "same-origin")),
            false,
            200,
        ),
        get(
            "cross-site script, no token",
            Some(("cors", "cross-site")),
            false,
            403,
        ),
        get(
            "cross-site no-cors",
            Some(("no-cors", "cross-site")),
            false,
            403,
        ),
        get(
            "same-origin fetch, no token",
            Some(("cors", "same-origin")),
            false,
            403,
        ),
        get(
            "same-origin fetch with the token",
            Some(("cors", "same-origin")),
            true,
            200,
        ),
        XsrfCase {
            what: "write without the token",
            method: Method::POST,
            path: "/hub/api/users/carol/tokens",
            fetch: None,
            with_token: false,
            want: 403,
        },
        XsrfCase {
            what: "write with the token",
            method: Method::POST,
            path: "/hub/api/users/carol/tokens",
            fetch: Some(("cors", "same-origin")),
            with_token: true,
            want: 201,
        },
    ];
    for c in cases {
        let token = b.xsrf();
        let mut hdrs: Vec<(&str, &str)> = Vec::new();
        if let Some((mode, site)) = c.fetch {
            hdrs.push(("Sec-Fetch-Mode", mode));
            hdrs.push(("Sec-Fetch-Site", site));
        }
        if c.with_token {
            hdrs.push(("X-XSRFToken", token.as_str()));
        }
        let r = b.send_with(c.method.clone(), c.path, None, &hdrs).await;
        assert_eq!(r.status.as_u16(), c.want, "{}: {}", c.what, r.body);
        if c.want == 403 && !c.with_token {
            assert!(
                r.body.contains("'_xsrf' argument missing from"),
                "{}: {}",
                c.what,
                r.body
            );
        }
    }
    h.shutdown().await;
}

/// Cookie tossing: an attacker who can set cookies for the hub's domain plants the session
/// id and XSRF token of their own anonymous visit in the victim's browser; with the victim's
/// login cookie they must not authorize a write. The session id is renewed at login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t03_an_xsrf_token_from_before_the_login_is_refused_after_it() {
    let h = Hubs::start_with(1, |cfg| cfg.auth.kind = "dummy".into()).await;
    let addr = h.nodes[0].cfg.listen.api.to_string();
    let mut attacker = Browser::new(&addr);
    let r = attacker.send(Method::GET, "/hub/login", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let planted_sid = attacker.cookies["jupyterhub-session-id"].clone();
    let planted_xsrf = attacker.xsrf();

    let mut victim = Browser::new(&addr);
    victim.send(Method::GET, "/hub/login", None).await;
    let sid_before = victim.cookies["jupyterhub-session-id"].clone();
    victim.login("dave").await;
    assert_ne!(
        victim.cookies["jupyterhub-session-id"], sid_before,
        "renewed at login"
    );
    let own_xsrf = victim.xsrf();

    let mut tossed = Browser::new(&addr);
    tossed.cookies = victim.cookies.clone();
    tossed
        .cookies
        .insert("jupyterhub-session-id".into(), planted_sid);
    tossed.cookies.insert("_xsrf".into(), planted_xsrf.clone());
    let write = "/hub/api/users/dave/tokens";
    let r = tossed
        .send_with(Method::POST, write, None, &[("X-XSRFToken", &planted_xsrf)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(
        r.body.contains("XSRF cookie does not match POST argument"),
        "{}",
        r.body
    );

    // The victim's own session and token still work.
    let r = victim
        .send_with(Method::POST, write, None, &[("X-XSRFToken", &own_xsrf)])
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    h.shutdown().await;
}
