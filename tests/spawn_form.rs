//! The spawn options form of the Kubernetes spawner's `profile_list`, through the browser
//! flow: log in, `GET {hub}spawn` renders the profiles, `POST {hub}spawn` (XSRF-checked)
//! spawns with KubeSpawner's `options_from_form` user options, and the pod the leader creates
//! in kube-fake carries the chosen profile's overrides.

mod support;

use std::time::Duration;

use rafthub::spawner::kube::KubeConfig;
use rafthub_kube_fake::FakeKube;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::browser::Browser;
use support::*;

const PROFILES: &str = r#"
[[profile_list]]
display_name = "Small"
slug = "small"
description = "One core"
kubespawner_override = { cpu_limit = 1.0 }
[[profile_list]]
display_name = "GPU"
slug = "gpu"
default = true
kubespawner_override = { cpu_limit = 4.0 }
[profile_list.profile_options.image]
display_name = "Image"
[profile_list.profile_options.image.choices.torch]
display_name = "PyTorch"
default = true
kubespawner_override = { image = "torch:2" }
[profile_list.profile_options.image.choices.tf]
display_name = "TensorFlow"
kubespawner_override = { image = "tf:2" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_form_spawns_with_the_chosen_options() {
    // The replica's Kubernetes client comes from KUBECONFIG: one fake for this binary.
    let fake = FakeKube::new();
    let server = fake.start_server().await.expect("kube-fake");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("hub-1.kubeconfig");
    server.write_kubeconfig(&kubeconfig, "hub-1").unwrap();
    std::env::set_var("KUBECONFIG", &kubeconfig);
    let kube: KubeConfig = toml::from_str(PROFILES).expect("profiles");
    let hubs = Hubs::start_with(1, |cfg| {
        cfg.auth.kind = "dummy".into();
        cfg.spawner.kind = "kubernetes".into();
        cfg.spawner.slow_spawn_timeout_s = 0;
        cfg.spawner.kubernetes = kube.clone();
    })
    .await;
    let mut b = Browser::new(&hubs.nodes[0].cfg.listen.api.to_string());
    b.login("alice").await;

    // GET renders the form: a radio per profile (the default checked), a select per option.
    let r = b
        .send(Method::GET, "/hub/spawn?next=%2Fuser%2Falice%2Flab", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for want in [
        r#"id="spawn_form""#,
        r#"name="profile" id="profile-item-small" value="small">"#,
        r#"name="profile" id="profile-item-gpu" value="gpu" checked>"#,
        "One core",
        r#"<select name="profile-option-gpu--image" id="profile-option-gpu--image">"#,
        r#"<option value="torch" selected>PyTorch</option>"#,
        r#"<option value="tf">TensorFlow</option>"#,
        &format!(r#"name="_xsrf" value="{}""#, b.xsrf()),
    ] {
        assert!(r.body.contains(want), "{want} not in {}", r.body);
    }
    assert!(
        r.body.contains("next=%2Fuser%2Falice%2Flab"),
        "the form keeps next"
    );

    // Without the XSRF token (or with a wrong one): 403, nothing spawned.
    let choice = [("profile", "gpu"), ("profile-option-gpu--image", "tf")];
    let r = b.send(Method::POST, "/hub/spawn", Some(&choice)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.contains("_xsrf"), "{}", r.body);
    let wrong = [("_xsrf", "not-the-token"), ("profile", "gpu")];
    let r = b.send(Method::POST, "/hub/spawn", Some(&wrong)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // Unknown profile or choice: 400 with the validation message, nothing spawned.
    let xsrf = b.xsrf();
    let bad = [("_xsrf", xsrf.as_str()), ("profile", "nope")];
    let r = b.send(Method::POST, "/hub/spawn", Some(&bad)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body
            .contains("No such profile: nope. Options include: small, gpu"),
        "{}",
        r.body
    );
    let bad = [
        ("_xsrf", xsrf.as_str()),
        ("profile", "gpu"),
        ("profile-option-gpu--image", "keras"),
    ];
    let r = b.send(Method::POST, "/hub/spawn", Some(&bad)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("Invalid choice"), "{}", r.body);
    // `opt-` query options go through the same parser and validation.
    let r = b
        .send(Method::GET, "/hub/spawn?opt-profile=nope", None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("No such profile: nope"), "{}", r.body);
    let (_, u) = hubs.call(0, Method::GET, "/users/alice", None).await;
    assert_eq!(u["servers"], json!({}), "rejected forms spawn nothing");

    // A valid choice: spawn, then the pending page (keeping next).
    let form = [
        ("_xsrf", xsrf.as_str()),
        ("profile", "gpu"),
        ("profile-option-gpu--image", "tf"),
        // Another profile's options are ignored.
        ("profile-option-small--image", "torch"),
    ];
    let path = "/hub/spawn?next=%2Fuser%2Falice%2Flab";
    let r = b.send(Method::POST, path, Some(&form)).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    assert_eq!(
        r.location,
        "/hub/spawn-pending/alice?next=%2Fuser%2Falice%2Flab"
    );
    let (_, u) = hubs.call(0, Method::GET, "/users/alice", None).await;
    assert_eq!(
        u["servers"][""]["user_options"],
        json!({"profile": "gpu", "image": "tf"}),
        "{u}"
    );

    // The server is pending now: GET goes to the pending page, a second POST is refused.
    let r = b.send(Method::GET, "/hub/spawn", None).await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    assert!(
        r.location.starts_with("/hub/spawn-pending/alice"),
        "{}",
        r.location
    );
    let r = b.send(Method::POST, "/hub/spawn", Some(&form)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("alice is pending spawn"), "{}", r.body);

    // The leader's pod has the profile's and the choice's overrides.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let pod = loop {
        if let Some(p) = fake.get("pods", "default", "jupyter-alice") {
            break p;
        }
        assert!(tokio::time::Instant::now() < deadline, "no pod was created");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["image"], "tf:2", "{pod}");
    let cpu = &c["resources"]["limits"]["cpu"];
    assert!(matches!(cpu, Value::String(s) if s == "4"), "{pod}");
    hubs.shutdown().await;
}
