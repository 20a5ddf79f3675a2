//! Free-text choices (`unlisted_choice`), as KubeSpawner validates and applies them.

use super::*;
use serde_json::json;

fn config(toml_text: &str) -> KubeConfig {
    toml::from_str(toml_text).expect("valid config")
}

const IMAGES: &str = r#"
    image = "base:1"
    [[profile_list]]
    display_name = "Custom"
    [profile_list.profile_options.image]
    display_name = "Image"
    [profile_list.profile_options.image.choices.minimal]
    display_name = "Minimal"
    kubespawner_override = { image = "minimal:1" }
    [profile_list.profile_options.image.unlisted_choice]
    enabled = true
    display_name = "Image from Docker Hub"
    validation_regex = "pangeo/"
    validation_message = "Must be a pangeo image"
    kubespawner_override = { image = "{value}", extra_labels = { "tag-{value}" = "{value}", braces = "{{value}}", other = "{username}" } }
"#;

#[test]
fn unlisted_choices_validate_and_substitute_like_kubespawner() {
    let c = config(IMAGES);
    c.validate().expect("valid");
    // The image a spawn gets, or the error.
    let table: &[(serde_json::Value, Result<&str, &str>)] = &[
        (json!({}), Ok("minimal:1")),
        (
            json!({"profile": "custom", "image": "minimal"}),
            Ok("minimal:1"),
        ),
        // The typed value wins over the listed choice, as in `_load_profile`.
        (
            json!({"profile": "custom", "image": "unlisted-choice", "image--unlisted-choice": "pangeo/x:1"}),
            Ok("pangeo/x:1"),
        ),
        (
            json!({"image--unlisted-choice": "pangeo/y:2"}),
            Ok("pangeo/y:2"),
        ),
        // An empty value is no value.
        (json!({"image--unlisted-choice": ""}), Ok("minimal:1")),
        // `re.match` anchors at the start only.
        (json!({"image--unlisted-choice": "pangeo/"}), Ok("pangeo/")),
        (
            json!({"image--unlisted-choice": "evil/pangeo/x"}),
            Err("Received unlisted_choice for image that failed validation regex."),
        ),
    ];
    for (opts, want) in table {
        let got = c.effective(opts).map(|e| e.image);
        assert_eq!(
            got,
            want.map(str::to_string).map_err(str::to_string),
            "{opts}"
        );
    }
    let e = c
        .effective(&json!({"image--unlisted-choice": "pangeo/z"}))
        .unwrap();
    let labels: Vec<(&str, &str)> = e
        .extra_labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("braces", "{value}"),
            ("other", "{username}"),
            ("tag-pangeo/z", "pangeo/z")
        ]
    );
}

#[test]
fn unlisted_choices_must_be_enabled_and_compile() {
    let off = IMAGES.replace("enabled = true", "enabled = false");
    let c = config(&off);
    assert_eq!(
        c.effective(&json!({"image--unlisted-choice": "pangeo/x"}))
            .unwrap_err(),
        "Received unlisted_choice for image without being enabled."
    );
    let bad = IMAGES.replace("\"pangeo/\"", "\"(\"");
    let err = config(&bad).validate().unwrap_err();
    assert!(err.contains("validation_regex"), "{err}");
}

#[test]
fn an_option_with_only_a_free_text_choice_loads_but_needs_a_value() {
    let c = config(
        r#"
        [[profile_list]]
        display_name = "Any image"
        [profile_list.profile_options.image.unlisted_choice]
        enabled = true
        kubespawner_override = { image = "{value}" }
        "#,
    );
    c.validate().expect("loads");
    assert_eq!(
        c.effective(&json!({"image--unlisted-choice": "a:1"}))
            .unwrap()
            .image,
        "a:1"
    );
    assert_eq!(
        c.effective(&json!({})).unwrap_err(),
        "Unable to determine a default choice for image."
    );
}
