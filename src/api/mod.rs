//! The hub's HTTP API (the `api` listener): `{base}hub/api/...`, health and readiness.
//!
//! Handlers authenticate, check scopes against the local replicated state, and either answer
//! from it (reads) or propose a command and answer once it is applied here (writes).
//!
//! Every handler carries a `#[utoipa::path]` annotation; `openapi.rs` turns them, with the
//! doc-only schemas of `schema.rs` and `schema_io.rs`, into the OpenAPI document served at
//! `{base}hub/api/openapi.json`. A route registered here without an annotation listed in
//! `openapi.rs` fails `tests/api_openapi.rs`.

mod activity;
pub mod auth;
pub(crate) mod error;
mod group_members;
mod groups;
mod health;
mod hub_info;
mod metrics;
pub mod models;
pub mod names;
pub mod openapi;
mod proxy_routes;
pub mod request;
mod schema;
mod schema_io;
mod server_ops;
mod server_progress;
mod servers;
mod services;
pub(crate) mod share_codes;
mod share_model;
mod share_schema;
mod shared;
mod shares;
mod token_lookup;
mod tokens;
mod user_model_ser;
mod users;
mod users_write;

use axum::body::Bytes;
use axum::handler::Handler;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter};
use axum::Router;
use rafthub_raft::command::Outcome;

pub use error::ApiError;

use crate::hub::Hub;

static VERSION_HEADER: HeaderName = HeaderName::from_static("x-jupyterhub-version");

/// Every hub response carries `X-JupyterHub-Version` (contract §0); errors produced by the
/// framework itself (405, undecodable paths) get upstream's JSON error shape too.
fn conventions(res: Response) -> Response {
    let mut res = if res.status().is_client_error() || res.status().is_server_error() {
        // JSON errors and the hub's error pages (the 404 page of unknown `{hub}` paths) stay;
        // anything else (a framework's plain-text rejection) becomes the JSON error shape.
        let keep = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
        if keep {
            res
        } else {
            let status = res.status();
            if status == StatusCode::METHOD_NOT_ALLOWED {
                // Tornado's 405 carries no message: `{"status": 405, "message": null}`.
                ApiError::bare(status).into_response()
            } else {
                ApiError::new(status, status.canonical_reason().unwrap_or("Error")).into_response()
            }
        }
    } else {
        res
    };
    let h = res.headers_mut();
    h.insert(
        VERSION_HEADER.clone(),
        HeaderValue::from_static(crate::JUPYTERHUB_VERSION),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("accept, content-type, authorization"),
    );
    res
}

/// A JSON response body.
/// A response whose body is `v` serialized straight to JSON (no `Value` built first).
pub fn serialized_response<T: serde::Serialize + ?Sized>(status: StatusCode, v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

pub fn json_response(status: StatusCode, v: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// Maps an unexpected apply outcome to the HTTP error upstream would give.
pub fn outcome_error(o: Outcome) -> ApiError {
    match o {
        Outcome::NotFound(m) => ApiError::not_found(m),
        Outcome::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
        Outcome::Invalid(m) | Outcome::AlreadyPending(m) => ApiError::bad_request(m),
        Outcome::TooMany { message, .. } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, message),
        Outcome::Ok | Outcome::Created(_) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "unexpected outcome")
        }
    }
}

/// The API's routes as `api::router` registers them: every route goes through [`Routes::add`],
/// which also records its method and full path, so that the OpenAPI drift test
/// (`tests/api_openapi.rs`) can compare the document with what is really served.
struct Routes {
    prefix: String,
    router: Router<Hub>,
    table: Vec<(Method, String)>,
}

impl Routes {
    /// Registers `handler` for `method` at `{hub prefix}{path}`.
    fn add<H, T>(mut self, method: Method, path: &str, handler: H) -> Routes
    where
        H: Handler<T, Hub>,
        T: 'static,
    {
        let full = format!("{}{path}", self.prefix);
        let filter = MethodFilter::try_from(method.clone()).expect("a method axum routes");
        self.router = self.router.route(&full, on(filter, handler));
        self.table.push((method, full));
        self
    }
}

/// Every route of the API listener, for a hub whose prefix is `hub_prefix` (`{base_url}hub/`).
fn routes(hub_prefix: &str) -> Routes {
    let doc = Bytes::from(
        openapi::document(hub_prefix)
            .to_json()
            .expect("the OpenAPI document serializes"),
    );
    let r = Routes {
        prefix: hub_prefix.to_string(),
        router: Router::new(),
        table: Vec::new(),
    };
    health::routes(r)
        .add(Method::GET, "api/openapi.json", move || {
            let doc = doc.clone();
            async move { openapi::serve(doc) }
        })
        .add(Method::GET, "metrics", metrics::metrics)
        .add(Method::GET, "api/metrics", metrics::api_metrics)
        .add(Method::GET, "api/info", hub_info::info)
        .add(Method::GET, "api/user", hub_info::whoami)
        .add(
            Method::GET,
            "api/authorizations/token/{token}",
            token_lookup::owner_of_token,
        )
        .add(Method::POST, "api/shutdown", hub_info::shutdown)
        .add(Method::GET, "api/users", users::list)
        .add(Method::POST, "api/users", users_write::create_many)
        .add(Method::GET, "api/users/{name}", users::get_one)
        .add(Method::POST, "api/users/{name}", users_write::create_one)
        .add(Method::PATCH, "api/users/{name}", users_write::patch)
        .add(Method::DELETE, "api/users/{name}", users_write::delete)
        .add(Method::POST, "api/users/{name}/activity", activity::post)
        .add(Method::GET, "api/users/{name}/tokens", tokens::list)
        .add(Method::POST, "api/users/{name}/tokens", tokens::create)
        .add(
            Method::GET,
            "api/users/{name}/tokens/{token_id}",
            tokens::get_one,
        )
        .add(
            Method::DELETE,
            "api/users/{name}/tokens/{token_id}",
            tokens::delete,
        )
        .add(
            Method::GET,
            "api/users/{name}/server",
            server_ops::get_default,
        )
        .add(
            Method::POST,
            "api/users/{name}/server",
            server_ops::start_default,
        )
        .add(
            Method::DELETE,
            "api/users/{name}/server",
            server_ops::stop_default,
        )
        .add(
            Method::PUT,
            "api/users/{name}/server",
            server_ops::put_default,
        )
        .add(
            Method::PATCH,
            "api/users/{name}/server",
            server_ops::patch_default,
        )
        .add(
            Method::GET,
            "api/users/{name}/servers/{server_name}",
            server_ops::get_named,
        )
        .add(
            Method::POST,
            "api/users/{name}/servers/{server_name}",
            server_ops::start_named,
        )
        .add(
            Method::DELETE,
            "api/users/{name}/servers/{server_name}",
            server_ops::stop_named,
        )
        .add(
            Method::PUT,
            "api/users/{name}/servers/{server_name}",
            server_ops::put_named,
        )
        .add(
            Method::PATCH,
            "api/users/{name}/servers/{server_name}",
            server_ops::patch_named,
        )
        .add(
            Method::GET,
            "api/users/{name}/servers/",
            server_ops::get_empty,
        )
        .add(
            Method::POST,
            "api/users/{name}/servers/",
            server_ops::start_empty,
        )
        .add(
            Method::DELETE,
            "api/users/{name}/servers/",
            server_ops::stop_empty,
        )
        .add(
            Method::PUT,
            "api/users/{name}/servers/",
            server_ops::put_empty,
        )
        .add(
            Method::PATCH,
            "api/users/{name}/servers/",
            server_ops::patch_empty,
        )
        .add(
            Method::GET,
            "api/users/{name}/server/progress",
            server_ops::progress_default,
        )
        .add(
            Method::GET,
            "api/users/{name}/servers/{server_name}/progress",
            server_ops::progress_named,
        )
        .add(Method::GET, "api/groups", groups::list)
        .add(Method::POST, "api/groups", groups::create_many)
        .add(Method::GET, "api/groups/{name}", groups::get_one)
        .add(Method::POST, "api/groups/{name}", groups::create_one)
        .add(Method::DELETE, "api/groups/{name}", groups::delete)
        .add(
            Method::POST,
            "api/groups/{name}/users",
            group_members::members,
        )
        .add(
            Method::DELETE,
            "api/groups/{name}/users",
            group_members::members,
        )
        .add(
            Method::PUT,
            "api/groups/{name}/properties",
            group_members::properties,
        )
        .add(Method::GET, "api/shares/{owner}", shares::list_owner)
        .add(Method::GET, "api/shares/{owner}/{server}", shares::named)
        .add(Method::POST, "api/shares/{owner}/{server}", shares::named)
        .add(Method::PATCH, "api/shares/{owner}/{server}", shares::named)
        .add(Method::DELETE, "api/shares/{owner}/{server}", shares::named)
        .add(Method::GET, "api/shares/{owner}/", shares::default)
        .add(Method::POST, "api/shares/{owner}/", shares::default)
        .add(Method::PATCH, "api/shares/{owner}/", shares::default)
        .add(Method::DELETE, "api/shares/{owner}/", shares::default)
        .add(
            Method::GET,
            "api/share-codes/{owner}",
            share_codes::list_owner,
        )
        .add(
            Method::GET,
            "api/share-codes/{owner}/{server}",
            share_codes::named,
        )
        .add(
            Method::POST,
            "api/share-codes/{owner}/{server}",
            share_codes::named,
        )
        .add(
            Method::DELETE,
            "api/share-codes/{owner}/{server}",
            share_codes::named,
        )
        .add(
            Method::GET,
            "api/share-codes/{owner}/",
            share_codes::default,
        )
        .add(
            Method::POST,
            "api/share-codes/{owner}/",
            share_codes::default,
        )
        .add(
            Method::DELETE,
            "api/share-codes/{owner}/",
            share_codes::default,
        )
        .add(Method::GET, "api/users/{name}/shared", shared::list_user)
        .add(
            Method::GET,
            "api/users/{name}/shared/{owner}/{server}",
            shared::user_named,
        )
        .add(
            Method::DELETE,
            "api/users/{name}/shared/{owner}/{server}",
            shared::user_named,
        )
        .add(
            Method::GET,
            "api/users/{name}/shared/{owner}/",
            shared::user_default,
        )
        .add(
            Method::DELETE,
            "api/users/{name}/shared/{owner}/",
            shared::user_default,
        )
        .add(Method::GET, "api/groups/{name}/shared", shared::list_group)
        .add(
            Method::GET,
            "api/groups/{name}/shared/{owner}/{server}",
            shared::group_named,
        )
        .add(
            Method::DELETE,
            "api/groups/{name}/shared/{owner}/{server}",
            shared::group_named,
        )
        .add(
            Method::GET,
            "api/groups/{name}/shared/{owner}/",
            shared::group_default,
        )
        .add(
            Method::DELETE,
            "api/groups/{name}/shared/{owner}/",
            shared::group_default,
        )
        .add(Method::GET, "api/services", services::list)
        .add(Method::GET, "api/services/{name}", services::get_one)
        .add(Method::POST, "api/services/{name}", services::create)
        .add(Method::DELETE, "api/services/{name}", services::delete)
        .add(Method::GET, "api/proxy", proxy_routes::get)
        .add(Method::POST, "api/proxy", proxy_routes::post)
        .add(Method::PATCH, "api/proxy", proxy_routes::patch)
}

/// `(method, full path)` of every route `router` serves for this hub prefix, in axum's path
/// syntax (`{name}`), which is also OpenAPI's.
pub fn route_table(hub_prefix: &str) -> Vec<(Method, String)> {
    routes(hub_prefix).table
}

/// The router for the API listener.
pub fn router(hub: Hub) -> Router {
    Router::new()
        .merge(routes(&hub.hub_prefix()).router)
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(hub.clone(), edge))
        .with_state(hub)
}

/// What every API request passes before and after its handler, in one layer (each axum
/// middleware layer boxes a future per request, and this is the hub's hottest path): the
/// login catch-up (`web::session::catch_up_login`), the XSRF guard for cookie-authenticated
/// writes (`web::session::api_cookie_refusal`), then [`conventions`] on whatever answers.
async fn edge(
    axum::extract::State(hub): axum::extract::State<Hub>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use crate::web::session::{api_cookie_refusal, catch_up_login};
    let early = match *req.method() {
        Method::OPTIONS | Method::HEAD => {
            method_answer(&hub.hub_prefix(), req.method(), req.uri().path())
        }
        _ => None,
    };
    let res = match early {
        Some(answer) => answer,
        None => match catch_up_login(&hub, req.headers()).await {
            Some(refused) => refused,
            None => match api_cookie_refusal(&hub, &req) {
                Some(refused) => refused,
                None => next.run(req).await,
            },
        },
    };
    let mut res = conventions(res);
    hub.csp.apply(&mut res);
    res
}

/// What upstream's Tornado handlers answer to OPTIONS and HEAD on an API URL, before any
/// authentication: `APIHandler.options` is an empty 200 for any API URL (a CORS preflight;
/// the allowed headers ride on every response); HEAD is 405 except on the health check, the
/// only API handler with a `head` (axum would answer HEAD with the GET handler).
fn method_answer(hub_prefix: &str, method: &Method, path: &str) -> Option<Response> {
    let rest = path.strip_prefix(hub_prefix)?.strip_prefix("api/")?;
    match *method {
        Method::OPTIONS => Some(StatusCode::OK.into_response()),
        Method::HEAD if rest.trim_end_matches('/') != "health" => {
            Some(ApiError::bare(StatusCode::METHOD_NOT_ALLOWED).into_response())
        }
        _ => None,
    }
}
