//! Groups, services, proxy routes, info, health and shutdown.

mod support;

use reqwest::Method;
use serde_json::json;
use support::{check_error, check_status, Hubs, ADMIN_TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_groups_members_properties_and_group_scopes() {
    let h = Hubs::start(3).await;
    check_status(
        &h.call(
            0,
            Method::POST,
            "/users",
            Some(json!({"usernames": ["ann", "ben"]})),
        )
        .await,
        201,
    );
    let g = h
        .call(
            1,
            Method::POST,
            "/groups/physics",
            Some(json!({"users": ["ann"]})),
        )
        .await;
    check_status(&g, 201);
    assert_eq!(g.1["users"], json!(["ann"]));
    check_error(
        &h.call(2, Method::POST, "/groups/physics", None).await,
        409,
        Some("already exists"),
    );
    check_error(
        &h.call(
            2,
            Method::POST,
            "/groups",
            Some(json!({"groups": ["x"], "users": ["ghost"]})),
        )
        .await,
        400,
        Some("No such user: ghost"),
    );
    let g = h
        .call(
            2,
            Method::POST,
            "/groups/physics/users",
            Some(json!({"users": ["ben"]})),
        )
        .await;
    assert_eq!(g.1["users"], json!(["ann", "ben"]));
    for (method, verb) in [(Method::POST, "add"), (Method::DELETE, "delete")] {
        check_error(
            &h.call(1, method, "/groups/physics/users", Some(json!({})))
                .await,
            400,
            Some(&format!("Must specify users to {verb}")),
        );
    }
    let g = h
        .call(
            0,
            Method::PUT,
            "/groups/physics/properties",
            Some(json!({"gpu": true})),
        )
        .await;
    check_status(&g, 200);
    assert_eq!(g.1["properties"], json!({"gpu": true}));
    check_error(
        &h.call(
            0,
            Method::PUT,
            "/groups/physics/properties",
            Some(json!([1])),
        )
        .await,
        400,
        None.or(Some("dict")),
    );
    let lin = h
        .call(
            1,
            Method::GET,
            "/groups/physics?consistency=linearizable",
            None,
        )
        .await;
    assert_eq!(lin.1["properties"], json!({"gpu": true}));
    let u = h.call(2, Method::GET, "/users/ann", None).await;
    assert_eq!(u.1["groups"], json!(["physics"]));
    let list = h.call(0, Method::GET, "/groups", None).await;
    assert_eq!(list.1.as_array().unwrap().len(), 1);
    let g = h
        .call(
            1,
            Method::DELETE,
            "/groups/physics/users",
            Some(json!({"users": ["ann"]})),
        )
        .await;
    assert_eq!(g.1["users"], json!(["ben"]));
    assert_eq!(
        h.call(2, Method::DELETE, "/groups/physics", None).await.0,
        204
    );
    check_error(
        &h.call(0, Method::GET, "/groups/physics", None).await,
        404,
        Some("No such group"),
    );
    // As upstream: any group name but empty or padded (a GitLab subgroup path has `/`), and
    // the group model's `name` and `roles` keys are accepted on creation.
    let g = h
        .call(
            0,
            Method::POST,
            "/groups/eng%2Fplatform",
            Some(json!({"roles": []})),
        )
        .await;
    check_status(&g, 201);
    assert_eq!(g.1["name"], "eng/platform");
    let g = h.call(1, Method::GET, "/groups/eng%2Fplatform", None).await;
    check_status(&g, 200);
    check_error(
        &h.call(0, Method::POST, "/groups/%20pad", None).await,
        400,
        Some("Invalid group name"),
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t11_services_runtime_and_config() {
    let h = Hubs::start(3).await;
    let list = h.call(0, Method::GET, "/services", None).await;
    check_status(&list, 200);
    // Upstream 6.1.1 with `admin: True` in the service's config (measured): the flag, the
    // admin role it grants, and `command` as the empty list.
    let svc = &list.1["admin-service"];
    assert_eq!(svc["admin"], true, "{svc}");
    assert_eq!(svc["roles"], json!(["admin"]), "{svc}");
    assert_eq!(svc["command"], json!([]), "{svc}");
    check_error(
        &h.call(1, Method::DELETE, "/services/admin-service", None)
            .await,
        405,
        Some("not modifiable at runtime"),
    );
    let s = h
        .call(
            1,
            Method::POST,
            "/services/runtime",
            Some(json!({"url": "http://127.0.0.1:9999", "api_token": "runtime-token-123"})),
        )
        .await;
    check_status(&s, 201);
    let me = h
        .call_as(2, "runtime-token-123", Method::GET, "/user", None)
        .await;
    check_status(&me, 200);
    assert_eq!(me.1["kind"], "service");
    // Upstream's whoami model of a service comes from its database row: no url, info or
    // display there (GET /services has them).
    for k in ["url", "info", "display"] {
        assert!(me.1[k].is_null(), "{k}: {}", me.1);
    }
    check_error(
        &h.call(
            0,
            Method::POST,
            "/services/managed",
            Some(json!({"command": ["sleep", "1"]})),
        )
        .await,
        400,
        Some("Can not create managed service"),
    );
    check_error(
        &h.call(0, Method::POST, "/services/runtime", Some(json!({})))
            .await,
        409,
        Some("already exists"),
    );
    check_status(
        &h.call(2, Method::DELETE, "/services/runtime", None).await,
        200,
    );
    check_error(
        &h.call(0, Method::GET, "/services/runtime", None).await,
        404,
        Some("No such service"),
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t12_info_health_readiness_proxy_and_shutdown() {
    let mut h = Hubs::start(3).await;
    let info = h.call(0, Method::GET, "/info", None).await;
    check_status(&info, 200);
    assert_eq!(info.1["version"], rafthub::JUPYTERHUB_VERSION);
    let root = h.http.get(format!("{}/", h.api(1))).send().await.unwrap();
    assert_eq!(root.status(), 200);
    assert_eq!(root.headers()["access-control-allow-origin"], "*");
    let health = h
        .http
        .head(format!("http://{}/hub/health", h.nodes[2].cfg.listen.api))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // HEAD elsewhere in the API: upstream's handlers have none (405, JSON); the health
    // checks do.
    for (path, status) in [
        ("/hub/api/health", 200),
        ("/hub/api/users", 405),
        ("/hub/api/info", 405),
        ("/hub/api/nope", 405),
    ] {
        let r = h
            .http
            .head(format!("http://{}{path}", h.nodes[2].cfg.listen.api))
            .header("Authorization", format!("token {ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "HEAD {path}");
    }
    // A method an endpoint does not have: Tornado's bare 405.
    for (m, path) in [(Method::PUT, "/users"), (Method::DELETE, "/groups")] {
        let r = h.call(0, m.clone(), path, None).await;
        check_status(&r, 405);
        assert_eq!(r.1, json!({"status": 405, "message": null}), "{m} {path}");
    }
    let ready = h
        .http
        .get(format!("http://{}/hub/readyz", h.nodes[2].cfg.listen.api))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let text = ready.text().await.unwrap();
    assert!(
        text.contains("[+] leader known") && text.contains("[+] applied up to the leader's commit"),
        "{text}"
    );
    // As upstream's get_all_routes: the hub's own default route is listed, and the
    // "jupyterhub" marker of the routes the hub added is not.
    let routes = h.call(0, Method::GET, "/proxy", None).await;
    check_status(&routes, 200);
    assert_eq!(routes.1["/"]["data"]["hub"], json!(true), "{}", routes.1);
    assert_eq!(routes.1["/"]["routespec"], "/");
    assert!(
        routes
            .1
            .as_object()
            .unwrap()
            .values()
            .all(|r| r["data"].get("jupyterhub").is_none()),
        "{}",
        routes.1
    );
    check_status(&h.call(0, Method::POST, "/proxy", None).await, 200);
    check_error(
        &h.call(0, Method::PATCH, "/proxy", None).await,
        400,
        Some("need JSON body"),
    );
    check_status(
        &h.call(0, Method::PATCH, "/proxy", Some(json!({}))).await,
        200,
    );
    check_error(
        &h.call(0, Method::PATCH, "/proxy", Some(json!([1]))).await,
        400,
        Some("Request body must be JSON dict"),
    );
    // The public port serves the hub through the proxy's default route.
    let via_proxy = h
        .http
        .get(format!("{}/hub/api/", h.public(1)))
        .send()
        .await
        .unwrap();
    assert_eq!(via_proxy.status(), 200);
    check_error(
        &h.call(
            1,
            Method::POST,
            "/shutdown",
            Some(json!({"servers": "maybe"})),
        )
        .await,
        400,
        Some("must be true or false"),
    );
    let s = h.call(1, Method::POST, "/shutdown", None).await;
    check_status(&s, 202);
    assert_eq!(s.1["message"], "Shutting down Hub");
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert!(
        h.http.get(format!("{}/", h.api(1))).send().await.is_err(),
        "replica 2 stopped"
    );
    // The others keep serving and still accept writes.
    check_status(
        &h.call(0, Method::POST, "/users/after-shutdown", None).await,
        201,
    );
    h.stop(1).await;
    h.shutdown().await;
}
