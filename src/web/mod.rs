//! The browser side of the hub: login and sessions, the OAuth provider, and the pages.
//!
//! Pages are server-rendered templates (compiled in) with a little plain JavaScript that
//! calls the REST API with the session cookie and an XSRF header.

mod accept_share;
pub mod authenticator;
pub mod cookies;
pub mod generic_oauth;
pub mod generic_oauth_flow;
pub mod ldap_auth;
mod ldap_flow;
mod login;
pub mod oauth;
pub mod pages;
pub mod session;
mod spawn_form;
pub mod templates;
mod user_urls;

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::api::names::quote_name;
use crate::hub::Hub;

/// The SSE progress endpoint of a server.
pub fn progress_url(hub: &Hub, user: &str, server: &str) -> String {
    let base = format!("{}api/users/{}", hub.hub_prefix(), quote_name(user));
    if server.is_empty() {
        format!("{base}/server/progress")
    } else {
        format!("{base}/servers/{}/progress", quote_name(server))
    }
}

/// Headers every page response carries: the version, and the content security policy.
async fn page_headers(
    axum::extract::State(hub): axum::extract::State<Hub>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut res = next.run(req).await;
    res.headers_mut().insert(
        HeaderName::from_static("x-jupyterhub-version"),
        HeaderValue::from_static(crate::JUPYTERHUB_VERSION),
    );
    hub.csp.apply(&mut res);
    res
}

/// Routes of the pages, login and OAuth. Merged with the API router (which owns the fallback).
pub fn router(hub: Hub) -> Router {
    let h = hub.hub_prefix();
    let b = hub.cfg.base_url.clone();
    let mut r = Router::new()
        .route(&h, get(pages::root))
        .route(&format!("{h}home"), get(pages::home))
        .route(
            &format!("{h}login"),
            get(login::login_page).post(login::login_submit),
        )
        .route(
            &format!("{h}signup"),
            get(login::signup_page).post(login::signup_submit),
        )
        .route(&format!("{h}logout"), get(login::logout))
        .route(
            &format!("{h}oauth_login"),
            get(generic_oauth_flow::oauth_login),
        )
        .route(
            &format!("{h}oauth_callback"),
            get(generic_oauth_flow::oauth_callback),
        )
        .route(&format!("{h}token"), get(pages::token_page))
        .route(
            &format!("{h}accept-share"),
            get(accept_share::page).post(accept_share::accept),
        )
        .route(&format!("{h}admin"), get(pages::admin_page))
        .route(&format!("{h}error/{{code}}"), get(pages::error_code))
        .route(&format!("{h}security/csp-report"), post(pages::csp_report))
        .route(&format!("{h}static/{{file}}"), get(pages::static_file))
        .route(&format!("{h}logo"), get(pages::logo))
        // Where `{base}favicon.ico` is redirected to (the pages link the logo as their icon).
        .route(&format!("{h}favicon.ico"), get(pages::logo))
        .route(
            &format!("{h}spawn"),
            get(user_urls::spawn).post(spawn_form::spawn_submit),
        )
        .route(
            &format!("{h}spawn/{{*parts}}"),
            get(user_urls::spawn).post(spawn_form::spawn_submit),
        )
        .route(
            &format!("{h}spawn-pending/{{*parts}}"),
            get(user_urls::spawn_pending),
        )
        .route(
            &format!("{h}user/{{name}}"),
            axum::routing::any(user_urls::user_url),
        )
        .route(
            &format!("{h}user/{{name}}/"),
            axum::routing::any(user_urls::user_url),
        )
        .route(
            &format!("{h}user/{{name}}/{{*path}}"),
            axum::routing::any(user_urls::user_url),
        )
        .route(&format!("{h}user-redirect/"), get(user_urls::user_redirect))
        .route(
            &format!("{h}user-redirect/{{*path}}"),
            get(user_urls::user_redirect),
        )
        .route(
            &format!("{b}user/{{*rest}}"),
            axum::routing::any(user_urls::prefix_redirect),
        )
        .route(
            &format!("{h}api/oauth2/authorize"),
            get(oauth::authorize).post(oauth::authorize_confirmed),
        )
        .route(&format!("{h}api/oauth2/token"), post(oauth::token));
    if b != h {
        r = r.route(&b, get(pages::base_root));
    }
    r.layer(axum::middleware::from_fn_with_state(
        hub.clone(),
        session::login_catch_up,
    ))
    .layer(axum::middleware::from_fn_with_state(
        hub.clone(),
        page_headers,
    ))
    .with_state(hub)
}
