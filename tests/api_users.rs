//! Users API against a 3-replica in-process cluster: read-your-write on any replica, list
//! semantics, pagination across replicas, and bad input.

mod support;

use reqwest::Method;
use serde_json::json;
use support::{check_error, check_status, Hubs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_create_on_one_replica_read_at_once_on_another() {
    let h = Hubs::start(3).await;
    for i in 0..20 {
        let name = format!("user{i:02}");
        let created = h
            .call(i % 3, Method::POST, &format!("/users/{name}"), None)
            .await;
        check_status(&created, 201);
        assert_eq!(created.1["name"], name);
        // Immediately on the next replica: a local miss is confirmed linearizably.
        let got = h
            .call((i + 1) % 3, Method::GET, &format!("/users/{name}"), None)
            .await;
        check_status(&got, 200);
        assert_eq!(got.1["kind"], "user");
    }
    check_error(
        &h.call(0, Method::POST, "/users/user00", None).await,
        409,
        Some("already exists"),
    );
    check_error(
        &h.call(2, Method::GET, "/users/nobody", None).await,
        404,
        None,
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t11_batch_create_list_filters_and_sort() {
    let h = Hubs::start(3).await;
    let r = h
        .call(
            1,
            Method::POST,
            "/users",
            Some(json!({"usernames": ["Carol", "alice", "bob", "alice"]})),
        )
        .await;
    check_status(&r, 201);
    let names: Vec<&str> =
        r.1.as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap())
            .collect();
    assert_eq!(
        names,
        vec!["carol", "alice", "bob"],
        "names are normalized (lowercased)"
    );
    check_error(
        &h.call(
            1,
            Method::POST,
            "/users",
            Some(json!({"usernames": ["alice", "bob"]})),
        )
        .await,
        409,
        Some("All 2 users already exist"),
    );
    let list = h
        .call(2, Method::GET, "/users?sort=-name&name_filter=A", None)
        .await;
    check_status(&list, 200);
    let names: Vec<&str> = list
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["carol", "alice", "admin"]);
    let inactive = h.call(0, Method::GET, "/users?state=inactive", None).await;
    assert_eq!(inactive.1.as_array().unwrap().len(), 4);
    let ready = h.call(0, Method::GET, "/users?state=ready", None).await;
    assert_eq!(ready.1, json!([]));
    // Upstream's own admin page sends every parameter, empty ones included: no filter.
    let admin_page =
        "/users?include_stopped_servers=1&offset=0&limit=50&name_filter=&sort=id&state=";
    let all = h.call(0, Method::GET, admin_page, None).await;
    check_status(&all, 200);
    assert_eq!(all.1.as_array().unwrap().len(), 4, "{}", all.1);
    // Users without activity sort first ascending, last descending.
    h.call(
        0,
        Method::POST,
        "/users/bob/activity",
        Some(json!({"last_activity": "2024-01-01T00:00:00Z"})),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let asc = h
        .call(1, Method::GET, "/users?sort=last_activity", None)
        .await;
    let asc: Vec<&str> = asc
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(asc.last(), Some(&"bob"), "{asc:?}");
    let desc = h
        .call(2, Method::GET, "/users?sort=-last_activity", None)
        .await;
    let desc: Vec<&str> = desc
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(desc.first(), Some(&"bob"), "{desc:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t12_pagination_next_url_walks_across_replicas() {
    let h = Hubs::start(3).await;
    let names: Vec<String> = (0..25).map(|i| format!("p{i:02}")).collect();
    check_status(
        &h.call(0, Method::POST, "/users", Some(json!({"usernames": names})))
            .await,
        201,
    );
    // Local reads may trail another replica's write by a replication round; a linearizable
    // read (kept in next.url) sees everything acknowledged before it.
    let mut url = format!(
        "{}/users?limit=10&state=inactive&consistency=linearizable",
        h.api(1)
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = h
            .http
            .get(&url)
            .header("Authorization", format!("token {}", support::ADMIN_TOKEN))
            .header("Accept", "application/jupyterhub-pagination+json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["_pagination"]["total"], 26);
        for u in v["items"].as_array().unwrap() {
            seen.push(u["name"].as_str().unwrap().to_string());
        }
        pages += 1;
        match v["_pagination"]["next"]["url"].as_str() {
            Some(next) => {
                assert!(next.contains("state=inactive"), "query kept: {next}");
                // Follow the next page on another replica: same port scheme, other host:port.
                url = next.replace(
                    &h.nodes[1].cfg.listen.api.to_string(),
                    &h.nodes[pages % 3].cfg.listen.api.to_string(),
                );
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 26);
    // Unfiltered id order pages straight through the table: the same users, the same total,
    // and `sort=-id` is the exact reverse (both paths of the list handler agree).
    let names_of = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap().to_string())
            .collect()
    };
    let mut direct = Vec::new();
    for offset in (0..30).step_by(4) {
        let page = h
            .call(
                1,
                Method::GET,
                &format!("/users?offset={offset}&limit=4&consistency=linearizable"),
                None,
            )
            .await;
        direct.extend(names_of(&page.1));
    }
    assert_eq!(direct, seen, "direct pages differ from the filtered walk");
    let desc = h
        .call(1, Method::GET, "/users?sort=-id&limit=100", None)
        .await;
    let mut reversed = seen.clone();
    reversed.reverse();
    assert_eq!(names_of(&desc.1), reversed);
    let tail = h
        .call(1, Method::GET, "/users?sort=-id&offset=24&limit=5", None)
        .await;
    assert_eq!(names_of(&tail.1), reversed[24..].to_vec());
    // Without the Accept header the list is bare and truncated at the max limit.
    let bare = h.call(2, Method::GET, "/users?limit=5", None).await;
    assert_eq!(bare.1.as_array().unwrap().len(), 5);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t13_patch_rename_admin_and_delete() {
    let h = Hubs::start(3).await;
    check_status(
        &h.call(0, Method::POST, "/users/dave", Some(json!({"admin": true})))
            .await,
        201,
    );
    let r = h
        .call(
            1,
            Method::PATCH,
            "/users/dave",
            Some(json!({"name": "David", "admin": false})),
        )
        .await;
    check_status(&r, 200);
    assert_eq!(r.1["name"], "david");
    assert_eq!(r.1["admin"], false);
    assert!(r.1.as_object().unwrap().contains_key("auth_state"));
    // Reads are local by default (DESIGN invariant 6): another replica may still hold the old
    // name for a moment, so this read asks for linearizable consistency.
    check_error(
        &h.call(2, Method::GET, "/users/dave?consistency=linearizable", None)
            .await,
        404,
        None,
    );
    check_status(&h.call(0, Method::POST, "/users/erin", None).await, 201);
    check_error(
        &h.call(
            2,
            Method::PATCH,
            "/users/david",
            Some(json!({"name": "erin"})),
        )
        .await,
        400,
        Some("already exists, username must be unique"),
    );
    check_error(
        &h.call(
            2,
            Method::PATCH,
            "/users/david",
            Some(json!({"admin": "yes"})),
        )
        .await,
        400,
        Some("user.admin must be <class 'bool'>, not: <class 'str'>"),
    );
    check_error(
        &h.call(
            2,
            Method::PATCH,
            "/users/david",
            Some(json!({"color": "red"})),
        )
        .await,
        400,
        Some("Invalid JSON keys"),
    );
    let del = h.call(1, Method::DELETE, "/users/david", None).await;
    assert_eq!(del.0, 204);
    check_error(
        &h.call(0, Method::DELETE, "/users/david", None).await,
        404,
        None,
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t14_bad_input_gets_upstream_errors_and_changes_nothing() {
    let h = Hubs::start(3).await;
    let raw = |body: &'static str| {
        h.http
            .post(format!("{}/users", h.api(0)))
            .header("Authorization", format!("token {}", support::ADMIN_TOKEN))
            .body(body)
            .send()
    };
    let r = raw("{not json").await.unwrap();
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["message"], "Invalid JSON in body of request");
    check_error(
        &h.call(0, Method::POST, "/users", Some(json!({"usernames": []})))
            .await,
        400,
        Some("Must specify at least one user"),
    );
    check_error(
        &h.call(
            0,
            Method::POST,
            "/users",
            Some(json!({"usernames": ["ok", " bad"]})),
        )
        .await,
        400,
        Some("Invalid username:  bad"),
    );
    check_error(
        &h.call(
            0,
            Method::POST,
            "/users",
            Some(json!({"usernames": ["x"], "admin": 1})),
        )
        .await,
        400,
        Some("user.admin must be"),
    );
    check_error(
        &h.call(0, Method::GET, "/users?offset=abc", None).await,
        400,
        Some("must be integers"),
    );
    check_error(
        &h.call(0, Method::GET, "/users?state=sleepy", None).await,
        400,
        Some("Unrecognized state filter"),
    );
    check_error(
        &h.call(0, Method::GET, "/users?sort=age", None).await,
        400,
        Some("sort must be"),
    );
    let huge = "x".repeat(2 * 1024 * 1024);
    let r = h
        .http
        .post(format!("{}/users/big", h.api(1)))
        .header("Authorization", format!("token {}", support::ADMIN_TOKEN))
        .body(format!("{{\"admin\": false, \"pad\": \"{huge}\"}}"))
        .send()
        .await;
    // The 413 is answered from the Content-Length, before the body is read, and the
    // connection closed (as Tornado does past `max_body_size`): a client still writing the
    // body may get a broken pipe instead of the answer. Either way nothing is created (below).
    match r {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => assert!(e.is_request() && !e.is_timeout(), "{e:?}"),
    }
    // Nothing above created a user.
    let all = h.call(2, Method::GET, "/users", None).await;
    let names: Vec<&str> = all
        .1
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["admin"]);
    // Large limits are clamped, negative offsets are abs()'d.
    check_status(
        &h.call(
            0,
            Method::GET,
            "/users?limit=99999999999999999999&offset=-1",
            None,
        )
        .await,
        200,
    );
    // No credentials: 403, never 401; unknown API paths: 404 with a null message.
    check_error(
        &h.call_as(0, "", Method::GET, "/users", None).await,
        403,
        Some("Missing or invalid credentials."),
    );
    check_error(
        &h.call_as(0, "not-a-real-token", Method::GET, "/users", None)
            .await,
        403,
        None.or(Some("Missing")),
    );
    check_error(&h.call(0, Method::GET, "/nope", None).await, 404, None);
    let r = h
        .http
        .get(format!("{}/users", h.api(0)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-jupyterhub-version"],
        rafthub::JUPYTERHUB_VERSION
    );
    h.shutdown().await;
}

/// `GET /users` and the 201 of `POST /users` write their models straight into the body; every
/// model they give must be the one `GET /users/{name}` renders, for callers whose scopes show
/// different keys of different users.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t15_listed_and_created_models_match_the_single_user_model() {
    let h = Hubs::start(3).await;
    let created = h
        .call(
            0,
            Method::POST,
            "/users",
            Some(json!({"usernames": ["alice", "bob", "carol"]})),
        )
        .await;
    check_status(&created, 201);
    for m in created.1.as_array().unwrap() {
        let name = m["name"].as_str().unwrap();
        let one = h
            .call(1, Method::GET, &format!("/users/{name}"), None)
            .await;
        assert_eq!(&one.1, m, "created model of {name}");
    }
    let g = h
        .call(
            0,
            Method::POST,
            "/groups/g",
            Some(json!({"users": ["bob"]})),
        )
        .await;
    check_status(&g, 201);
    h.call(
        0,
        Method::POST,
        "/users/bob/activity",
        Some(json!({"last_activity": "2024-01-01T00:00:00Z"})),
    )
    .await;
    let patched = h
        .call(
            0,
            Method::PATCH,
            "/users/carol",
            Some(json!({"admin": true})),
        )
        .await;
    check_status(&patched, 200);
    let scope_sets: &[&[&str]] = &[
        &["list:users", "read:users"],
        &["list:users", "read:users:name"],
        &[
            "list:users",
            "read:users:groups",
            "read:users:activity!user=bob",
        ],
        &["list:users", "read:servers"],
        &[
            "list:users!group=g",
            "read:users:name!group=g",
            "read:users:activity",
        ],
    ];
    let mut tokens = vec![("admin".to_string(), support::ADMIN_TOKEN.to_string())];
    for scopes in scope_sets {
        let t = h
            .call(
                0,
                Method::POST,
                "/users/admin/tokens",
                Some(json!({"scopes": scopes})),
            )
            .await;
        check_status(&t, 201);
        tokens.push((scopes.join(" "), t.1["token"].as_str().unwrap().to_string()));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for (what, token) in &tokens {
        let list = h.call_as(2, token, Method::GET, "/users", None).await;
        check_status(&list, 200);
        let items = list.1.as_array().unwrap();
        assert!(!items.is_empty(), "{what}: sees someone");
        let paged: serde_json::Value = h
            .http
            .get(format!("{}/users?limit=2", h.api(2)))
            .header("Authorization", format!("token {token}"))
            .header("Accept", "application/jupyterhub-pagination+json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            paged["items"].as_array().unwrap()[..],
            items[..items.len().min(2)]
        );
        assert_eq!(paged["_pagination"]["total"], items.len(), "{what}");
        for m in items {
            let name = m["name"].as_str().unwrap();
            let one = h
                .call_as(1, token, Method::GET, &format!("/users/{name}"), None)
                .await;
            check_status(&one, 200);
            assert_eq!(&one.1, m, "{what}: model of {name}");
        }
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t16_names_in_messages_are_quoted_where_upstream_quotes_them() {
    let h = Hubs::start_with(1, |cfg| cfg.hub.allow_named_servers = true).await;
    // Names in messages as upstream writes them: quoted (its `safe_log`, a repr) where it
    // does, as sent where it does not.
    check_status(&h.call(0, Method::POST, "/users/quoted", None).await, 201);
    for (method, path, body, status, message) in [
        (
            Method::POST,
            "/users/a%2Fb",
            None,
            400,
            "Failed to create user: a/b",
        ),
        (
            Method::PATCH,
            "/users/quoted",
            Some(json!({"name": "a/b"})),
            400,
            "Invalid username: 'a/b'",
        ),
        (
            Method::POST,
            "/users/quoted/servers/a%20b",
            None,
            400,
            "Invalid server_name: 'a b'",
        ),
        (
            Method::PATCH,
            "/users/quoted/servers/nope",
            Some(json!({"name": "other"})),
            404,
            "User quoted has no such server 'nope'",
        ),
    ] {
        let r = h.call(0, method, path, body).await;
        check_error(&r, status, Some(message));
    }
    h.shutdown().await;
}
