//! The spawn options form of the Kubernetes spawner's `profile_list`: KubeSpawner's
//! `options_form` (a radio `profile` per profile, a `<select>` per profile option) and
//! `options_from_form`, served the way JupyterHub's `SpawnHandler` serves an options form
//! (`GET {hub}spawn[/<user>[/<server>]]` renders it, a `POST` to the same URL spawns).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::{context, Value as Ctx};
use serde_json::{Map, Value};
use std::time::Duration;

use super::pages::{error_page, found, render, Page};
use super::session::form_xsrf_refusal;
use super::user_urls::{authorize, pending_url, query_param, with_next};
use crate::api::auth::Caller;
use crate::hub::Hub;
use crate::spawner::kube::profiles::{unlisted_key, UNLISTED_VALUE};
use crate::spawner::kube::KubeConfig;

/// The Kubernetes settings when the configured spawner has an options form (upstream:
/// `options_form` is empty unless `profile_list` is).
pub(super) fn profiles(hub: &Hub) -> Option<&KubeConfig> {
    let s = &hub.spawner_cfg;
    (s.kind == "kubernetes" && !s.kubernetes.profile_list.is_empty()).then_some(&s.kubernetes)
}

/// KubeSpawner's `options_from_form`: `{"profile": slug}` plus, for that profile only, each
/// `profile-option-{slug}--{option}` field as `option`. Of repeated fields the first value
/// counts; everything else (`_xsrf` included) is ignored.
pub(super) fn options_from_form(fields: &[(String, String)]) -> Map<String, Value> {
    let mut out = Map::new();
    let Some((_, slug)) = fields.iter().find(|(k, _)| k == "profile") else {
        return out;
    };
    if slug.is_empty() {
        return out;
    }
    out.insert("profile".into(), Value::String(slug.clone()));
    let prefix = format!("profile-option-{slug}--");
    let mut seen = std::collections::HashSet::new();
    for (k, v) in fields {
        if let Some(option) = k.strip_prefix(&prefix) {
            // Upstream assigns in field order, so an option named `profile` replaces it.
            if seen.insert(k.as_str()) {
                out.insert(option.to_string(), Value::String(v.clone()));
            }
        }
    }
    // KubeSpawner's form script names the free-text field only while "Other..." is
    // selected; this form always sends it, so a text next to a listed choice is dropped.
    let typed: Vec<String> = out
        .keys()
        .filter(|k| k.ends_with(UNLISTED_SUFFIX))
        .cloned()
        .collect();
    for k in typed {
        let option = &k[..k.len() - UNLISTED_SUFFIX.len()];
        if out.get(option).is_some_and(|c| c != UNLISTED_VALUE) {
            out.remove(&k);
        }
    }
    out
}

const UNLISTED_SUFFIX: &str = "--unlisted-choice";

/// The user options of `GET {hub}spawn?opt-<name>=<value>...` (`opt-` stripped): with a
/// profile list, KubeSpawner's `options_from_query` (its `options_from_form`), validated; else
/// the values as strings. `None` when there are none (the last options are reused).
pub(super) fn options_from_query(
    kube: Option<&KubeConfig>,
    query: Vec<(String, String)>,
) -> Result<Option<Value>, String> {
    if query.is_empty() {
        return Ok(None);
    }
    let o = match kube {
        Some(kube) => {
            let o = Value::Object(options_from_form(&query));
            kube.effective(&o)?;
            return Ok(Some(o));
        }
        None => query.into_iter().map(|(k, v)| (k, Value::String(v))),
    };
    Ok(Some(Value::Object(o.collect())))
}

/// The profiles as the template shows them. The server's last `user_options` pre-select a
/// profile and its choices if they are still valid; else the default profile (the first one
/// marked `default`, else the first) and each option's default choice are selected.
pub(super) fn form_profiles(kube: &KubeConfig, saved: &Value) -> Vec<Ctx> {
    let saved = match kube.effective(saved) {
        Ok(_) => saved,
        Err(_) => &Value::Null,
    };
    let saved_slug = saved
        .get("profile")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let default = kube
        .profile_list
        .iter()
        .position(|p| p.default)
        .unwrap_or(0);
    let or_key = |name: &str, key: &str| {
        if name.is_empty() {
            key.to_string()
        } else {
            name.to_string()
        }
    };
    let mut out = Vec::new();
    for (i, p) in kube.profile_list.iter().enumerate() {
        let slug = p.slug();
        let mine = saved_slug == Some(slug.as_str());
        let options: Vec<Ctx> = p
            .profile_options
            .iter()
            .map(|(key, o)| {
                let fallback = o
                    .choices
                    .iter()
                    .find(|(_, c)| c.default)
                    .or_else(|| o.choices.iter().next())
                    .map(|(k, _)| k.as_str());
                let u = &o.unlisted_choice;
                let typed = saved
                    .get(unlisted_key(key))
                    .and_then(Value::as_str)
                    .filter(|v| mine && u.enabled && !v.is_empty());
                let chosen = match typed {
                    Some(_) => Some(UNLISTED_VALUE),
                    None => saved
                        .get(key)
                        .and_then(Value::as_str)
                        .filter(|c| mine && o.choices.contains_key(*c))
                        .or(fallback)
                        .or(u.enabled.then_some(UNLISTED_VALUE)),
                };
                let choices: Vec<Ctx> = o
                    .choices
                    .iter()
                    .map(|(k, c)| {
                        context! {
                            key => k, display_name => or_key(&c.display_name, k),
                            selected => chosen == Some(k.as_str()),
                        }
                    })
                    .collect();
                let field = format!("profile-option-{slug}--{key}");
                let unlisted = u.enabled.then(|| {
                    context! {
                        label => u.label_in_choices(), display_name => u.display_name.clone(),
                        field => format!("{field}{UNLISTED_SUFFIX}"), value => typed.unwrap_or(""),
                        selected => chosen == Some(UNLISTED_VALUE), value_key => UNLISTED_VALUE,
                        pattern => u.validation_regex.clone(), message => u.validation_message.clone(),
                    }
                });
                context! {
                    key => key, display_name => or_key(&o.display_name, key),
                    field => field, choices => choices, unlisted => unlisted,
                }
            })
            .collect();
        let checked = match saved_slug {
            Some(s) => s == slug,
            None => i == default,
        };
        out.push(context! {
            slug => slug, display_name => p.display_name.clone(),
            description => p.description.clone(), checked => checked, options => options,
        });
    }
    out
}

/// What the form is for.
pub(super) struct Form<'a> {
    pub user: &'a str,
    pub server: &'a str,
    /// The server's last `user_options`.
    pub saved: &'a Value,
    /// Where the form posts: the URL it was requested with (keeps `next`).
    pub action: &'a str,
}

/// Renders `spawn.html` (200) for the GET handler.
pub(super) fn render_form(hub: &Hub, headers: &HeaderMap, caller: &Caller, f: Form) -> Response {
    let Some(kube) = profiles(hub) else {
        return error_page(hub, StatusCode::NOT_FOUND, "No options form", None);
    };
    let page = Page::new(hub, headers, None);
    let for_user = (f.user != caller.name).then(|| f.user.to_string());
    render(
        hub,
        page,
        "spawn.html",
        StatusCode::OK,
        context! {
            title => "Server Options", profiles => form_profiles(kube, f.saved),
            for_user => for_user, server_name => f.server, action => f.action,
        },
    )
}

fn is_urlencoded(headers: &HeaderMap) -> Option<bool> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    Some(essence.eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// `POST {hub}spawn[/<user>[/<server>]]`: the submitted options form. Cookie-authenticated
/// and XSRF-checked like the login form; the token may also come in the query or the
/// `X-XSRFToken` header, as Tornado accepts it.
pub async fn spawn_submit(
    State(hub): State<Hub>,
    headers: HeaderMap,
    parts: Option<Path<Vec<String>>>,
    RawQuery(rq): RawQuery,
    body: Bytes,
) -> Response {
    let forbidden = |m: &str| error_page(&hub, StatusCode::FORBIDDEN, m, None);
    let urlencoded = is_urlencoded(&headers);
    let fields: Vec<(String, String)> = if urlencoded == Some(true) {
        form_urlencoded::parse(&body).into_owned().collect()
    } else {
        Vec::new()
    };
    if let Some(refused) = form_xsrf_refusal(&hub, &headers, &fields, rq.as_deref()) {
        return forbidden(refused);
    }
    let Some(caller) = hub.cookie_caller(&headers) else {
        return forbidden("You must be logged in to start a server.");
    };
    let bad = |m: &str| error_page(&hub, StatusCode::BAD_REQUEST, m, Some(&caller.name));
    if urlencoded == Some(false) && !body.is_empty() {
        return bad("The spawn form must be sent as application/x-www-form-urlencoded.");
    }
    let (user, server) = match authorize(&hub, &caller, parts) {
        Ok(t) => t,
        Err((status, m)) => return error_page(&hub, status, &m, Some(&caller.name)),
    };
    let log_name = if server.is_empty() {
        user.clone()
    } else {
        format!("{user}:{server}")
    };
    let (ready, pending) = {
        let st = hub.node.state();
        let s = st.user(&user).and_then(|u| u.servers.get(&server));
        (s.is_some_and(|s| s.ready()), s.and_then(|s| s.pending()))
    };
    if ready {
        return bad(&format!("{log_name} is already running"));
    }
    if let Some(p) = pending {
        return bad(&format!("{log_name} is pending {p}"));
    }
    let options = match profiles(&hub) {
        Some(kube) => {
            let o = options_from_form(&fields);
            if let Err(m) = kube.effective(&Value::Object(o.clone())) {
                return bad(&m);
            }
            o
        }
        // Upstream's default `options_from_form` passes the form through: lists of values.
        None => {
            let mut o = Map::new();
            for (k, v) in fields.into_iter().filter(|(k, _)| k != "_xsrf") {
                if let Value::Array(a) = o.entry(k).or_insert_with(|| Value::Array(Vec::new())) {
                    a.push(Value::String(v));
                }
            }
            o
        }
    };
    let started = crate::spawn::start(
        &hub,
        &user,
        &server,
        Some(Value::Object(options)),
        None,
        Duration::ZERO,
    )
    .await;
    if let Err(e) = started {
        let msg = e.message.as_deref().unwrap_or("Spawn failed");
        return error_page(&hub, e.status, msg, Some(&caller.name));
    }
    let next = query_param(rq.as_deref(), "next");
    found(&with_next(
        &pending_url(&hub, &user, &server),
        next.as_deref(),
    ))
    .into_response()
}

#[cfg(test)]
#[path = "spawn_form_tests.rs"]
mod tests;
