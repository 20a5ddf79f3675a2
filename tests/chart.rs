//! The Helm chart (chart/): renders it with `helm template` and checks the invariants the
//! Raft deployment depends on (docs/kubernetes.md): the StatefulSet, its two Services, the
//! PDB, probes, PVC retention, anti-affinity, the rendered rafthub config (which must pass
//! rafthub's own validation and list every replica as a peer) and that secrets stay out of
//! the ConfigMap. Schema validation against Kubernetes itself is chart/ci/check.sh's job.
//!
//! Needs helm: `.tools/helm` (scripts/install-deps.sh puts it there, so CI never skips),
//! `$HELM`, or `helm` on PATH. Without any of them the tests print why and pass.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use rafthub::config::Config;
use serde::Deserialize;
use serde_json::{json, Value};

const NAMESPACE: &str = "jupyterhub";
const RELEASE: &str = "rafthub";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn helm() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HELM") {
        return Some(PathBuf::from(p));
    }
    let local = repo().join(".tools/helm");
    if local.is_file() {
        return Some(local);
    }
    let on_path = Command::new("helm").arg("version").output();
    on_path
        .ok()
        .filter(|o| o.status.success())
        .map(|_| "helm".into())
}

/// Renders the chart (always `Some`; a missing helm binary fails the test).
fn render(values_files: &[&str], sets: &[&str]) -> Option<Rendered> {
    let helm =
        helm().expect("no helm binary (.tools/helm, $HELM or PATH); run scripts/install-deps.sh");
    let mut cmd = Command::new(helm);
    cmd.current_dir(repo()).args([
        "template",
        RELEASE,
        "chart",
        "--namespace",
        NAMESPACE,
        "--kube-version",
        "1.33.0",
    ]);
    for f in values_files {
        cmd.args(["-f", f]);
    }
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().expect("run helm");
    assert!(
        out.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 manifests");
    let docs = serde_yaml::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).expect("a YAML document"))
        .filter(|v| !v.is_null())
        .collect();
    Some(Rendered { docs })
}

/// `helm template` fails (e.g. the schema rejects a key); always `Some`.
fn render_fails(sets: &[&str]) -> Option<String> {
    let helm = helm().expect("no helm binary; run scripts/install-deps.sh");
    let mut cmd = Command::new(helm);
    cmd.current_dir(repo())
        .args(["template", RELEASE, "chart", "--kube-version", "1.33.0"]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let out = cmd.output().expect("run helm");
    assert!(!out.status.success(), "helm accepted --set {sets:?}");
    Some(String::from_utf8_lossy(&out.stderr).into_owned())
}

struct Rendered {
    docs: Vec<Value>,
}

impl Rendered {
    fn all(&self, kind: &str) -> Vec<&Value> {
        self.docs.iter().filter(|d| d["kind"] == kind).collect()
    }

    fn named(&self, kind: &str, name: &str) -> &Value {
        self.all(kind)
            .into_iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} named {name}"))
    }

    /// The hub StatefulSet (the one whose pods run `rafthub serve`).
    fn hub(&self) -> &Value {
        let sts: Vec<_> = self
            .all("StatefulSet")
            .into_iter()
            .filter(|s| {
                s["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "hub"
            })
            .collect();
        assert_eq!(sts.len(), 1, "exactly one hub StatefulSet");
        sts[0]
    }

    fn configmap(&self) -> &Value {
        let cms = self.all("ConfigMap");
        assert_eq!(cms.len(), 1, "one ConfigMap");
        cms[0]
    }

    fn config_toml(&self) -> toml::Value {
        let text = self.configmap()["data"]["rafthub.toml"]
            .as_str()
            .expect("rafthub.toml in the ConfigMap");
        toml::from_str(text).unwrap_or_else(|e| panic!("rafthub.toml does not parse: {e}\n{text}"))
    }
}

fn pod_labels(sts: &Value) -> &serde_json::Map<String, Value> {
    sts["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .expect("pod labels")
}

/// Every key/value of `selector` is among `labels`.
fn selects(selector: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    let sel = selector.as_object().expect("a matchLabels map");
    !sel.is_empty() && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The container(s) that run rafthub, recognised by their command.
fn rafthub_containers(sts: &Value) -> Vec<&Value> {
    let cs: Vec<_> = sts["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter(|c| c["args"].to_string().contains("exec rafthub serve"))
        .collect();
    assert!(!cs.is_empty(), "no container runs rafthub serve");
    cs
}

fn container_port(c: &Value, name: &str) -> i64 {
    c["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_i64())
        .unwrap_or_else(|| panic!("no container port named {name}"))
}

/// The invariants that hold for every set of values.
#[track_caller]
fn check_invariants(
    r: &Rendered,
    replicas: usize,
    base_url: &str,
    anti_affinity: &str,
    domain: &str,
) {
    let sts = r.hub();
    let spec = &sts["spec"];
    let labels = pod_labels(sts);
    let sts_name = sts["metadata"]["name"].as_str().unwrap();
    assert_eq!(spec["replicas"], replicas);

    // Parallel: readiness needs a leader, which needs a majority of pods running.
    assert_eq!(spec["podManagementPolicy"], "Parallel");

    // The headless peers Service is the StatefulSet's serviceName and publishes not-ready pods.
    let peers_name = spec["serviceName"].as_str().expect("serviceName");
    let peers = r.named("Service", peers_name);
    assert_eq!(
        peers["spec"]["clusterIP"], "None",
        "peers Service is headless"
    );
    assert_eq!(peers["spec"]["publishNotReadyAddresses"], true);
    assert!(selects(&peers["spec"]["selector"], labels));

    // The API/proxy Service selects the same pods and does not publish not-ready ones.
    let api_services: Vec<_> = r
        .all("Service")
        .into_iter()
        .filter(|s| s["metadata"]["name"] != peers_name && selects(&s["spec"]["selector"], labels))
        .collect();
    assert!(!api_services.is_empty(), "a Service over the hub pods");
    for s in &api_services {
        assert_ne!(s["spec"]["clusterIP"], "None");
        assert_ne!(s["spec"]["publishNotReadyAddresses"], true);
    }

    // PDB: selects the hub pods, one down at a time (when rendered: hub.pdb.enabled).
    let pdbs = r.all("PodDisruptionBudget");
    // Every multi-replica value set here keeps the PDB on (the single-replica one turns it off).
    assert!(
        replicas == 1 || pdbs.iter().any(|p| p["metadata"]["name"] == sts_name),
        "no PodDisruptionBudget for the hub StatefulSet"
    );
    for pdb in pdbs {
        if pdb["metadata"]["name"] == sts_name {
            assert!(selects(&pdb["spec"]["selector"]["matchLabels"], labels));
            assert_eq!(pdb["spec"]["maxUnavailable"], 1);
        }
    }

    // PVCs are kept when scaled down or deleted.
    assert_eq!(
        spec["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    let claims = spec["volumeClaimTemplates"]
        .as_array()
        .expect("volumeClaimTemplates");
    assert_eq!(claims.len(), 1);

    // Probes: readiness = /hub/readyz, liveness (and startup) = /hub/health, on the API port.
    for c in rafthub_containers(sts) {
        let api_port = container_port(c, "api");
        assert_eq!(api_port, 8081);
        for (probe, path) in [
            ("readinessProbe", "hub/readyz"),
            ("livenessProbe", "hub/health"),
            ("startupProbe", "hub/health"),
        ] {
            let get = &c[probe]["httpGet"];
            assert_eq!(get["path"], format!("{base_url}{path}"), "{probe}");
            assert_eq!(get["port"], "api", "{probe}");
        }
        assert!(c["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep");
        // Node id from the pod ordinal; peers from the ConfigMap.
        let args = c["args"].to_string();
        assert!(args.contains("RAFTHUB_NODE_ID=$((ordinal + 1))"), "{args}");
        let env = c["env"].as_array().expect("env");
        let peers_env = env
            .iter()
            .find(|e| e["name"] == "RAFTHUB_PEERS")
            .expect("RAFTHUB_PEERS");
        assert_eq!(
            peers_env["valueFrom"]["configMapKeyRef"]["name"],
            r.configmap()["metadata"]["name"]
        );
    }

    // Anti-affinity on the hub pods' own labels: preferred by default, required on request.
    let anti = &spec["template"]["spec"]["affinity"]["podAntiAffinity"];
    let (term, other) = match anti_affinity {
        "preferred" => (
            &anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"],
            &anti["requiredDuringSchedulingIgnoredDuringExecution"],
        ),
        "required" => (
            &anti["requiredDuringSchedulingIgnoredDuringExecution"][0],
            &anti["preferredDuringSchedulingIgnoredDuringExecution"],
        ),
        _ => unreachable!(),
    };
    assert!(
        other.is_null(),
        "only {anti_affinity} anti-affinity: {anti}"
    );
    assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
    assert!(selects(&term["labelSelector"]["matchLabels"], labels));

    check_config(r, replicas, peers_name, base_url, domain);
    check_secrets(r);
}

/// The ConfigMap's TOML: every replica is a peer at its stable DNS name, and the whole file
/// passes rafthub's own parsing (unknown keys are errors) and validation.
#[track_caller]
fn check_config(r: &Rendered, replicas: usize, peers_service: &str, base_url: &str, domain: &str) {
    let sts = r.hub();
    let sts_name = sts["metadata"]["name"].as_str().unwrap();
    let cfg = r.config_toml();
    let peers = cfg["cluster"]["peers"].as_array().expect("cluster.peers");
    assert_eq!(peers.len(), replicas);
    let mut flag_form = Vec::new();
    for (i, p) in peers.iter().enumerate() {
        let host = format!("{sts_name}-{i}.{peers_service}.{NAMESPACE}.svc.{domain}");
        assert_eq!(p["id"].as_integer(), Some(i as i64 + 1));
        assert_eq!(p["cluster"].as_str(), Some(format!("{host}:8082").as_str()));
        assert_eq!(p["api"].as_str(), Some(format!("{host}:8081").as_str()));
        flag_form.push(format!("{}={host}:8082/{host}:8081", i + 1));
    }
    assert_eq!(r.configmap()["data"]["peers"], flag_form.join(","));
    // RAFTHUB_PEERS parses (as `rafthub serve` parses it) to the same members as the file.
    let from_env: Vec<rafthub::config::Peer> = flag_form
        .iter()
        .map(|s| rafthub::config::parse_peer(s).expect("a valid RAFTHUB_PEERS entry"))
        .collect();
    let from_file: Config = toml::from_str(r.configmap()["data"]["rafthub.toml"].as_str().unwrap())
        .expect("rafthub parses the rendered config");
    assert_eq!(from_env, from_file.cluster.peers);

    // hub_connect_url is a Service over the hub pods, on the API port.
    let url = cfg["hub"]["hub_connect_url"]
        .as_str()
        .expect("hub_connect_url");
    let host = url
        .strip_prefix("http://")
        .and_then(|u| u.strip_suffix(":8081"))
        .expect("http://HOST:8081");
    let svc_name = host.split('.').next().unwrap();
    let svc = r.named("Service", svc_name);
    assert!(selects(&svc["spec"]["selector"], pod_labels(sts)));
    assert!(svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["port"] == 8081 && p["targetPort"] == "api"));
    assert_eq!(cfg["hub"]["base_url"].as_str(), Some(base_url));
    assert_eq!(cfg["spawner"]["kind"].as_str(), Some("kubernetes"));

    // rafthub reads it: with the node id the container computes and the mounted files.
    let text = r.configmap()["data"]["rafthub.toml"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut parsed: Config = toml::from_str(text)
        .unwrap_or_else(|e| panic!("rafthub rejects the rendered config: {e}\n{text}"));
    let secret = |name: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, "a-secret-of-sufficient-length-for-every-check").unwrap();
        p
    };
    parsed.cluster.secret_file = Some(secret("cluster-secret"));
    parsed.proxy.auth_token_file = parsed
        .proxy
        .auth_token_file
        .as_ref()
        .map(|_| secret("proxy"));
    for s in &mut parsed.hub.services {
        s.api_token_file = s.api_token_file.as_ref().map(|_| secret(&s.name));
    }
    for id in 1..=replicas as u64 {
        parsed.node_id = id;
        parsed
            .validate()
            .unwrap_or_else(|e| panic!("the rendered config fails validation as node {id}: {e}"));
    }
}

/// Secrets live in the Secret, are mounted as files, and never appear in the ConfigMap.
#[track_caller]
fn check_secrets(r: &Rendered) {
    let sts = r.hub();
    let cm = r.configmap()["data"].to_string();
    let cfg = r.config_toml();
    let secret_name = sts["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "secrets")
        .expect("the secrets volume")["secret"]["secretName"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = r.named("Secret", &secret_name);
    let data = secret["data"].as_object().expect("Secret data");
    for (key, b64) in data {
        let plain = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        let plain = String::from_utf8(plain).unwrap();
        assert!(plain.len() >= 16, "{key} is too short");
        assert!(
            !cm.contains(&plain),
            "the value of {key} is inlined in the ConfigMap"
        );
        assert!(
            !cm.contains(b64.as_str().unwrap()),
            "{key} (base64) is in the ConfigMap"
        );
    }
    // The config names files from the mounted Secret, never the values themselves.
    let mount = rafthub_containers(sts)[0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "secrets")
        .expect("secrets mount")["mountPath"]
        .as_str()
        .unwrap()
        .to_string();
    let mut files = vec![cfg["cluster"]["secret_file"]
        .as_str()
        .expect("cluster.secret_file")];
    files.push(
        cfg["proxy"]["auth_token_file"]
            .as_str()
            .expect("proxy.auth_token_file"),
    );
    for s in cfg["hub"]["services"].as_array().into_iter().flatten() {
        assert!(s.get("api_token").is_none(), "inline api_token in {s}");
        if let Some(f) = s.get("api_token_file") {
            files.push(f.as_str().unwrap());
        }
    }
    for f in files {
        let key = f
            .strip_prefix(&format!("{mount}/"))
            .unwrap_or_else(|| panic!("{f} is not in the Secret mount {mount}"));
        assert!(data.contains_key(key), "{f}: the Secret has no key {key}");
    }
    assert!(cfg["cluster"].get("secret").is_none());
    assert!(cfg["proxy"].get("auth_token").is_none());
    let auth = cfg["auth"].as_table().unwrap();
    assert!(!auth.contains_key("dummy_password"));
}

#[test]
fn default_values() {
    let Some(r) = render(&[], &[]) else { return };
    check_invariants(&r, 3, "/", "preferred", "cluster.local");
    // The culler runs as a hub-managed service with exactly the scopes it needs.
    let cfg = r.config_toml();
    let culler = cfg["hub"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"].as_str() == Some("jupyterhub-idle-culler"))
        .expect("the culler service");
    let cmd: Vec<&str> = culler["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(&cmd[..3], ["python3", "-m", "jupyterhub_idle_culler"]);
    for flag in [
        "--timeout=3600",
        "--cull-every=600",
        "--concurrency=10",
        "--max-age=0",
    ] {
        assert!(cmd.contains(&flag), "{flag} in {cmd:?}");
    }
    assert!(!cmd.contains(&"--cull-users=true"));
    let role = cfg["hub"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"].as_str() == Some("jupyterhub-idle-culler"))
        .expect("the culler role");
    let scopes: BTreeSet<&str> = role["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        scopes,
        BTreeSet::from([
            "list:users",
            "read:users:activity",
            "read:servers",
            "delete:servers"
        ])
    );
}

#[test]
fn every_option_on() {
    let Some(r) = render(&["chart/ci/all-options.yaml"], &[]) else {
        return;
    };
    check_invariants(&r, 5, "/jhub/", "required", "cluster.example");

    // Values the operator set explicitly end up in the Secret only.
    let secret = r.named("Secret", "hub-secret");
    let plain = |key: &str| {
        let b = base64::engine::general_purpose::STANDARD
            .decode(secret["data"][key].as_str().unwrap())
            .unwrap();
        String::from_utf8(b).unwrap()
    };
    assert_eq!(plain("cluster-secret"), "a-cluster-secret-of-enough-length");
    assert_eq!(plain("proxy-token"), "a-proxy-token-0123456789abcdef");
    assert_eq!(
        plain("service-grafana-token"),
        "a-token-for-grafana-0123456789"
    );

    // The culler's flags and role follow cull.*.
    let cfg = r.config_toml();
    let services = cfg["hub"]["services"].as_array().unwrap();
    let grafana = services
        .iter()
        .find(|s| s["name"].as_str() == Some("grafana"))
        .unwrap();
    assert_eq!(
        grafana["oauth_no_confirm"].as_bool(),
        Some(true),
        "{grafana}"
    );
    assert_eq!(cfg["hub"]["redirect_to_server"].as_bool(), Some(false));
    assert_eq!(
        cfg["hub"]["template_vars"]["announcement_login"].as_str(),
        Some("Welcome")
    );
    let culler = services
        .iter()
        .find(|s| s["name"].as_str() == Some("jupyterhub-idle-culler"))
        .unwrap();
    let cmd = culler["command"].to_string();
    for flag in [
        "--url=http://127.0.0.1:8081/jhub/hub/api",
        "--timeout=7200",
        "--cull-every=300",
        "--concurrency=5",
        "--max-age=86400",
        "--cull-users=true",
        "--cull-admin-users=false",
        "--remove-named-servers=true",
    ] {
        assert!(cmd.contains(flag), "{flag} in {cmd}");
    }
    let role = cfg["hub"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"].as_str() == Some("jupyterhub-idle-culler"))
        .unwrap();
    assert!(role["scopes"].to_string().contains("admin:users"));

    // singleuser.* lands in [spawner.kubernetes]; the Role is in the user namespace.
    let k = &cfg["spawner"]["kubernetes"];
    assert_eq!(k["namespace"].as_str(), Some("jupyter-users"));
    assert_eq!(k["cpu_guarantee"].as_float(), Some(0.5));
    assert_eq!(k["mem_limit"].as_str(), Some("4G"));
    assert_eq!(k["storage"]["storage_class"].as_str(), Some("standard"));
    let role = r.named("Role", "hub");
    assert_eq!(role["metadata"]["namespace"], "jupyter-users");
    let rules = role["rules"].to_string();
    for res in [
        "pods",
        "persistentvolumeclaims",
        "services",
        "secrets",
        "events",
    ] {
        assert!(rules.contains(res), "{res} in {rules}");
    }
    // hub.config is merged over the rendered config.
    assert_eq!(cfg["hub"]["activity_resolution_s"].as_integer(), Some(60));
    assert_eq!(k["events_cap"].as_integer(), Some(5000));

    // Placeholders below user pods; pullers pull every user image.
    let pc = r.named("PriorityClass", "hub-user-placeholder-priority");
    assert_eq!(pc["value"], -10);
    let puller = r.named("DaemonSet", "hub-continuous-image-puller");
    let images = puller["spec"]["template"]["spec"]["initContainers"].to_string();
    for image in [
        "quay.io/jupyter/scipy-notebook:2025-01-01",
        "quay.io/jupyter/r-notebook:2025-01-01",
        "ubuntu:24.04",
    ] {
        assert!(images.contains(image), "{image} pre-pulled");
    }
}

#[test]
fn anti_affinity_switch_and_replica_count() {
    let Some(r) = render(&[], &["hub.antiAffinity=required", "hub.replicas=5"]) else {
        return;
    };
    check_invariants(&r, 5, "/", "required", "cluster.local");
}

#[test]
fn other_value_sets() {
    for (file, replicas) in [
        ("chart/ci/https-offload.yaml", 1),
        ("chart/ci/https-secret.yaml", 3),
        ("chart/ci/generic-oauth.yaml", 3),
        ("chart/ci/ldap.yaml", 3),
    ] {
        let Some(r) = render(&[file], &[]) else {
            return;
        };
        check_invariants(&r, replicas, "/", "preferred", "cluster.local");
    }
}

#[test]
fn generic_oauth_values_become_the_auth_section() {
    let Some(r) = render(&["chart/ci/generic-oauth.yaml"], &[]) else {
        return;
    };
    let cfg = r.config_toml();
    let auth = &cfg["auth"];
    assert_eq!(auth["kind"].as_str(), Some("generic-oauth"));
    assert_eq!(auth["auto_login"].as_bool(), Some(true));
    assert_eq!(auth["manage_groups"].as_bool(), Some(true));
    assert_eq!(auth["allowed_users"].as_array().map(Vec::len), Some(1));
    assert_eq!(auth["blocked_users"][0].as_str(), Some("mallory"));
    assert!(
        auth.get("allow_all").is_none(),
        "false values are left to the default"
    );
    let oauth = &auth["oauth"];
    assert_eq!(oauth["username_claim"].as_str(), Some("preferred_username"));
    assert_eq!(oauth["admin_groups"][0].as_str(), Some("hub-admins"));
    assert!(oauth.get("client_secret").is_none());
    // The secret comes from the pod's environment (oauthenticator's OAUTH_CLIENT_SECRET).
    let env = rafthub_containers(r.hub())[0]["env"]
        .as_array()
        .unwrap()
        .clone();
    let secret = env
        .iter()
        .find(|e| e["name"] == "OAUTH_CLIENT_SECRET")
        .expect("OAUTH_CLIENT_SECRET");
    assert_eq!(secret["valueFrom"]["secretKeyRef"]["name"], "hub-oauth");
}

#[test]
fn config_change_rolls_pods_but_replica_count_does_not() {
    let checksum = |sets: &[&str]| {
        render(&[], sets).map(|r| {
            r.hub()["spec"]["template"]["metadata"]["annotations"]["checksum/config"].clone()
        })
    };
    let Some(base) = checksum(&[]) else { return };
    assert_eq!(checksum(&["hub.replicas=5"]).unwrap(), base);
    assert_ne!(checksum(&["hub.raft.heartbeatMs=80"]).unwrap(), base);
}

#[test]
fn schema_rejects_unknown_keys() {
    for bad in [
        "hub.bogus=1",
        "proxy.chp.image.name=configurable-http-proxy",
        "hub.db.type=sqlite-pvc",
        "singleuser.storage.type=static",
        "cull.bogus=1",
    ] {
        let Some(err) = render_fails(&[bad]) else {
            return;
        };
        assert!(
            err.contains("values don't meet the specifications"),
            "{bad}: {err}"
        );
    }
}

/// Every `[spawner.kubernetes]` key the chart writes is in docs/kubernetes-spawner.md.
#[test]
fn spawner_keys_are_documented() {
    let Some(r) = render(&["chart/ci/all-options.yaml"], &[]) else {
        return;
    };
    let doc = std::fs::read_to_string(repo().join("docs/kubernetes-spawner.md")).unwrap();
    let mut documented = BTreeSet::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let first = line.split('|').nth(1).unwrap_or("");
        for key in first.split('`').skip(1).step_by(2) {
            documented.insert(key.to_string());
        }
    }
    let cfg = r.config_toml();
    let k = cfg["spawner"]["kubernetes"].as_table().unwrap();
    let mut rendered: BTreeMap<String, ()> = BTreeMap::new();
    for (key, v) in k {
        if key == "storage" {
            for sub in v.as_table().unwrap().keys() {
                rendered.insert(format!("storage.{sub}"), ());
            }
        } else {
            rendered.insert(key.clone(), ());
        }
    }
    for key in rendered.keys() {
        assert!(
            documented.contains(key),
            "{key} is not in docs/kubernetes-spawner.md"
        );
    }
}
