//! Three `rafthub` processes against one kube-fake on 127.0.0.1: the leader is killed after
//! its pod create reached the API server and before the server was recorded; the new leader
//! adopts the pod. The request log shows one create, and writes only from the leader.

mod kube_cluster;
mod procs;

use std::time::Duration;

use kube_cluster::{client, KubeCluster};
use rafthub_kube_fake::{Fault, RequestMatch, Timings, Verb};
use serde_json::Value;

#[test]
fn killed_leader_after_pod_create_the_new_leader_adopts_the_pod() {
    let mut kc = KubeCluster::start("", Timings::default());
    kc.create_users(&["alice".to_string()]);
    let old = kc.cluster.leader();
    let front = kc.other(old);
    // The pod is created, but the leader never hears back.
    let (fault, gate) = Fault::stall_after_commit();
    kc.fake.inject(
        RequestMatch::any()
            .verb(Verb::Create)
            .resource("pods")
            .client(&client(old)),
        fault,
    );
    assert_eq!(kc.cluster.post(front, "/api/users/alice/server"), Some(202));
    let created = kc.rt.block_on(kc.fake.wait_for_request(
        |r| {
            r.verb == Verb::Create && r.resource.as_deref() == Some("pods") && r.status == Some(201)
        },
        Duration::from_secs(30),
    ));
    let created = created.expect("the leader created the pod");
    assert_eq!(created.client, client(old));
    kc.cluster.kill9(old);
    gate.release();

    // The new leader finds the pod of the attempt in its warm cache and adopts it.
    let ready = kc.wait_all_ready(front, 1, Duration::from_secs(90));
    assert_eq!(
        ready,
        (1, 0),
        "alice's server never became ready after the failover"
    );
    let new = kc.cluster.leader();
    assert_ne!(new, old);
    let (_, body) = kc.cluster.get(front, "/api/users/alice").unwrap();
    let user: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        user["servers"][""]["state"]["pod_name"], "jupyter-alice",
        "{user}"
    );

    let log = kc.fake.requests();
    let pod_creates: Vec<_> = log
        .iter()
        .filter(|r| r.verb == Verb::Create && r.resource.as_deref() == Some("pods"))
        .collect();
    assert_eq!(
        pod_creates.len(),
        1,
        "no second create, not even a refused one"
    );
    let writers: Vec<(&str, String)> = log
        .iter()
        .filter(|r| r.verb.is_write())
        .map(|r| (r.client.as_str(), r.uri()))
        .collect();
    assert!(
        writers.iter().all(|(c, _)| *c == client(old)),
        "only the leader that started the spawn wrote (adoption writes nothing): {writers:?}"
    );
    // Every replica, leader or not, kept its pod and event watches warm.
    for i in 0..3 {
        for resource in ["pods", "events"] {
            assert!(
                log.iter().any(|r| r.client == client(i)
                    && r.verb == Verb::Watch
                    && r.resource.as_deref() == Some(resource)),
                "{} never watched {resource}",
                client(i)
            );
        }
    }
}
