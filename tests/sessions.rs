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
