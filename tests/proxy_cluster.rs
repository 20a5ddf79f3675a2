//! The embedded proxy across a real 3-process cluster: a route added through any replica's
//! route API works through every replica's proxy, and killing the leader does not fail a
//! single proxied request to an existing route.

mod procs;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use procs::{Cluster, PROXY_TOKEN};

/// A backend on 127.0.0.1 answering `backend <path>`, in its own runtime thread.
fn backend() -> u16 {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let port = std_listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(std_listener).unwrap();
            let app = axum::Router::new()
                .fallback(|uri: axum::http::Uri| async move { format!("backend {}", uri.path()) });
            axum::serve(l, app).await.unwrap();
        });
    });
    port
}

fn add_route(c: &Cluster, via: usize, path: &str, port: u16) -> u16 {
    let p = &c.procs[via];
    c.http
        .post(format!("http://{}:{}/api/routes{path}", p.ip, p.proxy_api))
        .header("Authorization", format!("token {PROXY_TOKEN}"))
        .json(&serde_json::json!({"target": format!("http://127.0.0.1:{port}"), "user": "alice", "server_name": ""}))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// GET through replica `i`'s public port; the body if 200.
fn via_proxy(
    c: &Cluster,
    client: &reqwest::blocking::Client,
    i: usize,
    path: &str,
) -> Option<String> {
    let p = &c.procs[i];
    let r = client
        .get(format!("http://{}:{}{path}", p.ip, p.public))
        .send()
        .ok()?;
    (r.status() == 200).then(|| r.text().unwrap_or_default())
}

#[test]
fn t10_route_added_anywhere_works_through_every_proxy() {
    let mut c = Cluster::start(3, &[]);
    for i in 0..3 {
        c.wait_ready(i, Duration::from_secs(30));
    }
    let port = backend();
    // Acknowledged only once every reachable replica applied it: no retry loop needed.
    assert_eq!(add_route(&c, 1, "/user/alice", port), 201);
    for i in 0..3 {
        assert_eq!(
            via_proxy(&c, &c.http, i, "/user/alice/api/status?x=1").as_deref(),
            Some("backend /user/alice/api/status"),
            "replica {}",
            i + 1
        );
    }
    // The CHP API of every replica lists it; the hub's `GET /api/proxy` lists only routes the
    // hub added ("jupyterhub": true), as upstream's get_all_routes, and its own default route.
    for i in 0..3 {
        let p = &c.procs[i];
        let listed = c
            .http
            .get(format!("http://{}:{}/api/routes", p.ip, p.proxy_api))
            .header("Authorization", format!("token {PROXY_TOKEN}"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert!(
            listed.contains("\"/user/alice\""),
            "replica {}: {listed}",
            i + 1
        );
    }
    let (status, body) = c.get(2, "/api/proxy").unwrap();
    assert_eq!(status, 200);
    assert!(!body.contains("/user/alice/"), "{body}");
    assert!(body.contains("\"hub\":true"), "{body}");
    // Unknown user paths reach the hub (default route), which answers for them.
    let p = &c.procs[0];
    let r = c
        .http
        .get(format!("http://{}:{}/hub/api/", p.ip, p.public))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // Delete through another replica: gone everywhere.
    let p2 = &c.procs[2];
    let del = c
        .http
        .delete(format!(
            "http://{}:{}/api/routes/user/alice",
            p2.ip, p2.proxy_api
        ))
        .header("Authorization", format!("token {PROXY_TOKEN}"))
        .send()
        .unwrap();
    assert_eq!(del.status(), 204);
    for i in 0..3 {
        assert_ne!(
            via_proxy(&c, &c.http, i, "/user/alice/x").as_deref(),
            Some("backend /user/alice/x")
        );
    }
}

fn delete_route(c: &Cluster, via: usize, path: &str) -> u16 {
    let p = &c.procs[via];
    c.http
        .delete(format!("http://{}:{}/api/routes{path}", p.ip, p.proxy_api))
        .header("Authorization", format!("token {PROXY_TOKEN}"))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// `GET /hub/api/` through replica `i`'s proxy: the hub's version document when the default
/// route reaches the hub.
fn hub_via_proxy(c: &Cluster, i: usize) -> Option<String> {
    via_proxy(c, &c.http, i, "/hub/api/").filter(|b| b.contains("\"version\""))
}

#[test]
fn t11_route_api_edge_specs_come_and_go_on_every_replica() {
    let mut c = Cluster::start(3, &[]);
    for i in 0..3 {
        c.wait_ready(i, Duration::from_secs(30));
    }
    let port = backend();
    // A route at `/` overrides each replica's default route to its hub (as in CHP); deleting
    // it brings the hub back everywhere, not a 404 for every unrouted path until a restart.
    assert_eq!(add_route(&c, 0, "/", port), 201);
    for i in 0..3 {
        assert_eq!(
            via_proxy(&c, &c.http, i, "/hub/api/").as_deref(),
            Some("backend /hub/api/"),
            "replica {}",
            i + 1
        );
    }
    assert_eq!(delete_route(&c, 1, "/"), 204);
    for i in 0..3 {
        assert!(hub_via_proxy(&c, i).is_some(), "replica {}: no hub", i + 1);
    }
    // Specs the hub writes escaped (`quote(name, safe='@~')`) are removed from every table.
    for (spec, path) in [
        ("/user/a%2Bb@x.org", "/user/a+b@x.org/tree"),
        ("/user/jos%C3%A9", "/user/jos%C3%A9/tree"),
        ("/user/two%20words", "/user/two%20words/tree"),
    ] {
        assert_eq!(add_route(&c, 2, spec, port), 201, "{spec}");
        for i in 0..3 {
            let got = via_proxy(&c, &c.http, i, path);
            assert!(
                got.is_some_and(|b| b.starts_with("backend ")),
                "{spec} via {}",
                i + 1
            );
        }
        assert_eq!(delete_route(&c, 0, spec), 204, "{spec}");
        for i in 0..3 {
            let got = via_proxy(&c, &c.http, i, path).unwrap_or_default();
            assert!(
                !got.starts_with("backend "),
                "{spec} still routed via {}",
                i + 1
            );
        }
    }
    for i in 0..3 {
        assert!(hub_via_proxy(&c, i).is_some(), "replica {}: no hub", i + 1);
    }
}

#[test]
fn t20_leader_kill_does_not_fail_proxied_requests() {
    let mut c = Cluster::start(3, &[]);
    for i in 0..3 {
        c.wait_ready(i, Duration::from_secs(30));
    }
    let port = backend();
    assert_eq!(add_route(&c, 0, "/user/bob", port), 201);
    let leader = c.leader();
    let followers: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let stop_at = Instant::now() + Duration::from_secs(6);
    let c = Arc::new(std::sync::Mutex::new(c));
    let addrs: Vec<(String, u16)> = {
        let g = c.lock().unwrap();
        followers
            .iter()
            .map(|i| (g.procs[*i].ip.clone(), g.procs[*i].public))
            .collect()
    };
    let mut threads = Vec::new();
    for (ip, public) in addrs {
        for _ in 0..2 {
            let (ok, failed, ip) = (ok.clone(), failed.clone(), ip.clone());
            threads.push(std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                let mut n = 0;
                while Instant::now() < stop_at && n < 20_000 {
                    let r = client
                        .get(format!("http://{ip}:{public}/user/bob/ping"))
                        .send();
                    match r {
                        Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    n += 1;
                }
            }));
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    c.lock().unwrap().kill9(leader);
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        ok.load(Ordering::Relaxed) > 500,
        "too little load: {}",
        ok.load(Ordering::Relaxed)
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "proxied requests failed across the leader kill"
    );
}

/// The leader dies and comes back with an empty disk. A route added through a survivor right
/// after the kill waits for the election instead of answering 503. The wiped replica serves
/// HTTP before it has the route table; a proxied request to a route it does not have yet must
/// not get 404: the hub's fallback confirms the miss against the leader and sends the client
/// back (307) once the route is there, or answers 503 while it cannot confirm.
#[test]
fn t30_a_replica_catching_up_never_answers_404_for_an_existing_route() {
    let mut c = Cluster::start(3, &[]);
    for i in 0..3 {
        c.wait_ready(i, Duration::from_secs(30));
    }
    let port = backend();
    let gone = c.leader();
    c.kill9(gone);
    let data = c.procs[gone]
        .config
        .with_file_name(format!("node-{}", gone + 1));
    std::fs::remove_dir_all(&data).unwrap();
    assert_eq!(add_route(&c, (gone + 1) % 3, "/user/carol", port), 201);
    procs::spawn(&mut c.procs[gone]);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let p = &c.procs[gone];
    let url = format!("http://{}:{}/user/carol/x", p.ip, p.public);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "never reached the backend: {seen:?}"
        );
        if let Ok(r) = client.get(&url).send() {
            let status = r.status().as_u16();
            seen.push(status);
            assert_ne!(status, 404, "a catching-up replica answered 404: {seen:?}");
            if status == 200 {
                assert_eq!(r.text().unwrap(), "backend /user/carol/x");
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Cookies from `Set-Cookie` headers, as one `Cookie` header value (names replace).
fn keep_cookies(jar: &mut Vec<(String, String)>, r: &reqwest::blocking::Response) {
    for h in r.headers().get_all("set-cookie") {
        let pair = h.to_str().unwrap().split(';').next().unwrap();
        let (k, v) = pair.split_once('=').unwrap();
        jar.retain(|(n, _)| n != k);
        jar.push((k.to_string(), v.to_string()));
    }
}

fn cookie_header(jar: &[(String, String)]) -> String {
    jar.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A login through one replica, and the next page through a replica that has not applied it
/// yet (it rejoined with an empty disk): the page waits for the replica to catch up instead
/// of answering "not logged in", so a Service without session affinity never logs anyone out.
#[test]
fn t31_a_fresh_login_is_honoured_by_a_replica_catching_up() {
    let extra = procs::Extra {
        tail: "[auth]\nkind = \"dummy\"\n".into(),
        ..Default::default()
    };
    let mut c = Cluster::start_with(3, &[], &extra);
    for i in 0..3 {
        c.wait_ready(i, Duration::from_secs(30));
    }
    c.kill9(2);
    std::fs::remove_dir_all(c.procs[2].config.with_file_name("node-3")).unwrap();
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let bases: Vec<String> = c
        .procs
        .iter()
        .map(|p| format!("http://{}:{}", p.ip, p.public))
        .collect();
    let at = |i: usize, path: &str| format!("{}{path}", bases[i]);
    let mut jar = Vec::new();
    let r = client.get(at(0, "/hub/login")).send().unwrap();
    keep_cookies(&mut jar, &r);
    let page = r.text().unwrap();
    let xsrf = page
        .split("name=\"_xsrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the login form has _xsrf")
        .to_string();
    let r = client
        .post(at(0, "/hub/login"))
        .header("Cookie", cookie_header(&jar))
        .form(&[("username", "dora"), ("password", "x"), ("_xsrf", &xsrf)])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 302, "logged in");
    keep_cookies(&mut jar, &r);
    procs::spawn(&mut c.procs[2]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "never served: {seen:?}");
        if let Ok(r) = client
            .get(at(2, "/hub/home"))
            .header("Cookie", cookie_header(&jar))
            .send()
        {
            let status = r.status().as_u16();
            let to = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap_or("").to_string());
            seen.push((status, to.clone()));
            assert!(
                !(status == 302 && to.as_deref().is_some_and(|l| l.contains("/hub/login"))),
                "a catching-up replica sent a fresh login back to the login page: {seen:?}"
            );
            if status == 200 {
                assert!(r.text().unwrap().contains("dora"), "dora's home page");
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
