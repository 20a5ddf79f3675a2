//! Activity from the data path: successful responses and websocket traffic
//! count; floods of error responses do not (CHP's rule).

mod support;

use std::time::Duration;

use rafthub_proxy::{ProxyConfig, RouteTable, DEBOUNCE_MS};
use serde_json::json;
use support::backend::http_echo;
use support::client::{get, get_with};
use support::ws::{ws_echo, WsClient};
use support::{dead_target, route, start_proxy, target};

fn drained(t: &RouteTable) -> Vec<String> {
    let mut v: Vec<String> = t.take_activity().into_iter().map(|r| r.spec).collect();
    v.sort();
    v
}

#[tokio::test]
async fn only_successful_traffic_counts() {
    let (web, ws) = (http_echo().await, ws_echo().await);
    let table = RouteTable::new(false);
    table.upsert(route("/user/web/", &target(web.addr), json!({})));
    table.upsert(route("/user/dead/", &dead_target().await, json!({})));
    table.upsert(route("/user/ws/", &target(ws.addr), json!({})));
    let p = start_proxy(table.clone(), ProxyConfig::default()).await;
    assert_eq!(
        drained(&table).len(),
        3,
        "adding a route counts as activity"
    );
    let added = table.get("/user/web").expect("route").last_activity();

    // Step past the debounce window so any recorded activity would show.
    tokio::time::sleep(Duration::from_millis(DEBOUNCE_MS + 100)).await;
    for _ in 0..5 {
        assert_eq!(
            get_with(p.addr, "/user/web/x", &[("x-status", "404")])
                .await
                .status
                .as_u16(),
            404
        );
        assert_eq!(
            get_with(p.addr, "/user/web/x", &[("x-status", "302")])
                .await
                .status
                .as_u16(),
            302
        );
        assert_eq!(get(p.addr, "/user/dead/x").await.status.as_u16(), 503);
    }
    assert!(
        drained(&table).is_empty(),
        "error responses are not activity"
    );

    assert_eq!(get(p.addr, "/user/web/x").await.status.as_u16(), 200);
    let mut ws_client = WsClient::connect(p.addr, "/user/ws/channels").await;
    ws_client.echo(b"ping").await;
    assert_eq!(drained(&table), ["/user/web", "/user/ws"]);
    assert!(table.get("/user/web").expect("route").last_activity() > added);

    // Listing shows the same timestamp the drain reported.
    let listed = table.get("/user/ws").expect("route").to_chp_json();
    assert!(listed["last_activity"]
        .as_str()
        .is_some_and(|s| s.ends_with('Z')));
    ws_client.close().await;
}

#[tokio::test]
async fn cost_does_not_grow_with_request_rate() {
    // 200 requests within the debounce window still produce one record.
    let web = http_echo().await;
    let table = RouteTable::new(false);
    table.upsert(route("/", &target(web.addr), json!({})));
    let p = start_proxy(table.clone(), ProxyConfig::default()).await;
    table.take_activity();
    tokio::time::sleep(Duration::from_millis(DEBOUNCE_MS + 100)).await;
    for _ in 0..200 {
        get(p.addr, "/x").await;
    }
    assert_eq!(drained(&table), ["/"]);
    assert!(drained(&table).is_empty());
}
