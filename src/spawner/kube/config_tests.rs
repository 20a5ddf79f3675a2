//! Settings: byte sizes, the documented defaults, profile overrides.

use super::*;
use serde_json::{json, Value};

fn with_profiles(toml_text: &str) -> KubeConfig {
    toml::from_str(toml_text).expect("valid config")
}

#[test]
fn byte_sizes_parse_like_upstream() {
    for (s, want) in [
        ("512M", 512 << 20),
        ("2G", 2u64 << 30),
        ("1.5G", 3 << 29),
        ("1024", 1024),
        ("1T", 1 << 40),
    ] {
        assert_eq!(parse_bytes(s), Ok(want), "{s}");
    }
    assert!(parse_bytes("2Gi").is_err());
    assert!(parse_bytes("lots").is_err());
}

#[test]
fn defaults_match_the_documented_table() {
    let c = KubeConfig::default();
    assert_eq!(c.pod_name_template, "jupyter-{user_server}");
    assert_eq!(c.storage.pvc_name_template, "claim-{user_server}");
    assert_eq!((c.uid, c.gid, c.fs_gid), (Some(1000), None, Some(100)));
    assert_eq!((c.port, c.delete_grace_period_s), (8888, 1));
    assert!(c.validate().is_ok());
    // Kubernetes objects are written with their own field names.
    let c = with_profiles(
        r#"
        tolerations = [{ key = "hub.jupyter.org/dedicated", operator = "Equal", value = "user", effect = "NoSchedule" }]
        volumes = [{ name = "shared", nfs = { server = "nfs.example", path = "/x" } }]
        [storage]
        type = "none"
        "#,
    );
    assert_eq!(c.tolerations[0].effect.as_deref(), Some("NoSchedule"));
    assert!(!c.storage.dynamic());
    assert!(toml::from_str::<KubeConfig>("imagee = \"x\"").is_err());
}

#[test]
fn profiles_override_in_upstream_order() {
    let c = with_profiles(
        r#"
        image = "base:1"
        node_selector = { pool = "user" }
        [[profile_list]]
        display_name = "Small"
        [[profile_list]]
        display_name = "GPU Machine"
        default = true
        kubespawner_override = { image = "gpu:1", node_selector = { gpu = "yes" }, mem_limit = "8G" }
        [profile_list.profile_options.image]
        display_name = "Image"
        [profile_list.profile_options.image.choices.torch]
        display_name = "PyTorch"
        kubespawner_override = { image = "torch:2" }
        [profile_list.profile_options.image.choices.tf]
        display_name = "TensorFlow"
        default = true
        kubespawner_override = { image = "tf:2" }
        "#,
    );
    c.validate().expect("profiles apply");
    assert_eq!(c.profile_list[1].slug(), "gpu-machine");
    /// Image, the `gpu` node selector and the memory limit a spawn gets, or the error.
    type Outcome = Result<(&'static str, Option<&'static str>, Option<&'static str>), &'static str>;
    let table: &[(Value, Outcome)] = &[
        // No choice: the default profile, then its default choice.
        (json!({}), Ok(("tf:2", Some("yes"), Some("8G")))),
        (
            json!({"profile": "gpu-machine", "image": "torch"}),
            Ok(("torch:2", Some("yes"), Some("8G"))),
        ),
        (json!({"profile": "small"}), Ok(("base:1", None, None))),
        (
            json!({"profile": "huge"}),
            Err("No such profile: huge. Options include: small, gpu-machine"),
        ),
        (
            json!({"profile": "gpu-machine", "image": "jax"}),
            Err("Invalid choice \"jax\" for option \"image\" of profile \"gpu-machine\""),
        ),
    ];
    for (opts, want) in table {
        let got = c.effective(opts).map(|e| {
            assert_eq!(
                e.node_selector.get("pool").map(String::as_str),
                Some("user"),
                "tables merge"
            );
            (
                e.image.clone(),
                e.node_selector.get("gpu").cloned(),
                e.mem_limit.clone(),
            )
        });
        let want = (*want)
            .map(|(i, g, m)| (i.to_string(), g.map(str::to_string), m.map(str::to_string)))
            .map_err(str::to_string);
        assert_eq!(got, want, "{opts}");
    }
}

#[test]
fn bad_overrides_are_rejected_at_load() {
    let c = with_profiles(
        r#"
        [[profile_list]]
        display_name = "Typo"
        kubespawner_override = { imagee = "x" }
        "#,
    );
    assert!(c.validate().unwrap_err().contains("imagee"));
}
