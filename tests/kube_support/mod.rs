//! Shared set-up for the Kubernetes spawner tests: spawners on kube-fake clients, spawn
//! specs with a progress channel, and request-log queries.

#![allow(dead_code)]

use std::time::Duration;

use rafthub::spawner::kube::{KubeConfig, KubeSpawner};
use rafthub::spawner::{Progress, SpawnSpec, SpawnerConfig};
use rafthub_kube_fake::{FakeKube, RequestRecord, Verb};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// The fake's default namespace, which the spawner uses when none is configured.
pub const NS: &str = "default";
pub const CLUSTER: &str = "c0ffee";

pub fn spawner_config(start_timeout_s: u64, kube: KubeConfig) -> SpawnerConfig {
    SpawnerConfig {
        kind: "kubernetes".into(),
        start_timeout_s,
        kubernetes: kube,
        ..SpawnerConfig::default()
    }
}

/// A spawner logged as `client` whose pod cache has completed its first list.
pub async fn spawner(fake: &FakeKube, client: &str, cfg: SpawnerConfig) -> KubeSpawner {
    let sp = KubeSpawner::new(fake.client(client), cfg, CLUSTER.into());
    assert!(
        sp.reflectors().wait_synced(Duration::from_secs(30)).await,
        "the pod watch never synced"
    );
    sp
}

/// A fresh start's spec (a non-empty environment, as the controller builds it).
pub fn new_spec(
    user: &str,
    server: &str,
    generation: u64,
) -> (SpawnSpec, mpsc::Receiver<Progress>) {
    let (tx, rx) = mpsc::channel(64);
    let prefix = if server.is_empty() {
        format!("/user/{user}/")
    } else {
        format!("/user/{user}/{server}/")
    };
    let spec = SpawnSpec {
        user: user.into(),
        server: server.into(),
        generation,
        prefix,
        env: [
            ("JUPYTERHUB_API_TOKEN".to_string(), "secret".to_string()),
            ("JUPYTERHUB_USER".to_string(), user.to_string()),
        ]
        .into(),
        user_options: json!({}),
        reserved: Value::Null,
        resumed: false,
        progress: Some(tx),
    };
    (spec, rx)
}

/// The spec a new leader's controller uses to adopt an attempt it did not start: no
/// environment (the token was only known to the old leader).
pub fn adopt_spec(user: &str, server: &str, generation: u64, reserved: Value) -> SpawnSpec {
    let (mut s, _) = new_spec(user, server, generation);
    s.env.clear();
    s.reserved = reserved;
    s.resumed = true;
    s.progress = None;
    s
}

/// Messages received so far.
pub fn drain(rx: &mut mpsc::Receiver<Progress>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(p) = rx.try_recv() {
        out.push(p.message);
    }
    out
}

pub fn writes(fake: &FakeKube) -> Vec<RequestRecord> {
    fake.requests()
        .into_iter()
        .filter(|r| r.verb.is_write())
        .collect()
}

/// `(client, verb, resource, name, status)` of every write, for compact assertions.
pub fn write_log(fake: &FakeKube) -> Vec<(String, Verb, String, String, u16)> {
    writes(fake)
        .into_iter()
        .map(|r| {
            let name = object_name(&r);
            (
                r.client,
                r.verb,
                r.resource.unwrap_or_default(),
                name,
                r.status.unwrap_or(0),
            )
        })
        .collect()
}

/// The object a request is about: from the path, or a create's body.
pub fn object_name(r: &RequestRecord) -> String {
    r.name.clone().unwrap_or_else(|| {
        r.body_json()
            .and_then(|b| {
                b.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default()
    })
}

pub fn w(
    client: &str,
    verb: Verb,
    resource: &str,
    name: &str,
    status: u16,
) -> (String, Verb, String, String, u16) {
    (client.into(), verb, resource.into(), name.into(), status)
}

/// Successful creates of pod `name`.
pub fn pod_creates(fake: &FakeKube, name: &str) -> usize {
    writes(fake)
        .iter()
        .filter(|r| {
            r.verb == Verb::Create
                && r.resource.as_deref() == Some("pods")
                && r.status == Some(201)
                && object_name(r) == name
        })
        .count()
}
