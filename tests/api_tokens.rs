//! Tokens, whoami and scope enforcement across replicas.

mod support;

use reqwest::Method;
use serde_json::json;
use support::{check_error, check_status, Hubs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_token_created_on_one_replica_authenticates_on_every_replica() {
    let h = Hubs::start(3).await;
    check_status(&h.call(0, Method::POST, "/users/alice", None).await, 201);
    let t = h
        .call(
            1,
            Method::POST,
            "/users/alice/tokens",
            Some(json!({"note": "cli"})),
        )
        .await;
    check_status(&t, 201);
    let secret = t.1["token"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 32);
    assert_eq!(t.1["note"], "cli");
    assert_eq!(t.1["oauth_client"], "JupyterHub");
    for i in [2, 0, 1] {
        let me = h.call_as(i, &secret, Method::GET, "/user", None).await;
        check_status(&me, 200);
        assert_eq!(me.1["name"], "alice");
        assert_eq!(me.1["token_id"], t.1["id"]);
        let scopes: Vec<&str> = me.1["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let mut sorted = scopes.clone();
        sorted.sort();
        assert_eq!(scopes, sorted, "whoami scopes are sorted");
        assert!(scopes.contains(&"read:users:name!user=alice"));
    }
    // The token sees alice and nobody else; listing needs list:users.
    check_status(
        &h.call_as(0, &secret, Method::GET, "/users/alice", None)
            .await,
        200,
    );
    check_error(
        &h.call_as(0, &secret, Method::GET, "/users/admin", None)
            .await,
        404,
        Some("No access to resources or resources not found"),
    );
    check_error(
        &h.call_as(0, &secret, Method::GET, "/users", None).await,
        403,
        Some("requires any of [list:users]"),
    );
    // The deprecated lookup older HubAuth clients use: any token holder learns the owner's
    // identity (upstream adds the owner's identify scopes); a cookie or no token is refused.
    check_status(&h.call(0, Method::POST, "/users/bob", None).await, 201);
    let bobs = h
        .call(0, Method::POST, "/users/bob/tokens", Some(json!({})))
        .await;
    let bob_secret = bobs.1["token"].as_str().unwrap().to_string();
    let who = h
        .call_as(
            2,
            &bob_secret,
            Method::GET,
            &format!("/authorizations/token/{secret}"),
            None,
        )
        .await;
    check_status(&who, 200);
    assert_eq!(
        (&who.1["kind"], &who.1["name"]),
        (&json!("user"), &json!("alice"))
    );
    assert!(
        who.1.get("groups").is_some() && who.1.get("admin").is_some(),
        "{}",
        who.1
    );
    assert!(
        who.1.get("last_activity").is_none(),
        "bob may not read alice's activity"
    );
    let full = h
        .call(
            1,
            Method::GET,
            &format!("/authorizations/token/{secret}"),
            None,
        )
        .await;
    assert!(
        full.1.get("last_activity").is_some(),
        "the admin sees more: {}",
        full.1
    );
    check_status(
        &h.call_as(
            0,
            &bob_secret,
            Method::GET,
            "/authorizations/token/not-a-real-token",
            None,
        )
        .await,
        404,
    );
    check_status(
        &h.call_as(
            0,
            "",
            Method::GET,
            &format!("/authorizations/token/{secret}"),
            None,
        )
        .await,
        403,
    );
    // Revoke on another replica: gone everywhere (the next request misses, confirms, 403s).
    let id = t.1["id"].as_str().unwrap();
    let del = h
        .call(
            2,
            Method::DELETE,
            &format!("/users/alice/tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(del.0, 204);
    assert!(del.1.is_null());
    check_error(
        &h.call_as(0, &secret, Method::GET, "/user", None).await,
        403,
        None,
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t11_token_scopes_are_checked_and_intersected_with_the_owner() {
    let h = Hubs::start(3).await;
    check_status(&h.call(0, Method::POST, "/users/bob", None).await, 201);
    check_status(&h.call(0, Method::POST, "/users/carol", None).await, 201);
    // Scopes bob does not hold are refused.
    check_error(
        &h.call(
            1,
            Method::POST,
            "/users/bob/tokens",
            Some(json!({"scopes": ["admin:users"]})),
        )
        .await,
        400,
        Some("Not assigning requested scopes"),
    );
    check_error(
        &h.call(
            1,
            Method::POST,
            "/users/bob/tokens",
            Some(json!({"scopes": ["read:users"], "roles": ["user"]})),
        )
        .await,
        400,
        Some("Can only assign one of scopes or roles"),
    );
    check_error(
        &h.call(
            1,
            Method::POST,
            "/users/bob/tokens",
            Some(json!({"roles": ["nope"]})),
        )
        .await,
        400,
        Some("No such role: nope"),
    );
    check_error(
        &h.call(
            1,
            Method::POST,
            "/users/bob/tokens",
            Some(json!({"expires_in": "soon"})),
        )
        .await,
        400,
        Some("expires_in must be null or integer"),
    );
    let t = h
        .call(
            2,
            Method::POST,
            "/users/bob/tokens",
            Some(json!({"scopes": ["read:users:name!user=bob"], "expires_in": 3600})),
        )
        .await;
    check_status(&t, 201);
    assert!(t.1["expires_at"].is_string());
    let secret = t.1["token"].as_str().unwrap();
    let me = h.call_as(0, secret, Method::GET, "/user", None).await;
    let scopes: Vec<&str> = me.1["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        scopes,
        vec!["read:users:groups!user=bob", "read:users:name!user=bob"]
    );
    // A user token cannot create tokens for someone else.
    check_error(
        &h.call_as(
            1,
            secret,
            Method::POST,
            "/users/carol/tokens",
            Some(json!({})),
        )
        .await,
        403,
        Some("not found or no permissions to generate tokens"),
    );
    let list = h.call(1, Method::GET, "/users/bob/tokens", None).await;
    check_status(&list, 200);
    assert_eq!(list.1["api_tokens"].as_array().unwrap().len(), 1);
    check_error(
        &h.call(1, Method::GET, "/users/bob/tokens/b1", None).await,
        404,
        Some("No such token b1"),
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t12_activity_is_validated_then_replicated_in_batches() {
    let h = Hubs::start(3).await;
    check_status(&h.call(0, Method::POST, "/users/dana", None).await, 201);
    let t = h
        .call(
            0,
            Method::POST,
            "/users/dana/tokens",
            Some(json!({"scopes": ["users:activity!user=dana"], "note": "Server at /user/dana/"})),
        )
        .await;
    let secret = t.1["token"].as_str().unwrap().to_string();
    let ok = h
        .call_as(
            1,
            &secret,
            Method::POST,
            "/users/dana/activity",
            Some(json!({"last_activity": "2030-01-01T00:00:00Z"})),
        )
        .await;
    check_error(&ok, 400, Some("more than an hour in the future"));
    let ts = rafthub::timefmt::iso(rafthub::timefmt::now() - 60_000_000);
    let ok = h
        .call_as(
            1,
            &secret,
            Method::POST,
            "/users/dana/activity",
            Some(json!({"last_activity": ts})),
        )
        .await;
    check_status(&ok, 200);
    check_error(
        &h.call_as(
            1,
            &secret,
            Method::POST,
            "/users/dana/activity",
            Some(json!({"servers": {"gpu": {"last_activity": ts}}})),
        )
        .await,
        400,
        Some("No such server 'gpu' for user dana"),
    );
    check_error(
        &h.call_as(
            1,
            &secret,
            Method::POST,
            "/users/dana/activity",
            Some(json!({"last_activity": "noon"})),
        )
        .await,
        400,
        Some("Not a valid timestamp: 'noon'"),
    );
    check_error(
        &h.call_as(
            1,
            &secret,
            Method::POST,
            "/users/dana/activity",
            Some(json!({})),
        )
        .await,
        400,
        Some("at least one of"),
    );
    check_error(
        &h.call_as(
            1,
            &secret,
            Method::POST,
            "/users/admin/activity",
            Some(json!({"last_activity": ts})),
        )
        .await,
        404,
        Some("No access"),
    );
    // Visible on every replica within the flush interval (200 ms in tests).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    for i in 0..3 {
        loop {
            let u = h.call(i, Method::GET, "/users/dana", None).await;
            if u.1["last_activity"] == ts.as_str() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "replica {i}: {}",
                u.1
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    h.shutdown().await;
}

/// `POST /users/{name}/tokens` with no token or cookie: upstream logs the request in with the
/// body's `auth` through the authenticator (the REST API docs' way to get a first token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t13_a_token_can_be_requested_with_username_and_password() {
    let h = Hubs::start_with(1, |cfg| {
        cfg.auth.kind = "dummy".into();
        cfg.auth.dummy_password = Some("letmein".into());
    })
    .await;
    for name in ["alice", "bob"] {
        check_status(
            &h.call(0, Method::POST, &format!("/users/{name}"), None)
                .await,
            201,
        );
    }
    let api = format!("http://{}/hub/api", h.nodes[0].cfg.listen.api);
    let post = |user: &str, body: serde_json::Value| {
        h.http
            .post(format!("{api}/users/{user}/tokens"))
            .json(&body)
            .send()
    };
    let ok = json!({"auth": {"username": "alice", "password": "letmein"}});
    let r = post("alice", ok.clone()).await.unwrap();
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["note"], "Requested via api", "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    let me = h.call_as(0, &token, Method::GET, "/user", None).await;
    check_status(&me, 200);
    assert_eq!(me.1["name"], "alice", "{}", me.1);
    // (user in the path, body, status, message)
    let refused: &[(&str, serde_json::Value, u16, Option<&str>)] = &[
        (
            "bob",
            ok.clone(),
            403,
            Some("User bob not found or no permissions to generate tokens"),
        ),
        (
            "alice",
            json!({"auth": {"username": "alice", "password": "wrong"}}),
            403,
            None,
        ),
        (
            "zed",
            json!({"auth": {"username": "zed", "password": "letmein"}}),
            403,
            None,
        ),
        ("alice", json!({"auth": "alice"}), 403, None),
        ("alice", json!({}), 403, None),
    ];
    for (user, body, status, message) in refused {
        let r = post(user, body.clone()).await.unwrap();
        assert_eq!(r.status().as_u16(), *status, "{user} {body}");
        let v: serde_json::Value = r.json().await.unwrap();
        match message {
            Some(m) => assert_eq!(v["message"], *m, "{user} {body}"),
            None => assert!(v["message"].is_null(), "{user} {body}: {v}"),
        }
    }
    h.shutdown().await;
}
