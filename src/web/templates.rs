//! Page templates (minijinja), compiled into the binary: no files to install, no npm build.

use std::sync::OnceLock;

use minijinja::Environment;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("signup.html", include_str!("templates/signup.html")),
    ("error.html", include_str!("templates/error.html")),
    ("home.html", include_str!("templates/home.html")),
    (
        "not_running.html",
        include_str!("templates/not_running.html"),
    ),
    (
        "spawn_pending.html",
        include_str!("templates/spawn_pending.html"),
    ),
    ("spawn.html", include_str!("templates/spawn.html")),
    ("token.html", include_str!("templates/token.html")),
    (
        "oauth_confirm.html",
        include_str!("templates/oauth_confirm.html"),
    ),
    (
        "accept_share.html",
        include_str!("templates/accept_share.html"),
    ),
    ("admin.html", include_str!("templates/admin.html")),
];

pub const STYLE_CSS: &str = include_str!("static/style.css");
pub const LOGO_SVG: &str = include_str!("static/logo.svg");
pub const APP_JS: &str = include_str!("static/app.js");

pub fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, src) in TEMPLATES {
            env.add_template(name, src)
                .expect("built-in templates parse");
        }
        env
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_renders_with_an_empty_context() {
        let env = super::env();
        for (name, _) in super::TEMPLATES {
            let t = env.get_template(name).expect("template");
            let ctx = minijinja::context! {
                hub_prefix => "/hub/", base_url => "/", xsrf => "x", title => "t", next => "/",
                progress_url => "/p", next_url => "/n", default => minijinja::context! { active => false },
                named => Vec::<String>::new(), user => "alice", user_quoted => "alice",
            };
            t.render(ctx).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
