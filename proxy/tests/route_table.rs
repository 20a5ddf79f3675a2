//! RouteTable as the binary uses it: replicated writes, lookups, activity.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rafthub_proxy::{canonical_spec, Route, RouteTable};
use serde_json::json;
use support::route;

const T1: &str = "http://127.0.0.1:1";
const T2: &str = "http://127.0.0.1:2";

fn specs(t: &RouteTable) -> Vec<String> {
    t.get_all().iter().map(|r| r.spec().to_owned()).collect()
}

#[test]
fn upsert_get_remove_with_chp_keys() {
    let t = RouteTable::new(false);
    t.upsert(route("/user/alice/", T1, json!({"user": "alice"})));
    t.upsert(route("/user/a%40b/", T1, json!({})));
    t.upsert(route("/", T2, json!({"hub": true})));
    assert_eq!(specs(&t), ["/", "/user/a@b", "/user/alice"]);
    assert_eq!(t.len(), 3);
    let alice = t
        .get("/user/alice/")
        .expect("trailing slash is the same route");
    assert_eq!(
        (alice.target(), &alice.data()["user"]),
        (T1, &json!("alice"))
    );
    assert_eq!(
        t.get(&canonical_spec("/user/a%40b/"))
            .map(|r| r.spec().to_owned())
            .as_deref(),
        Some("/user/a@b")
    );
    assert!(t.remove("/user/alice"));
    assert!(!t.remove("/user/alice"));
    assert_eq!(t.len(), 2);
}

#[test]
fn lookup_longest_prefix_and_default() {
    let t = RouteTable::new(false);
    assert!(
        t.lookup(None, "/anything").is_none(),
        "empty table has no default"
    );
    t.upsert(route("/", T1, json!({})));
    t.upsert(route("/user/alice/", T2, json!({})));
    let cases = [
        ("/user/alice/api/x", "/user/alice"),
        ("/user/alice", "/user/alice"),
        ("/user/alice2/", "/"),
        ("/user/al%69ce/x", "/user/alice"),
        ("/hub/", "/"),
    ];
    for (path, want) in cases {
        assert_eq!(
            t.lookup(None, path).map(|r| r.spec().to_owned()).as_deref(),
            Some(want),
            "{path}"
        );
    }
}

#[test]
fn host_routing_lookup() {
    let t = RouteTable::new(true);
    t.upsert(route("/", T1, json!({})));
    t.upsert(route("alice.example.org/user/alice/", T2, json!({})));
    let hit = |host, path| t.lookup(host, path).map(|r| r.spec().to_owned());
    assert_eq!(
        hit(Some("alice.example.org:443"), "/user/alice/x").as_deref(),
        Some("/alice.example.org/user/alice")
    );
    assert_eq!(
        hit(Some("bob.example.org"), "/user/alice/x").as_deref(),
        Some("/")
    );
    assert_eq!(hit(None, "/user/alice/x").as_deref(), Some("/"));
}

#[test]
fn replace_all_is_exact_and_keeps_unchanged_activity() {
    let t = RouteTable::new(false);
    t.upsert(route("/a/", T1, json!({})));
    t.upsert(route("/b/", T1, json!({})));
    let early = SystemTime::now() + Duration::from_secs(3600);
    t.merge_activity("/a", early);
    t.merge_activity("/b", early);
    t.replace_all([
        route("/a/", T1, json!({"v": 2})),
        route("/b/", T2, json!({})),
        route("/c/", T1, json!({})),
        route("/c", T2, json!({"dup": "last wins"})),
    ]);
    assert_eq!(specs(&t), ["/a", "/b", "/c"]);
    let a = t.get("/a").expect("a");
    assert_eq!(
        (a.data()["v"].clone(), a.last_activity()),
        (json!(2), early_ms(early))
    );
    assert!(
        t.get("/b").expect("b").last_activity() < early,
        "new target restarts activity"
    );
    assert_eq!(t.get("/c").expect("c").target(), T2);
    t.replace_all(Vec::<Route>::new());
    assert!(t.is_empty());
}

#[test]
fn update_applies_many_changes_as_upserts_and_removes_would() {
    let t = RouteTable::new(false);
    for spec in ["/a/", "/b/", "/c/"] {
        t.upsert(route(spec, T1, json!({})));
    }
    let early = SystemTime::now() + Duration::from_secs(3600);
    t.merge_activity("/a", early);
    t.merge_activity("/b", early);
    t.update(
        vec![
            route("/a/", T1, json!({"v": 2})),
            route("/b/", T2, json!({})),
            route("/d/", T1, json!({})),
        ],
        &["/c/".to_string(), "/never".to_string()],
    );
    assert_eq!(specs(&t), ["/a", "/b", "/d"]);
    let a = t.get("/a").expect("a");
    assert_eq!(
        (a.data()["v"].clone(), a.last_activity()),
        (json!(2), early_ms(early)),
        "same target: data updated, activity kept"
    );
    assert!(
        t.get("/b").expect("b").last_activity() < early,
        "new target restarts activity"
    );
    // Nothing to do is no new snapshot and no error.
    t.update(Vec::new(), &[]);
    assert_eq!(t.len(), 3);
}

/// Timestamps are kept at millisecond precision.
fn early_ms(t: SystemTime) -> SystemTime {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("epoch")
        .as_millis();
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).expect("ms"))
}

#[test]
fn take_activity_reports_each_change_once() {
    let t = RouteTable::new(false);
    t.upsert(route("/a/", T1, json!({})));
    t.upsert(route("/b/", T1, json!({})));
    let first: Vec<String> = t.take_activity().into_iter().map(|r| r.spec).collect();
    assert_eq!(first.len(), 2, "new routes count as active");
    assert!(t.take_activity().is_empty());
    // Merged (cluster) values are not echoed back.
    t.merge_activity("/a", SystemTime::now() + Duration::from_secs(10));
    assert!(t.take_activity().is_empty());
    // Unreported activity of a removed route is still drained once.
    t.upsert(route("/c/", T1, json!({})));
    t.remove("/c");
    let drained = t.take_activity();
    assert_eq!(
        drained.iter().map(|r| r.spec.as_str()).collect::<Vec<_>>(),
        ["/c"]
    );
    assert!(t.take_activity().is_empty());
}

#[test]
fn route_serde_round_trip_keeps_canonical_spec() {
    let r = route("/user/a%2540/", T1, json!({"user": "a%40"}));
    let s = serde_json::to_string(&r).expect("serialise");
    assert_eq!(serde_json::from_str::<Route>(&s).expect("deserialise"), r);
    assert!(serde_json::from_str::<Route>(r#"{"spec": "/x", "target": "nope"}"#).is_err());
}

#[test]
fn readers_see_consistent_snapshots_during_writes() {
    let t = RouteTable::new(false);
    t.upsert(route("/", T1, json!({})));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (t, stop) = (t.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) && n < 200_000 {
                let hit = t
                    .lookup(None, "/user/u7/x")
                    .expect("default route always present");
                assert!(hit.spec() == "/" || hit.spec() == "/user/u7");
                n += 1;
            }
            n
        })
    };
    for round in 0..200 {
        for i in 0..10 {
            t.upsert(route(&format!("/user/u{i}/"), T2, json!({"round": round})));
        }
        for i in 0..10 {
            t.remove(&format!("/user/u{i}"));
        }
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().expect("reader") > 0);
    assert_eq!(t.len(), 1);
}
