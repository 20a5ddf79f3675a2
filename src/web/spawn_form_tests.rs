//! The profile form: KubeSpawner's `options_from_form` and what the form pre-selects.

use super::*;
use serde_json::json;

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn kube() -> KubeConfig {
    toml::from_str(
        r#"
        [[profile_list]]
        display_name = "Small"
        description = "<b>1</b> core"
        [[profile_list]]
        display_name = "GPU Machine"
        default = true
        [profile_list.profile_options.image]
        display_name = "Image"
        [profile_list.profile_options.image.choices.torch]
        display_name = "PyTorch"
        [profile_list.profile_options.image.choices.tf]
        display_name = "TensorFlow"
        default = true
        [profile_list.profile_options.size.choices.s]
        [profile_list.profile_options.size.choices.l]
        "#,
    )
    .expect("valid config")
}

#[test]
fn options_from_form_keeps_only_the_chosen_profile() {
    let table: &[(&[(&str, &str)], Value)] = &[
        (&[], json!({})),
        (&[("profile", "")], json!({})),
        // Options without a profile are dropped, as upstream does.
        (&[("profile-option-gpu--image", "tf")], json!({})),
        (
            &[
                ("_xsrf", "t"),
                ("profile", "gpu"),
                ("profile-option-gpu--image", "tf"),
                ("profile-option-small--image", "torch"),
                ("unknown", "x"),
            ],
            json!({"profile": "gpu", "image": "tf"}),
        ),
        // Of repeated fields the first value counts.
        (
            &[
                ("profile", "a"),
                ("profile", "b"),
                ("profile-option-a--x", "1"),
                ("profile-option-a--x", "2"),
            ],
            json!({"profile": "a", "x": "1"}),
        ),
    ];
    for (form, want) in table {
        assert_eq!(
            Value::Object(options_from_form(&fields(form))),
            *want,
            "{form:?}"
        );
    }
}

/// `(slug, checked, [(option field, selected choice)])` of a rendered profile.
type Selected = (String, bool, Vec<(String, String)>);

fn selection(kube: &KubeConfig, saved: Value) -> Vec<Selected> {
    let json = serde_json::to_value(form_profiles(kube, &saved)).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let opts = p["options"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    let sel: Vec<&Value> = o["choices"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|c| c["selected"] == true)
                        .collect();
                    assert_eq!(sel.len(), 1, "one selected choice in {o}");
                    (
                        o["field"].as_str().unwrap().to_string(),
                        sel[0]["key"].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            (
                p["slug"].as_str().unwrap().to_string(),
                p["checked"] == true,
                opts,
            )
        })
        .collect()
}

#[test]
fn the_form_selects_defaults_or_the_last_valid_options() {
    let k = kube();
    let defaults = vec![
        ("small".to_string(), false, vec![]),
        (
            "gpu-machine".to_string(),
            true,
            vec![
                ("profile-option-gpu-machine--image".into(), "tf".into()),
                // No default choice: the first one.
                ("profile-option-gpu-machine--size".into(), "l".into()),
            ],
        ),
    ];
    assert_eq!(selection(&k, json!({})), defaults);
    // Invalid saved options (a profile or choice that no longer exists) fall back.
    assert_eq!(selection(&k, json!({"profile": "gone"})), defaults);
    assert_eq!(
        selection(&k, json!({"profile": "gpu-machine", "image": "gone"})),
        defaults
    );
    let saved = selection(
        &k,
        json!({"profile": "gpu-machine", "image": "torch", "size": "s"}),
    );
    assert_eq!(
        saved[1].2,
        vec![
            ("profile-option-gpu-machine--image".into(), "torch".into()),
            ("profile-option-gpu-machine--size".into(), "s".into()),
        ]
    );
    let small = selection(&k, json!({"profile": "small"}));
    assert!(small[0].1 && !small[1].1, "{small:?}");
    // Without any `default`, the first profile is checked.
    let mut k = kube();
    k.profile_list[1].default = false;
    assert!(selection(&k, json!({}))[0].1);
}

#[test]
fn the_template_renders_profiles_and_selects() {
    let k = kube();
    let env = super::super::templates::env();
    let html = env
        .get("spawn.html")
        .unwrap()
        .render(context! {
            hub_prefix => "/hub/", xsrf => "tok", action => "/hub/spawn?next=%2Fx",
            profiles => form_profiles(&k, &json!({})),
        })
        .unwrap();
    for want in [
        r#"<input type="hidden" name="_xsrf" value="tok">"#,
        // minijinja escapes `/` in attributes; browsers decode it.
        r#"action="&#x2f;hub&#x2f;spawn?next=%2Fx""#,
        r#"name="profile" id="profile-item-gpu-machine" value="gpu-machine" checked>"#,
        r#"name="profile" id="profile-item-small" value="small">"#,
        r#"<select name="profile-option-gpu-machine--image" id="profile-option-gpu-machine--image">"#,
        r#"<option value="tf" selected>TensorFlow</option>"#,
        r#"<option value="torch">PyTorch</option>"#,
        // An option or choice without display_name shows its key.
        r#"<label for="profile-option-gpu-machine--size">size</label>"#,
        // Descriptions are HTML, as in KubeSpawner's form.
        "<b>1</b> core",
    ] {
        assert!(html.contains(want), "{want} not in {html}");
    }
}

fn with_free_text() -> KubeConfig {
    toml::from_str(
        r#"
        [[profile_list]]
        display_name = "Custom"
        [profile_list.profile_options.image]
        display_name = "Image"
        [profile_list.profile_options.image.choices.minimal]
        display_name = "Minimal"
        [profile_list.profile_options.image.unlisted_choice]
        enabled = true
        display_name = "Your image"
        validation_regex = "^pangeo/"
        validation_message = "A pangeo image"
        kubespawner_override = { image = "{value}" }
        "#,
    )
    .expect("valid config")
}

#[test]
fn free_text_counts_only_when_other_is_chosen() {
    let table: &[(&[(&str, &str)], Value)] = &[
        (
            &[
                ("profile", "custom"),
                ("profile-option-custom--image", "unlisted-choice"),
                ("profile-option-custom--image--unlisted-choice", "pangeo/x"),
            ],
            json!({"profile": "custom", "image": "unlisted-choice", "image--unlisted-choice": "pangeo/x"}),
        ),
        // A listed choice with text left in the field: the text is not sent by
        // KubeSpawner's form, so it is dropped here.
        (
            &[
                ("profile", "custom"),
                ("profile-option-custom--image", "minimal"),
                ("profile-option-custom--image--unlisted-choice", "pangeo/x"),
            ],
            json!({"profile": "custom", "image": "minimal"}),
        ),
    ];
    for (form, want) in table {
        let got = options_from_form(&fields(form));
        assert_eq!(Value::Object(got.clone()), *want, "{form:?}");
        with_free_text()
            .effective(&Value::Object(got))
            .expect("applies");
    }
}

#[test]
fn the_form_offers_other_and_restores_the_typed_value() {
    let k = with_free_text();
    let render = |saved: Value| {
        super::super::templates::env()
            .get("spawn.html")
            .unwrap()
            .render(context! {
                hub_prefix => "/hub/", xsrf => "tok", action => "/hub/spawn",
                profiles => form_profiles(&k, &saved),
            })
            .unwrap()
    };
    let fresh = render(json!({}));
    for want in [
        r#"<option value="minimal" selected>Minimal</option>"#,
        r#"<option value="unlisted-choice">Other...</option>"#,
        r#"<label for="profile-option-custom--image--unlisted-choice">Your image</label>"#,
        r#"name="profile-option-custom--image--unlisted-choice""#,
        r#"value="" pattern="^pangeo&#x2f;" title="A pangeo image">"#,
    ] {
        assert!(fresh.contains(want), "{want} not in {fresh}");
    }
    let again = render(json!({"profile": "custom", "image--unlisted-choice": "pangeo/x"}));
    for want in [
        r#"<option value="minimal">Minimal</option>"#,
        r#"<option value="unlisted-choice" selected>Other...</option>"#,
        r#"value="pangeo&#x2f;x""#,
    ] {
        assert!(again.contains(want), "{want} not in {again}");
    }
}
