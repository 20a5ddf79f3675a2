//! Page templates (minijinja). The built-in ones are compiled into the binary (no files to
//! install, no npm build); operators add or replace pages from `[hub] template_paths`, as with
//! upstream's `JupyterHub.template_paths`: a file named like a built-in page replaces it, and
//! the built-ins stay reachable as `templates/<name>`, so a custom `login.html` can be
//! `{% extends "templates/login.html" %}` with one block overridden.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use minijinja::Environment;

const TEMPLATES: &[(&str, &str)] = &[
    ("page.html", include_str!("templates/page.html")),
    ("login.html", include_str!("templates/login.html")),
    ("logout.html", include_str!("templates/logout.html")),
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

/// Only these are read from a template directory: it may hold images or notes beside them.
const TEMPLATE_EXTENSIONS: &[&str] = &["html", "htm", "j2", "jinja", "jinja2"];
/// Bounds on what a template directory may hold (all of it is parsed at start).
const MAX_FILES: usize = 1000;
const MAX_FILE_BYTES: u64 = 1024 * 1024;
const MAX_DEPTH: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template_paths: cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template_paths: {path} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("template_paths: more than {MAX_FILES} templates")]
    TooMany,
    #[error("template_paths: {name} does not parse: {source}")]
    Parse {
        name: String,
        source: minijinja::Error,
    },
}

/// The page templates of one hub.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The built-in pages plus those found under `paths` (earlier paths win), with
    /// `static_url(path)` resolving under `hub_prefix` as upstream's templates expect.
    pub fn load(paths: &[PathBuf], hub_prefix: &str) -> Result<Templates, TemplateError> {
        let mut env = builtin_env(hub_prefix);
        let mut seen = std::collections::HashSet::new();
        for dir in paths {
            let mut found = Vec::new();
            collect(dir, dir, 0, &mut found)?;
            for (name, path) in found {
                if !seen.insert(name.clone()) {
                    continue;
                }
                if seen.len() > MAX_FILES {
                    return Err(TemplateError::TooMany);
                }
                let src = std::fs::read_to_string(&path)
                    .map_err(|source| TemplateError::Read { path, source })?;
                env.add_template_owned(name.clone(), src)
                    .map_err(|source| TemplateError::Parse { name, source })?;
            }
        }
        // Parsing alone does not resolve `extends`: render every page once so a custom
        // template naming a missing parent fails the start, not a user's request.
        for name in seen {
            if let Err(source) = env
                .get_template(&name)
                .and_then(|t| t.render(minijinja::context! {}))
            {
                if source.kind() == minijinja::ErrorKind::TemplateNotFound {
                    return Err(TemplateError::Parse { name, source });
                }
            }
        }
        Ok(Templates { env })
    }

    pub fn get(&self, name: &str) -> Result<minijinja::Template<'_, '_>, minijinja::Error> {
        self.env.get_template(name)
    }
}

/// The announcement a page shows: `announcement_<page>` when it is a string (upstream's
/// login, home, spawn and logout pages), else `announcement`.
pub fn announcement<'a>(
    vars: &'a std::collections::BTreeMap<String, serde_json::Value>,
    page: &str,
) -> Option<&'a serde_json::Value> {
    vars.get(&format!("announcement_{page}"))
        .filter(|v| v.is_string())
        .or_else(|| vars.get("announcement"))
}

/// Built-ins under their own names and under `templates/`.
fn builtin_env(hub_prefix: &str) -> Environment<'static> {
    let mut env = Environment::new();
    for (name, src) in TEMPLATES {
        env.add_template(name, src)
            .expect("built-in templates parse");
        env.add_template_owned(format!("templates/{name}"), *src)
            .expect("built-in templates parse");
    }
    let prefix = hub_prefix.to_string();
    env.add_function("static_url", move |path: String| {
        minijinja::Value::from_safe_string(format!(
            "{prefix}static/{}",
            path.trim_start_matches('/')
        ))
    });
    env
}

/// Template files under `dir`, named by their path relative to `root` with `/` separators,
/// in a stable order.
fn collect(
    root: &Path,
    dir: &Path,
    depth: usize,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<(), TemplateError> {
    let read = |path: &Path, source| TemplateError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| read(dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| read(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for ent in entries {
        let path = ent.path();
        let meta = std::fs::metadata(&path).map_err(|e| read(&path, e))?;
        if meta.is_dir() {
            if depth < MAX_DEPTH {
                collect(root, &path, depth + 1, out)?;
            }
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !meta.is_file() || !TEMPLATE_EXTENSIONS.contains(&ext) {
            continue;
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(TemplateError::TooLarge { path });
        }
        let Ok(rel) = path.strip_prefix(root) else {
            continue;
        };
        let name: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        out.push((name.join("/"), path));
        if out.len() > MAX_FILES {
            return Err(TemplateError::TooMany);
        }
    }
    Ok(())
}

/// The built-in templates with the default prefix (tests of single pages).
pub fn env() -> &'static Templates {
    static BUILTIN: OnceLock<Templates> = OnceLock::new();
    BUILTIN.get_or_init(|| Templates {
        env: builtin_env("/hub/"),
    })
}

#[cfg(test)]
#[path = "templates_tests.rs"]
mod tests;
