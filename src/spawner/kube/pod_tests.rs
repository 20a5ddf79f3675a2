//! Manifest tests: a full snapshot of the default pod (the shape KubeSpawner 7 +
//! z2jh's defaults produce), and tables for the options.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::*;
use crate::spawner::SpawnerConfig;

fn inputs<'a>(
    cfg: &'a KubeConfig,
    slugs: &'a Slugs,
    names: &'a Names,
    server: &'a str,
) -> PodInputs<'a> {
    PodInputs {
        cfg,
        slugs,
        names,
        user: "alice",
        server,
        cluster_id: "c0ffee",
        generation: 3,
        cmd: vec!["jupyterhub-singleuser".into()],
        env: [("JUPYTERHUB_USER".to_string(), "alice".to_string())].into(),
    }
}

fn pod_json(cfg: &KubeConfig, user: &str, server: &str) -> Value {
    let slugs = Slugs::new(user, server);
    let names = Names::new(cfg, &slugs, "jhub");
    let mut i = inputs(cfg, &slugs, &names, server);
    i.user = user;
    serde_json::to_value(build_pod(&i)).unwrap()
}

#[test]
fn default_pod_snapshot() {
    let got = pod_json(&KubeConfig::default(), "alice", "");
    let want = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "jupyter-alice",
            "namespace": "jhub",
            "labels": {
                "app": "jupyterhub",
                "app.kubernetes.io/component": "singleuser-server",
                "app.kubernetes.io/managed-by": "rafthub",
                "app.kubernetes.io/name": "jupyterhub",
                "component": "singleuser-server",
                "heritage": "jupyterhub",
                "hub.jupyter.org/servername": "",
                "hub.jupyter.org/username": "alice"
            },
            "annotations": {
                "hub.jupyter.org/jupyterhub-version": crate::JUPYTERHUB_VERSION,
                "hub.jupyter.org/username": "alice",
                "rafthub/cluster": "c0ffee",
                "rafthub/generation": "3"
            }
        },
        "spec": {
            "automountServiceAccountToken": false,
            "containers": [{
                "args": ["jupyterhub-singleuser"],
                "env": [{"name": "JUPYTERHUB_USER", "value": "alice"}],
                "image": "quay.io/jupyterhub/k8s-singleuser-sample:4.2.0",
                "imagePullPolicy": "IfNotPresent",
                "name": "notebook",
                "ports": [{"containerPort": 8888, "name": "notebook-port"}],
                "resources": {"limits": {}, "requests": {}},
                "securityContext": {"allowPrivilegeEscalation": false, "runAsUser": 1000},
                "volumeMounts": [{"mountPath": "/home/jovyan", "name": "volume-alice"}]
            }],
            "restartPolicy": "OnFailure",
            "securityContext": {"fsGroup": 100},
            "volumes": [{"name": "volume-alice", "persistentVolumeClaim": {"claimName": "claim-alice"}}]
        }
    });
    assert_eq!(got, want, "{}", serde_json::to_string_pretty(&got).unwrap());
}

#[test]
fn options_reach_the_manifest() {
    let cfg: KubeConfig = toml::from_str(
        r#"
        image = "img:1"
        image_pull_secrets = ["regcred"]
        cpu_limit = 2.0
        cpu_guarantee = 0.5
        mem_limit = "2G"
        mem_guarantee = "512M"
        gid = 100
        fs_gid = 100
        service_account = "user-{username}"
        automount_service_account_token = true
        node_selector = { "hub.jupyter.org/node-purpose" = "user" }
        tolerations = [{ key = "hub.jupyter.org/dedicated", operator = "Equal", value = "user", effect = "NoSchedule" }]
        extra_labels = { "hub.jupyter.org/network-access-hub" = "true", release = "jhub" }
        extra_annotations = { owner = "{unescaped_username}" }
        volumes = [{ name = "shared", persistentVolumeClaim = { claimName = "shared-{username}" } }]
        volume_mounts = [{ name = "shared", mountPath = "/shared/{servername}" }]
        init_containers = [{ name = "init", image = "busybox", command = ["chown", "{username}"] }]
        extra_containers = [{ name = "sidecar", image = "proxy:1" }]
        lifecycle_hooks = { postStart = { exec = { command = ["sh", "-c", "echo hi"] } } }
        affinity = { nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution = { nodeSelectorTerms = [{ matchExpressions = [{ key = "pool", operator = "In", values = ["user"] }] }] } } }
        [storage]
        storage_class = "fast"
        "#,
    )
    .unwrap();
    let p = pod_json(&cfg, "Bob.Smith", "gpu");
    let table: &[(&str, Value)] = &[
        ("/metadata/name", json!("jupyter-bob-smith---274c9d19--gpu")),
        ("/metadata/labels/hub.jupyter.org~1username", json!("Bob.Smith")),
        ("/metadata/labels/hub.jupyter.org~1servername", json!("gpu")),
        ("/metadata/labels/release", json!("jhub")),
        ("/metadata/labels/hub.jupyter.org~1network-access-hub", json!("true")),
        ("/metadata/annotations/hub.jupyter.org~1servername", json!("gpu")),
        ("/metadata/annotations/owner", json!("Bob.Smith")),
        ("/spec/imagePullSecrets", json!([{"name": "regcred"}])),
        ("/spec/serviceAccountName", json!("user-bob-smith---274c9d19")),
        ("/spec/automountServiceAccountToken", json!(true)),
        ("/spec/nodeSelector", json!({"hub.jupyter.org/node-purpose": "user"})),
        ("/spec/tolerations/0/effect", json!("NoSchedule")),
        ("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchExpressions/0/key", json!("pool")),
        ("/spec/containers/0/image", json!("img:1")),
        ("/spec/containers/0/resources", json!({"limits": {"cpu": "2", "memory": "2147483648"}, "requests": {"cpu": "0.5", "memory": "536870912"}})),
        ("/spec/containers/0/securityContext", json!({"allowPrivilegeEscalation": false, "runAsGroup": 100, "runAsUser": 1000})),
        ("/spec/containers/0/lifecycle/postStart/exec/command/2", json!("echo hi")),
        ("/spec/containers/0/volumeMounts/1", json!({"name": "shared", "mountPath": "/shared/gpu"})),
        ("/spec/containers/1/name", json!("sidecar")),
        ("/spec/initContainers/0/command/1", json!("bob-smith---274c9d19")),
        ("/spec/volumes/0/persistentVolumeClaim/claimName", json!("claim-bob-smith---274c9d19--gpu")),
        ("/spec/volumes/1/persistentVolumeClaim/claimName", json!("shared-bob-smith---274c9d19")),
    ];
    for (ptr, want) in table {
        assert_eq!(
            p.pointer(ptr),
            Some(want),
            "{ptr} in {}",
            serde_json::to_string_pretty(&p).unwrap()
        );
    }
}

#[test]
fn names_and_state_use_kubespawner_keys() {
    let cfg = KubeConfig::default();
    let n = Names::new(&cfg, &Slugs::new("some_user", "test-server!"), "jhub");
    assert_eq!(
        n.pod,
        "jupyter-some-user---7d3a4d4e--test-server---cb54a9af"
    );
    assert_eq!(
        n.state(),
        json!({
            "pod_name": n.pod,
            "namespace": "jhub",
            "dns_name": format!("{}.jhub.svc.cluster.local", n.pod),
            "pvc_name": "claim-some-user---7d3a4d4e--test-server---cb54a9af",
        })
    );
    let mut none = cfg.clone();
    none.storage.kind = "none".into();
    let n = Names::new(&none, &Slugs::new("alice", ""), "jhub");
    assert_eq!(n.pvc, None);
    assert!(n.state().get("pvc_name").is_none());
    let p = pod_json(&none, "alice", "");
    assert_eq!(p.pointer("/spec/volumes"), Some(&json!([])));
}

#[test]
fn pvc_snapshot() {
    let mut cfg = KubeConfig::default();
    cfg.storage.storage_class = Some("fast".into());
    let got = serde_json::to_value(build_pvc(
        &cfg,
        "claim-alice",
        "alice",
        "",
        &Slugs::new("alice", ""),
    ))
    .unwrap();
    let want = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": "claim-alice",
            "labels": {
                "app": "jupyterhub",
                "app.kubernetes.io/component": "singleuser-server",
                "app.kubernetes.io/managed-by": "rafthub",
                "app.kubernetes.io/name": "jupyterhub",
                "component": "singleuser-storage",
                "heritage": "jupyterhub",
                "hub.jupyter.org/username": "alice"
            },
            "annotations": {
                "hub.jupyter.org/jupyterhub-version": crate::JUPYTERHUB_VERSION,
                "hub.jupyter.org/username": "alice",
                "volume.beta.kubernetes.io/storage-class": "fast"
            }
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "10Gi"}},
            "storageClassName": "fast"
        }
    });
    assert_eq!(got, want);
}

#[test]
fn service_is_owned_by_the_pod() {
    let cfg = KubeConfig::default();
    let slugs = Slugs::new("alice", "");
    let names = Names::new(&cfg, &slugs, "jhub");
    let svc =
        serde_json::to_value(build_service(&inputs(&cfg, &slugs, &names, ""), "uid-1")).unwrap();
    assert_eq!(svc["metadata"]["name"], "jupyter-alice");
    assert_eq!(
        svc["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "Pod", "name": "jupyter-alice", "uid": "uid-1"}])
    );
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "http", "port": 8888, "targetPort": 8888}])
    );
    assert_eq!(svc["spec"]["selector"]["component"], "singleuser-server");
}

#[test]
fn env_drops_the_hubs_own_variables_and_adds_kubespawners() {
    let scfg = SpawnerConfig {
        environment: [("GREETING".to_string(), "hi {username}".to_string())].into(),
        ..SpawnerConfig::default()
    };
    let cfg = KubeConfig {
        mem_limit: Some("1G".into()),
        cpu_limit: Some(1.0),
        cpu_guarantee: Some(0.5),
        ..KubeConfig::default()
    };
    let hub_env: BTreeMap<String, String> = [
        ("PATH", "/hub/bin"),
        ("JUPYTERHUB_USER", "Bob"),
        ("GREETING", "hi Bob"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let env = pod_env(&hub_env, &scfg, &cfg, &Slugs::new("Bob", ""), "/user/Bob/");
    let get = |k: &str| env.get(k).map(String::as_str);
    let table = [
        ("PATH", None),
        ("JUPYTERHUB_USER", Some("Bob")),
        (
            "JUPYTERHUB_SERVICE_URL",
            Some("http://0.0.0.0:8888/user/Bob/"),
        ),
        ("MEM_LIMIT", Some("1073741824")),
        ("CPU_LIMIT", Some("1.0")),
        ("CPU_GUARANTEE", Some("0.5")),
        (
            "JUPYTER_IMAGE",
            Some("quay.io/jupyterhub/k8s-singleuser-sample:4.2.0"),
        ),
        (
            "JUPYTER_IMAGE_SPEC",
            Some("quay.io/jupyterhub/k8s-singleuser-sample:4.2.0"),
        ),
        // Expanded with KubeSpawner's fields: `{username}` is the safe slug.
        ("GREETING", Some("hi bob---cd9fb1e1")),
    ];
    for (k, want) in table {
        assert_eq!(get(k), want, "{k}");
    }
}

#[test]
fn env_references_come_after_what_they_reference() {
    let env: BTreeMap<String, String> = [
        ("A_URL", "http://$(Z_HOST):$(M_PORT)"),
        ("M_PORT", "80"),
        ("Z_HOST", "$(M_PORT)x"),
        ("SELF", "$(SELF)"),
        ("LOOP1", "$(LOOP2)"),
        ("LOOP2", "$(LOOP1)"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let order: Vec<String> = sorted_env(&env).into_iter().map(|e| e.name).collect();
    assert_eq!(
        order,
        ["M_PORT", "SELF", "Z_HOST", "A_URL", "LOOP1", "LOOP2"]
    );
}
