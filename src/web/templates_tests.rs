use std::path::{Path, PathBuf};

use minijinja::context;

use super::{TemplateError, Templates, TEMPLATES};

fn write(dir: &Path, name: &str, src: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, src).unwrap();
}

fn render(t: &Templates, name: &str, ctx: minijinja::Value) -> String {
    t.get(name)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn load(dirs: &[&Path]) -> Result<Templates, TemplateError> {
    let dirs: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    Templates::load(&dirs, "/jhub/hub/")
}

/// What every page is given at least (pages.rs `render`), plus the home page's servers.
fn base_ctx() -> minijinja::Value {
    context! {
        hub_prefix => "/hub/", base_url => "/hub/", prefix => "/", xsrf => "x", title => "t",
        next => "/", progress_url => "/p", next_url => "/n",
        default => context! { active => false }, named => Vec::<String>::new(),
        user => context! { name => "alice", admin => true }, user_quoted => "alice",
    }
}

#[test]
fn every_template_renders_with_the_base_context() {
    let t = super::env();
    for (name, _) in TEMPLATES {
        render(t, name, base_ctx());
    }
}

#[test]
fn a_custom_page_replaces_the_builtin_and_can_extend_it() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    write(
        a.path(),
        "login.html",
        r#"{% extends "templates/login.html" %}{% block login %}<p id="custom">Welcome to {{ org }}</p>{{ super() }}{% endblock %}"#,
    );
    // The first path wins over a later one.
    write(b.path(), "login.html", "later path");
    write(
        a.path(),
        "partials/footer.html",
        "<footer>{{ static_url('x.png') }}</footer>",
    );
    write(a.path(), "notes.txt", "{% not a template");
    let t = load(&[a.path(), b.path()]).unwrap();
    let html = render(
        &t,
        "login.html",
        context! { org => "ACME", hub_prefix => "/jhub/hub/" },
    );
    assert!(
        html.contains(r#"<p id="custom">Welcome to ACME</p>"#),
        "{html}"
    );
    assert!(
        html.contains("id=\"login_submit\""),
        "the built-in form is kept: {html}"
    );
    assert_eq!(
        render(&t, "partials/footer.html", context! {}),
        "<footer>/jhub/hub/static/x.png</footer>"
    );
    // Pages not replaced are the built-ins.
    assert!(render(&t, "home.html", base_ctx()).contains("rafthub.home"));
}

#[test]
fn a_custom_layout_changes_every_page() {
    let a = tempfile::tempdir().unwrap();
    write(
        a.path(),
        "page.html",
        r#"{% extends "templates/page.html" %}{% block footer %}<footer id="org">ACME</footer>{% endblock %}"#,
    );
    let t = load(&[a.path()]).unwrap();
    for page in ["login.html", "home.html", "error.html"] {
        assert!(render(&t, page, base_ctx()).contains(r#"<footer id="org">ACME</footer>"#));
    }
}

#[test]
fn broken_templates_fail_the_start_with_the_file_named() {
    let cases: &[(&str, &str)] = &[
        ("login.html", "{% block main %}unclosed"),
        ("home.html", r#"{% extends "no-such-parent.html" %}"#),
    ];
    for (name, src) in cases {
        let a = tempfile::tempdir().unwrap();
        write(a.path(), name, src);
        let err = load(&[a.path()]).err().expect("must fail").to_string();
        assert!(err.contains(name), "{err}");
    }
    let missing = Path::new("/nonexistent-rafthub-templates");
    let err = load(&[missing]).err().expect("must fail").to_string();
    assert!(
        err.contains("cannot read /nonexistent-rafthub-templates"),
        "{err}"
    );
}

#[test]
fn a_page_shows_its_own_announcement_or_the_general_one() {
    let vars: std::collections::BTreeMap<String, serde_json::Value> = serde_json::from_value(
        serde_json::json!({"announcement": "<b>all</b>", "announcement_login": "login only",
                           "announcement_home": 5}),
    )
    .unwrap();
    let cases = [
        ("login", "login only"),
        ("spawn", "<b>all</b>"),
        ("home", "<b>all</b>"),
    ];
    for (page, want) in cases {
        assert_eq!(
            super::announcement(&vars, page),
            Some(&serde_json::json!(want)),
            "{page}"
        );
    }
    assert_eq!(super::announcement(&Default::default(), "login"), None);
    // Shown as HTML, as upstream's `{{ announcement | safe }}`.
    let html = render(
        super::env(),
        "login.html",
        context! { announcement => "<b>all</b>", ..base_ctx() },
    );
    assert!(html.contains(r#"<div class="announcement" role="status"><b>all</b></div>"#));
}
