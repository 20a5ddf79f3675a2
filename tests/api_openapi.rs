//! The OpenAPI document (`GET {hub}api/openapi.json`) against the code: every route that
//! `api::router` registers is documented and every documented operation is served, path
//! parameters and schema references are consistent, and what the document claims about
//! authentication and statuses is what a live replica answers. One helper per kind of check.

mod support;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{check_error, check_status, Hubs, ADMIN_TOKEN};

/// `(method, path)`, method in lowercase as OpenAPI spells it.
type Op = (String, String);

/// Fetches the document from replica `i`, without credentials.
async fn fetch_document(h: &Hubs, i: usize) -> Value {
    let r = h
        .http
        .get(format!("{}/openapi.json", h.api(i)))
        .send()
        .await
        .expect("GET openapi.json");
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.expect("the document is JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "not OpenAPI 3: {}",
        doc["openapi"]
    );
    doc
}

fn documented_operations(doc: &Value) -> BTreeSet<Op> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            ops.insert((method.clone(), path.clone()));
        }
    }
    ops
}

fn registered_routes(hub_prefix: &str) -> BTreeSet<Op> {
    rafthub::api::route_table(hub_prefix)
        .into_iter()
        .map(|(m, p)| (m.as_str().to_lowercase(), p))
        .collect()
}

/// Every route the router serves is in the document, and nothing else is.
fn assert_document_matches_router(doc: &Value, hub_prefix: &str) {
    let documented = documented_operations(doc);
    let registered = registered_routes(hub_prefix);
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the document: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&registered).collect();
    assert!(
        unserved.is_empty(),
        "documented but not routed: {unserved:?}"
    );
}

/// Each `{param}` of a path is declared once as a required path parameter, and no other.
fn assert_path_parameters_declared(doc: &Value) {
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let in_path: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(name, _)| name))
            .collect();
        for (method, op) in item.as_object().expect("path item") {
            let declared: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .inspect(|p| assert_eq!(p["required"], true, "{method} {path}: {p}"))
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let set: BTreeSet<&str> = declared.iter().copied().collect();
            assert_eq!(set.len(), declared.len(), "{method} {path}: duplicates");
            assert_eq!(set, in_path, "{method} {path}: path parameters");
        }
    }
}

/// Every `$ref` points at a schema of the document, and operation ids are unique.
fn assert_references_resolve(doc: &Value) {
    fn walk<'a>(v: &'a Value, refs: &mut Vec<&'a str>) {
        match v {
            Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                    refs.push(r);
                }
                o.values().for_each(|v| walk(v, refs));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    walk(doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "$ref to a missing schema: {r}"
        );
    }
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("path item").values() {
            let id = op["operationId"]
                .as_str()
                .expect("every operation has an id");
            assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
        }
    }
}

/// The token scheme is `Authorization: token <t>`, and secured operations document 403.
fn assert_security_scheme(doc: &Value) {
    let scheme = &doc["components"]["securitySchemes"]["token"];
    assert_eq!(scheme["type"], "apiKey", "{scheme}");
    assert_eq!(scheme["in"], "header", "{scheme}");
    assert_eq!(scheme["name"], "Authorization", "{scheme}");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if op.get("security").is_some() {
                assert_eq!(
                    op["security"],
                    serde_json::json!([{"token": []}]),
                    "{method} {path}"
                );
                assert!(
                    op["responses"].get("403").is_some(),
                    "{method} {path}: no 403"
                );
            }
        }
    }
}

/// The path with every parameter filled with a name that exists nowhere.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some((head, tail)) = rest.split_once('{') {
        out.push_str(head);
        out.push_str("openapi-probe");
        rest = tail.split_once('}').map_or("", |(_, t)| t);
    }
    out.push_str(rest);
    out
}

/// Live: without credentials, secured operations answer 403 and public ones do not; with the
/// admin token and no body, every answer's status is one the operation documents.
async fn assert_live_answers_documented(h: &Hubs, doc: &Value) {
    let origin = h.api(0).trim_end_matches("/hub/api").to_string();
    for (method, path) in documented_operations(doc) {
        // It would stop the replica.
        if path.ends_with("/api/shutdown") {
            continue;
        }
        let op = &doc["paths"][&path][&method];
        let url = format!("{origin}{}", concrete(&path));
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let anonymous = h
            .http
            .request(m.clone(), &url)
            .send()
            .await
            .expect("request");
        let secured = op.get("security").is_some();
        assert_eq!(
            anonymous.status() == StatusCode::FORBIDDEN,
            secured,
            "{method} {path} without a token answered {}",
            anonymous.status()
        );
        let admin = h
            .http
            .request(m, &url)
            .header("Authorization", format!("token {ADMIN_TOKEN}"))
            .send()
            .await
            .expect("request");
        let status = admin.status().as_str().to_string();
        assert!(
            op["responses"].get(&status).is_some(),
            "{method} {path} answered an undocumented {status}: {}",
            admin.text().await.unwrap_or_default()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_openapi_document_matches_the_router() {
    let h = Hubs::start(1).await;
    let doc = fetch_document(&h, 0).await;
    let prefix = h.nodes[0].cfg.hub.hub_prefix();
    assert_document_matches_router(&doc, &prefix);
    assert_path_parameters_declared(&doc);
    assert_references_resolve(&doc);
    assert_security_scheme(&doc);
    assert_live_answers_documented(&h, &doc).await;
    h.shutdown().await;
}

/// The document follows a non-default `base_url`, like the router.
#[test]
fn t11_openapi_document_follows_base_url() {
    let prefix = "/jupyter/hub/";
    let doc = serde_json::to_value(rafthub::api::openapi::document(prefix)).expect("JSON");
    assert_document_matches_router(&doc, prefix);
    assert!(documented_operations(&doc)
        .iter()
        .all(|(_, p)| p.starts_with(prefix)));
}

/// What probing the documented limits turned up: refused with 400, and nothing left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t12_out_of_range_input_is_a_400_without_side_effects() {
    let h = Hubs::start(1).await;
    check_status(&h.call(0, Method::POST, "/users/zoe", None).await, 201);
    for expires_in in [json!(0), json!(-5), json!(i64::MAX), json!(u64::MAX)] {
        let body = json!({ "expires_in": expires_in });
        let r = h
            .call(0, Method::POST, "/users/zoe/tokens", Some(body))
            .await;
        check_error(&r, 400, Some("expires_in"));
    }
    let r = h.call(0, Method::GET, "/users/zoe/tokens", None).await;
    assert_eq!(r.1["api_tokens"], json!([]));
    let short = json!({"api_token": "short"});
    let r = h.call(0, Method::POST, "/services/tiny", Some(short)).await;
    check_error(&r, 400, Some("at least 8 characters"));
    check_status(&h.call(0, Method::GET, "/services/tiny", None).await, 404);
    check_error(
        &h.call(0, Method::POST, "/users/...", None).await,
        400,
        Some("Failed to create user: ..."),
    );
    // In a body, as `..` and `%2e%2e` never reach the hub in a URL (clients resolve them).
    let dots = json!({"usernames": ["%2e%2e"]});
    let r = h.call(0, Method::POST, "/users", Some(dots)).await;
    check_error(&r, 400, Some("Invalid username: %2e%2e"));
    let old = json!({"last_activity": "0000-06-01T00:00:00Z"});
    let r = h
        .call(0, Method::POST, "/users/zoe/activity", Some(old))
        .await;
    check_error(&r, 400, Some("Not a valid timestamp"));
    h.shutdown().await;
}
