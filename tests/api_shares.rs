//! Sharing (JupyterHub 5) against a 3-replica in-process cluster: grants through one replica
//! are listed and honoured on the others, recipients get the scopes (directly and through
//! groups), revokes and cascades, share codes, and upstream's errors.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::browser::Browser;
use support::{check_error, check_status, Hubs};

/// A token of `user` (created by the admin).
async fn token_of(h: &Hubs, user: &str) -> String {
    let r = h
        .call(
            0,
            Method::POST,
            &format!("/users/{user}/tokens"),
            Some(json!({})),
        )
        .await;
    check_status(&r, 201);
    r.1["token"].as_str().unwrap().to_string()
}

/// The scopes `token` resolves to on replica `i` (`GET /user`), once replica `i` has applied
/// everything acknowledged before (a read of another replica may lag by an apply).
async fn scopes_of(h: &Hubs, i: usize, token: &str) -> Vec<String> {
    let barrier = h
        .call(
            i,
            Method::GET,
            "/users/admin?consistency=linearizable",
            None,
        )
        .await;
    check_status(&barrier, 200);
    let r = h.call_as(i, token, Method::GET, "/user", None).await;
    check_status(&r, 200);
    serde_json::from_value(r.1["scopes"].clone()).unwrap()
}

/// `(kind, recipient, server, scopes)` of each item of a share page.
fn items(page: &Value) -> Vec<(String, String, String, Vec<String>)> {
    assert!(
        page["_pagination"].is_object(),
        "always the envelope: {page}"
    );
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let kind = s["kind"].as_str().unwrap().to_string();
            let who = s[kind.as_str()]["name"].as_str().unwrap().to_string();
            let server = format!(
                "{}/{}",
                s["server"]["user"]["name"].as_str().unwrap(),
                s["server"]["name"].as_str().unwrap()
            );
            (
                kind,
                who,
                server,
                serde_json::from_value(s["scopes"].clone()).unwrap(),
            )
        })
        .collect()
}

fn share(
    kind: &str,
    who: &str,
    server: &str,
    scopes: &[&str],
) -> (String, String, String, Vec<String>) {
    (
        kind.into(),
        who.into(),
        server.into(),
        scopes.iter().map(|s| s.to_string()).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_grants_are_listed_everywhere_and_give_the_recipients_access() {
    let h = Hubs::start(3).await;
    let r = h
        .call(
            0,
            Method::POST,
            "/users",
            Some(json!({"usernames": ["alice", "bob", "carol"]})),
        )
        .await;
    check_status(&r, 201);
    check_status(
        &h.call(
            0,
            Method::POST,
            "/groups/team",
            Some(json!({"users": ["carol"]})),
        )
        .await,
        201,
    );
    let (bob, carol) = (token_of(&h, "bob").await, token_of(&h, "carol").await);
    assert!(!scopes_of(&h, 1, &bob)
        .await
        .iter()
        .any(|s| s.contains("alice")));

    let r = h
        .call(
            1,
            Method::POST,
            "/shares/alice/",
            Some(json!({"user": "bob"})),
        )
        .await;
    check_status(&r, 200);
    assert_eq!(r.1["scopes"], json!(["access:servers!server=alice/"]));
    assert_eq!(
        (r.1["kind"].clone(), r.1["group"].clone()),
        (json!("user"), Value::Null)
    );
    assert_eq!(r.1["server"]["url"], "/user/alice/");
    // A merge: the new scope joins, the filter is added to an unfiltered one.
    let body = json!({"user": "bob", "scopes": ["read:servers!server=alice/", "access:servers"]});
    check_status(
        &h.call(2, Method::POST, "/shares/alice/", Some(body)).await,
        200,
    );
    let team = json!({"group": "team", "scopes": ["access:servers"]});
    check_status(
        &h.call(0, Method::POST, "/shares/alice/", Some(team)).await,
        200,
    );

    let both = ["access:servers!server=alice/", "read:servers!server=alice/"];
    let r = h
        .call(
            2,
            Method::GET,
            "/shares/alice?consistency=linearizable",
            None,
        )
        .await;
    check_status(&r, 200);
    assert_eq!(
        items(&r.1),
        vec![
            share("user", "bob", "alice/", &both),
            share("group", "team", "alice/", &["access:servers!server=alice/"]),
        ]
    );
    // The recipients hold the scopes, on any replica, through the user or the group share.
    for i in 0..3 {
        let s = scopes_of(&h, i, &bob).await;
        assert!(both.iter().all(|x| s.contains(&x.to_string())), "{s:?}");
        assert!(
            !s.contains(&"read:users:name!user=alice".to_string()),
            "{s:?}"
        );
        let s = scopes_of(&h, i, &carol).await;
        assert!(
            s.contains(&"access:servers!server=alice/".to_string()),
            "{s:?}"
        );
    }
    let r = h
        .call(
            1,
            Method::GET,
            "/users/carol/shared?consistency=linearizable",
            None,
        )
        .await;
    assert_eq!(
        items(&r.1),
        vec![share(
            "group",
            "team",
            "alice/",
            &["access:servers!server=alice/"]
        )]
    );
    let r = h
        .call_as(0, &bob, Method::GET, "/users/bob/shared/alice/", None)
        .await;
    check_status(&r, 200);
    assert_eq!(r.1["user"]["name"], "bob");

    // Revoke one scope, then the rest (a fully filtered scope, as upstream matches them).
    let body = json!({"user": "bob", "scopes": ["read:servers!server=alice/"]});
    let r = h.call(0, Method::PATCH, "/shares/alice/", Some(body)).await;
    assert_eq!(r.1["scopes"], json!(["access:servers!server=alice/"]));
    let body = json!({"user": "bob", "scopes": ["access:servers!server=alice/"]});
    let r = h.call(1, Method::PATCH, "/shares/alice/", Some(body)).await;
    assert_eq!((r.0.as_u16(), r.1.clone()), (200, json!({})));
    assert!(!scopes_of(&h, 2, &bob)
        .await
        .iter()
        .any(|s| s.contains("alice")));
    // The recipient gives a share back; the owner's DELETE drops the rest.
    check_status(
        &h.call(
            0,
            Method::POST,
            "/shares/alice/",
            Some(json!({"user": "bob"})),
        )
        .await,
        200,
    );
    let r = h
        .call_as(2, &bob, Method::DELETE, "/users/bob/shared/alice/", None)
        .await;
    check_status(&r, 204);
    check_status(
        &h.call(1, Method::DELETE, "/shares/alice/", None).await,
        204,
    );
    let r = h
        .call(
            2,
            Method::GET,
            "/shares/alice/?consistency=linearizable",
            None,
        )
        .await;
    assert_eq!(items(&r.1), vec![]);
    assert!(!scopes_of(&h, 0, &carol)
        .await
        .iter()
        .any(|s| s.contains("alice")));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t11_bad_grants_get_upstreams_errors() {
    let h = Hubs::start(3).await;
    let r = h
        .call(
            0,
            Method::POST,
            "/users",
            Some(json!({"usernames": ["alice", "bob"]})),
        )
        .await;
    check_status(&r, 201);
    let bob = token_of(&h, "bob").await;
    let cases: Vec<(Method, &str, Value, u16, &str)> = vec![
        (
            Method::POST,
            "/shares/alice/",
            json!({"user": "bob", "group": "g"}),
            400,
            "not both",
        ),
        (
            Method::POST,
            "/shares/alice/",
            json!({}),
            400,
            "exactly one",
        ),
        (
            Method::POST,
            "/shares/alice/",
            json!({"user": "bob", "x": 1}),
            400,
            "Extra inputs",
        ),
        (
            Method::POST,
            "/shares/alice/",
            json!({"user": "zed"}),
            400,
            "No such user: zed",
        ),
        (
            Method::POST,
            "/shares/alice/",
            json!({"group": "zed"}),
            400,
            "No such group: zed",
        ),
        (
            Method::POST,
            "/shares/alice/",
            json!({"user": "bob", "scopes": ["access:servers!user=alice"]}),
            400,
            "only !server=alice/",
        ),
        (
            Method::POST,
            "/shares/alice/",
            json!({"user": "bob", "scopes": ["nope"]}),
            400,
            "nope",
        ),
        (
            Method::POST,
            "/shares/alice/lab",
            json!({"user": "bob"}),
            404,
            "No such server: alice/lab",
        ),
        (
            Method::GET,
            "/shares/alice/lab",
            Value::Null,
            404,
            "No such server: alice/lab",
        ),
        (
            Method::GET,
            "/users/bob/shared/alice/",
            Value::Null,
            404,
            "No such share for user bob",
        ),
        (
            Method::GET,
            "/groups/zed/shared",
            Value::Null,
            404,
            "No such group: zed",
        ),
    ];
    for (m, path, body, status, msg) in cases {
        let body = (!body.is_null()).then_some(body);
        check_error(&h.call(1, m, path, body).await, status, Some(msg));
    }
    // bob may read what is shared with him, but not share alice's server, nor list hers.
    let r = h
        .call_as(
            2,
            &bob,
            Method::POST,
            "/shares/alice/",
            Some(json!({"user": "bob"})),
        )
        .await;
    check_error(&r, 403, Some("requires any of [shares]"));
    check_status(
        &h.call_as(2, &bob, Method::GET, "/users/bob/shared", None)
            .await,
        200,
    );
    check_status(
        &h.call_as(2, &bob, Method::GET, "/shares/bob", None).await,
        200,
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t12_share_codes_are_shown_once_listed_and_deleted() {
    let h = Hubs::start(3).await;
    check_status(&h.call(0, Method::POST, "/users/alice", None).await, 201);
    let body = json!({"expires_in": 3600, "scopes": ["read:servers"]});
    let r = h
        .call(1, Method::POST, "/share-codes/alice/", Some(body))
        .await;
    check_status(&r, 200);
    let code = r.1["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 43, "{code}");
    assert_eq!(r.1["accept_url"], format!("/hub/accept-share?code={code}"));
    assert_eq!(r.1["scopes"], json!(["read:servers!server=alice/"]));
    assert_eq!(r.1["exchange_count"], 0);
    let id = r.1["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sc_"), "{id}");
    check_status(
        &h.call(0, Method::POST, "/share-codes/alice/", Some(json!({})))
            .await,
        200,
    );
    let r = h
        .call(
            2,
            Method::GET,
            "/share-codes/alice?consistency=linearizable",
            None,
        )
        .await;
    check_status(&r, 200);
    let listed = r.1["items"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|c| c.get("code").is_none()), "{listed:?}");
    for (body, msg) in [
        (json!({"expires_in": 10}), "between"),
        (json!({"user": "bob"}), "Extra inputs"),
    ] {
        check_error(
            &h.call(0, Method::POST, "/share-codes/alice/", Some(body))
                .await,
            400,
            Some(msg),
        );
    }
    let del = |q: String| format!("/share-codes/alice/?{q}");
    check_error(
        &h.call(1, Method::DELETE, &del("code=wrong".into()), None)
            .await,
        404,
        Some("No matching code"),
    );
    check_status(
        &h.call(1, Method::DELETE, &del(format!("code={code}")), None)
            .await,
        204,
    );
    check_error(
        &h.call(2, Method::DELETE, &del(format!("id={id}")), None)
            .await,
        404,
        Some("No code found"),
    );
    check_status(
        &h.call(2, Method::DELETE, "/share-codes/alice/", None).await,
        204,
    );
    let r = h
        .call(
            0,
            Method::GET,
            "/share-codes/alice/?consistency=linearizable",
            None,
        )
        .await;
    assert_eq!(r.1["items"], json!([]));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t13_a_logged_in_user_accepts_a_share_code_in_the_browser() {
    let h = Hubs::start_with(3, |cfg| cfg.auth.kind = "dummy".into()).await;
    let r = h
        .call(
            0,
            Method::POST,
            "/users",
            Some(json!({"usernames": ["alice", "bob"]})),
        )
        .await;
    check_status(&r, 201);
    let r = h
        .call(0, Method::POST, "/share-codes/alice/", Some(json!({})))
        .await;
    check_status(&r, 200);
    let accept = r.1["accept_url"].as_str().unwrap().to_string();

    // bob, on another replica: not logged in, sent to the login page and back.
    let mut bob = Browser::new(&h.nodes[1].cfg.listen.api.to_string());
    let r = bob.send(Method::GET, &accept, None).await;
    assert_eq!(r.status.as_u16(), 302);
    assert!(r.location.contains("/hub/login?next="), "{}", r.location);
    bob.login("bob").await;
    let r = bob.send(Method::GET, &accept, None).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.body);
    assert!(
        r.body.contains("invited to access alice's server"),
        "{}",
        r.body
    );
    // Without the XSRF token the POST is refused; with it, bob gets alice's server.
    let code = accept.split("code=").nth(1).unwrap().to_string();
    let r = bob
        .send(Method::POST, &accept, Some(&[("code", code.as_str())]))
        .await;
    assert_eq!(r.status.as_u16(), 403, "{}", r.body);
    let xsrf = bob.xsrf();
    let form = [("_xsrf", xsrf.as_str()), ("code", code.as_str())];
    let r = bob.send(Method::POST, &accept, Some(&form)).await;
    assert_eq!(
        (r.status.as_u16(), r.location.as_str()),
        (302, "/user/alice/"),
        "{}",
        r.body
    );
    let r = h.call(1, Method::GET, "/users/bob/shared", None).await;
    assert_eq!(
        items(&r.1),
        vec![share(
            "user",
            "bob",
            "alice/",
            &["access:servers!server=alice/"]
        )]
    );
    let r = h.call(1, Method::GET, "/share-codes/alice/", None).await;
    assert_eq!(r.1["items"][0]["exchange_count"], 1);

    // The owner cannot accept its own code; a wrong code is not found.
    let mut alice = Browser::new(&h.nodes[2].cfg.listen.api.to_string());
    alice.login("alice").await;
    assert_eq!(
        alice.send(Method::GET, &accept, None).await.status.as_u16(),
        403
    );
    let r = alice
        .send(Method::GET, "/hub/accept-share?code=nope", None)
        .await;
    assert_eq!(r.status.as_u16(), 404);
    h.shutdown().await;
}
