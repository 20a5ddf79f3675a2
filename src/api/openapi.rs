//! The OpenAPI 3.1 document of this API, generated from the handlers' `#[utoipa::path]`
//! annotations and the doc-only schemas (`schema.rs`, `schema_io.rs`), served without
//! authentication at `{hub}api/openapi.json`.
//!
//! Annotations give paths relative to the hub prefix (`/api/users`, `/health`); [`document`]
//! moves them under the configured `{base_url}hub/` and adds the responses that every handler
//! shares by construction (403 from `auth::require`, 503 from Raft, body and path errors), so
//! that each annotation lists only what is particular to its handler. `tests/api_openapi.rs`
//! checks the document against the routes that `api::router` registers.

use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::SchemaType;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, ObjectBuilder, Ref, RefOr, Required, ResponseBuilder, Schema,
    Type,
};
use utoipa::{Modify, OpenApi};

use super::{
    activity, group_members, groups, health, hub_info, metrics, proxy_routes, server_ops, services,
    share_codes, shared, shares, token_lookup, tokens, users, users_write,
};

/// The security scheme every authenticated operation names.
const TOKEN_SCHEME: &str = "token";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rafthub hub API",
        description = "JupyterHub 6.x's REST API as rafthub serves it from any replica of its \
                       Raft cluster. Authenticate with `Authorization: token <token>`."
    ),
    paths(
        health::health,
        health::api_health,
        health::readyz,
        health::api_root,
        health::api_root_slash,
        serve,
        metrics::metrics,
        metrics::api_metrics,
        hub_info::info,
        hub_info::whoami,
        token_lookup::owner_of_token,
        hub_info::shutdown,
        users::list,
        users_write::create_many,
        users::get_one,
        users_write::create_one,
        users_write::patch,
        users_write::delete,
        activity::post,
        tokens::list,
        tokens::create,
        tokens::get_one,
        tokens::delete,
        groups::list,
        groups::create_many,
        groups::get_one,
        groups::create_one,
        groups::delete,
        group_members::members,
        group_members::properties,
        services::list,
        services::get_one,
        services::create,
        services::delete,
        proxy_routes::get,
        proxy_routes::post,
        proxy_routes::patch,
        server_ops::get_default,
        server_ops::start_default,
        server_ops::stop_default,
        server_ops::put_default,
        server_ops::get_named,
        server_ops::start_named,
        server_ops::stop_named,
        server_ops::put_named,
        server_ops::patch_named,
        server_ops::get_empty,
        server_ops::start_empty,
        server_ops::stop_empty,
        server_ops::put_empty,
        server_ops::patch_empty,
        server_ops::patch_default,
        server_ops::progress_default,
        server_ops::progress_named,
        shares::list_owner,
        shares::named,
        shares::default,
        share_codes::list_owner,
        share_codes::named,
        share_codes::default,
        shared::list_user,
        shared::list_group,
        shared::user_named,
        shared::user_default,
        shared::group_named,
        shared::group_default,
    ),
    modifiers(&TokenAuth)
)]
struct ApiDoc;

/// Declares `Authorization: token <t>` as an API key in a header: the scheme word is part of
/// the value, which OpenAPI's `http` schemes cannot express (they only know `Bearer`).
struct TokenAuth;

impl Modify for TokenAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            TOKEN_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`token <token>` (or `bearer <token>`); never `?token=` on the hub API.",
            ))),
        );
    }
}

/// The document for a hub served under `hub_prefix` (`{base_url}hub/`).
pub fn document(hub_prefix: &str) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = crate::JUPYTERHUB_VERSION.to_string();
    let root = hub_prefix.trim_end_matches('/');
    let paths = std::mem::take(&mut doc.paths.paths);
    for (path, mut item) in paths {
        for (_, op) in operations_mut(&mut item) {
            shared_responses(&path, op);
            optional_body_is_absent_not_null(op);
        }
        doc.paths.paths.insert(format!("{root}{path}"), item);
    }
    unique_operation_ids(&mut doc);
    proxy_patch_needs_a_key(&mut doc);
    doc
}

/// The operations of a path item by lowercase method name.
fn operations_mut(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("head", &mut item.head),
        ("post", &mut item.post),
        ("put", &mut item.put),
        ("patch", &mut item.patch),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
    .collect()
}

/// Adds a JSON error response unless the annotation already describes that status.
fn error_response(op: &mut Operation, status: u16, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            let body = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build();
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content("application/json", body)
                    .build(),
            )
        });
}

/// What every handler answers by construction, whatever its annotation says.
fn shared_responses(path: &str, op: &mut Operation) {
    if op.security.is_some() {
        error_response(
            op,
            403,
            "Missing or invalid credentials, or none of the required scopes.",
        );
        error_response(
            op,
            503,
            "No Raft leader reachable in time (authentication, miss confirmation or a write); \
             retry after `Retry-After` seconds.",
        );
    }
    if op.request_body.is_some() {
        error_response(op, 400, "Invalid JSON in body of request.");
        error_response(
            op,
            413,
            "The body, or the command it makes, is over the size limit.",
        );
    }
    if path.contains('{') {
        error_response(
            op,
            400,
            "A path parameter is not valid percent-encoded UTF-8.",
        );
    }
    // `conventions` in mod.rs stamps every answer with the JupyterHub version.
    let version = HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some("The JupyterHub version this hub is compatible with."))
        .build();
    for r in op.responses.responses.values_mut() {
        if let RefOr::T(r) = r {
            r.headers
                .insert("X-JupyterHub-Version".into(), version.clone());
        }
    }
}

/// Annotations spell an optional body `Option<T>`, which utoipa renders as `T` or JSON `null`.
/// Optional here means the body may be empty (upstream's `get_json_body` gives None); a JSON
/// `null` is refused like any other non-dict, so the `null` alternative is dropped.
fn optional_body_is_absent_not_null(op: &mut Operation) {
    let Some(body) = &mut op.request_body else {
        return;
    };
    if body.required == Some(Required::True) {
        return;
    }
    for content in body.content.values_mut() {
        if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
            let mut rest = one_of.items.iter().filter(|s| !is_null_schema(s));
            if let (Some(only), None) = (rest.next(), rest.next()) {
                content.schema = Some(only.clone());
            }
        }
    }
}

fn is_null_schema(s: &RefOr<Schema>) -> bool {
    matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null))
}

/// `PATCH /proxy` with `{}` is a 400. utoipa 5.5 renders `#[schema(min_properties = 1)]` as
/// `maxProperties`, so the bound is set here instead.
fn proxy_patch_needs_a_key(doc: &mut utoipa::openapi::OpenApi) {
    let schema = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("ProxyPatch"));
    if let Some(RefOr::T(Schema::Object(o))) = schema {
        o.min_properties = Some(1);
    }
}

/// One handler serving several methods (GET and HEAD, POST and DELETE) yields one operation
/// id for all of them; OpenAPI wants them unique, so those get the method as a suffix.
fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            if let Some(id) = &op.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for item in doc.paths.paths.values_mut() {
        for (method, op) in operations_mut(item) {
            if let Some(id) = &mut op.operation_id {
                if seen.get(id.as_str()).is_some_and(|n| *n > 1) {
                    id.push('_');
                    id.push_str(method);
                }
            }
        }
    }
}

/// The OpenAPI document of this API (this document), without authentication like `GET {api}`.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "openapi",
    tag = "hub",
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object))
)]
pub fn serve(doc: Bytes) -> Response {
    let mut res = (StatusCode::OK, doc).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_configured_prefix() {
        let doc = document("/jh/hub/");
        if let Ok(p) = std::env::var("RAFTHUB_DUMP_OPENAPI") {
            std::fs::write(p, doc.to_pretty_json().unwrap()).unwrap();
        }
        assert!(doc.paths.paths.contains_key("/jh/hub/api/users/{name}"));
        assert!(doc.paths.paths.keys().all(|p| p.starts_with("/jh/hub/")));
    }
}
