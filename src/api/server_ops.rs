//! Routes of the server endpoints (contract §1.5-§1.6), one annotated handler per path form
//! so the OpenAPI document lists each: `/server` (default), `/servers/{server_name}` (named)
//! and `/servers/` (the empty name, which the admin UI uses for the default server). The logic
//! lives in [`super::servers`].

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;
use utoipa::ToSchema;

use super::schema::{ErrorBody, ServerModel};
use super::{server_progress, servers, ApiError};
use crate::hub::Hub;

/// Body of a start or named-server creation (6.x; a body without these keys is taken as the
/// user options, the 5.x format).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ServerRequest {
    display_name: Option<String>,
    #[schema(value_type = Option<Object>)]
    user_options: Option<Value>,
}

/// Body of a stop.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct StopRequest {
    /// Delete the named server after it stops.
    remove: Option<bool>,
}

/// Body of a named-server update.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ServerPatch {
    name: Option<String>,
    display_name: Option<String>,
    #[schema(value_type = Option<Object>)]
    user_options: Option<Value>,
}

#[utoipa::path(
    get,
    path = "/api/users/{name}/server",
    operation_id = "get_server_default",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    responses(
        (status = 200, description = "The server, also when stopped.", body = ServerModel),
        (status = 404, description = "No such user or server.", body = ErrorBody)
    )
)]
pub async fn get_default(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    servers::get(hub, name, String::new(), headers).await
}

#[utoipa::path(
    post,
    path = "/api/users/{name}/server",
    operation_id = "start_server_default",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    request_body(content = Option<ServerRequest>, description = "Optional."),
    responses(
        (status = 201, description = "Started and ready within `slow_spawn_timeout` (empty body)."),
        (status = 202, description = "Still spawning, or a spawn was already pending (empty body)."),
        (status = 400, description = "Already running, pending stop, named servers disabled, invalid name or over the named-server limit.", body = ErrorBody),
        (status = 404, description = "No such user.", body = ErrorBody),
        (status = 429, description = "`concurrent_spawn_limit` (with `Retry-After`) or `active_server_limit` reached.", body = ErrorBody),
        (status = 500, description = "The spawn failed.", body = ErrorBody)
    )
)]
pub async fn start_default(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    servers::start(hub, name, String::new(), headers, body).await
}

#[utoipa::path(
    delete,
    path = "/api/users/{name}/server",
    operation_id = "stop_server_default",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    request_body(content = Option<StopRequest>, description = "Optional."),
    responses(
        (status = 202, description = "Still stopping."),
        (status = 204, description = "Stopped, or was not running."),
        (status = 400, description = "Removing the default server, or named servers disabled.", body = ErrorBody),
        (status = 404, description = "No such user or server.", body = ErrorBody)
    )
)]
pub async fn stop_default(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    servers::stop(hub, name, String::new(), headers, body).await
}

#[utoipa::path(
    put,
    path = "/api/users/{name}/server",
    operation_id = "create_server_default",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    request_body(content = Option<ServerRequest>, description = "Optional."),
    responses(
        (status = 201, description = "The new (stopped) named server.", body = ServerModel),
        (status = 400, description = "Named servers disabled, invalid name or over the limit.", body = ErrorBody),
        (status = 404, description = "No such user.", body = ErrorBody),
        (status = 409, description = "The default server, or the server exists.", body = ErrorBody)
    )
)]
pub async fn put_default(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    servers::create(hub, name, String::new(), headers, body).await
}

#[utoipa::path(
    get,
    path = "/api/users/{name}/servers/{server_name}",
    operation_id = "get_server_named",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1), ("server_name" = String, Path, description = "Server name.", min_length = 1)),
    responses(
        (status = 200, description = "The server, also when stopped.", body = ServerModel),
        (status = 404, description = "No such user or server.", body = ErrorBody)
    )
)]
pub async fn get_named(
    State(hub): State<Hub>,
    Path((name, server)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    servers::get(hub, name, server, headers).await
}

#[utoipa::path(
    post,
    path = "/api/users/{name}/servers/{server_name}",
    operation_id = "start_server_named",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1), ("server_name" = String, Path, description = "Server name.", min_length = 1)),
    request_body(content = Option<ServerRequest>, description = "Optional."),
    responses(
        (status = 201, description = "Started and ready within `slow_spawn_timeout` (empty body)."),
        (status = 202, description = "Still spawning, or a spawn was already pending (empty body)."),
        (status = 400, description = "Already running, pending stop, named servers disabled, invalid name or over the named-server limit.", body = ErrorBody),
        (status = 404, description = "No such user.", body = ErrorBody),
        (status = 429, description = "`concurrent_spawn_limit` (with `Retry-After`) or `active_server_limit` reached.", body = ErrorBody),
        (status = 500, description = "The spawn failed.", body = ErrorBody)
    )
)]
pub async fn start_named(
    State(hub): State<Hub>,
    Path((name, server)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    servers::start(hub, name, server, headers, body).await
}

#[utoipa::path(
    delete,
    path = "/api/users/{name}/servers/{server_name}",
    operation_id = "stop_server_named",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1), ("server_name" = String, Path, description = "Server name.", min_length = 1)),
    request_body(content = Option<StopRequest>, description = "Optional."),
    responses(
        (status = 202, description = "Still stopping."),
        (status = 204, description = "Stopped, or was not running."),
        (status = 400, description = "Removing the default server, or named servers disabled.", body = ErrorBody),
        (status = 404, description = "No such user or server.", body = ErrorBody)
    )
)]
pub async fn stop_named(
    State(hub): State<Hub>,
    Path((name, server)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    servers::stop(hub, name, server, headers, body).await
}

#[utoipa::path(
    put,
    path = "/api/users/{name}/servers/{server_name}",
    operation_id = "create_server_named",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1), ("server_name" = String, Path, description = "Server name.", min_length = 1)),
    request_body(content = Option<ServerRequest>, description = "Optional."),
    responses(
        (status = 201, description = "The new (stopped) named server.", body = ServerModel),
        (status = 400, description = "Named servers disabled, invalid name or over the limit.", body = ErrorBody),
        (status = 404, description = "No such user.", body = ErrorBody),
        (status = 409, description = "The default server, or the server exists.", body = ErrorBody)
    )
)]
pub async fn put_named(
    State(hub): State<Hub>,
    Path((name, server)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    servers::create(hub, name, server, headers, body).await
}

#[utoipa::path(
    get,
    path = "/api/users/{name}/servers/",
    operation_id = "get_server_empty",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    responses(
        (status = 200, description = "The server, also when stopped.", body = ServerModel),
        (status = 404, description = "No such user or server.", body = ErrorBody)
    )
)]
pub async fn get_empty(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    servers::get(hub, name, String::new(), headers).await
}

#[utoipa::path(
    post,
    path = "/api/users/{name}/servers/",
    operation_id = "start_server_empty",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    request_body(content = Option<ServerRequest>, description = "Optional."),
    responses(
        (status = 201, description = "Started and ready within `slow_spawn_timeout` (empty body)."),
        (status = 202, description = "Still spawning, or a spawn was already pending (empty body)."),
        (status = 400, description = "Already running, pending stop, named servers disabled, invalid name or over the named-server limit.", body = ErrorBody),
        (status = 404, description = "No such user.", body = ErrorBody),
        (status = 429, description = "`concurrent_spawn_limit` (with `Retry-After`) or `active_server_limit` reached.", body = ErrorBody),
        (status = 500, description = "The spawn failed.", body = ErrorBody)
    )
)]
pub async fn start_empty(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    servers::start(hub, name, String::new(), headers, body).await
}

#[utoipa::path(
    delete,
    path = "/api/users/{name}/servers/",
    operation_id = "stop_server_empty",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    request_body(content = Option<StopRequest>, description = "Optional."),
    responses(
        (status = 202, description = "Still stopping."),
        (status = 204, description = "Stopped, or was not running."),
        (status = 400, description = "Removing the default server, or named servers disabled.", body = ErrorBody),
        (status = 404, description = "No such user or server.", body = ErrorBody)
    )
)]
pub async fn stop_empty(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    servers::stop(hub, name, String::new(), headers, body).await
}

#[utoipa::path(
    patch,
    path = "/api/users/{name}/servers/{server_name}",
    operation_id = "update_server_named",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1), ("server_name" = String, Path, description = "Server name.", min_length = 1)),
    request_body = ServerPatch,
    responses(
        (status = 200, description = "The updated server.", body = ServerModel),
        (status = 400, description = "Empty body, unknown key, invalid value, or the server is active.", body = ErrorBody),
        (status = 404, description = "No such user or server.", body = ErrorBody),
        (status = 409, description = "The new name is taken.", body = ErrorBody)
    )
)]
pub async fn patch_named(
    State(hub): State<Hub>,
    Path((name, server)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    servers::patch(hub, name, server, headers, body).await
}

#[utoipa::path(
    get,
    path = "/api/users/{name}/server/progress",
    operation_id = "server_progress_default",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    responses(
        (status = 200, description = "`text/event-stream` of progress events, then a ready or failed event.", content_type = "text/event-stream"),
        (status = 400, description = "Not starting and no failure to report.", body = ErrorBody),
        (status = 404, description = "No such user or server.", body = ErrorBody)
    )
)]
pub async fn progress_default(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    server_progress::progress(hub, name, String::new(), headers).await
}

#[utoipa::path(
    get,
    path = "/api/users/{name}/servers/{server_name}/progress",
    operation_id = "server_progress_named",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1), ("server_name" = String, Path, description = "Server name.", min_length = 1)),
    responses(
        (status = 200, description = "`text/event-stream` of progress events, then a ready or failed event.", content_type = "text/event-stream"),
        (status = 400, description = "Not starting and no failure to report.", body = ErrorBody),
        (status = 404, description = "No such user or server.", body = ErrorBody)
    )
)]
pub async fn progress_named(
    State(hub): State<Hub>,
    Path((name, server)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    server_progress::progress(hub, name, server, headers).await
}

#[utoipa::path(
    put,
    path = "/api/users/{name}/servers/",
    operation_id = "create_server_empty",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    request_body(content = Option<ServerRequest>, description = "Optional."),
    responses(
        (status = 404, description = "No such user.", body = ErrorBody),
        (status = 409, description = "The empty name is the default server, which always exists.", body = ErrorBody)
    )
)]
pub async fn put_empty(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    servers::create(hub, name, String::new(), headers, body).await
}

#[utoipa::path(
    patch,
    path = "/api/users/{name}/servers/",
    operation_id = "update_server_empty",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    request_body = ServerPatch,
    responses(
        (status = 200, description = "The updated default server.", body = ServerModel),
        (status = 400, description = "Empty body, unknown key, invalid value (the default server cannot be renamed), or the server is active.", body = ErrorBody),
        (status = 404, description = "No such user.", body = ErrorBody)
    )
)]
pub async fn patch_empty(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    servers::patch(hub, name, String::new(), headers, body).await
}

#[utoipa::path(
    patch,
    path = "/api/users/{name}/server",
    operation_id = "update_server_default",
    tag = "servers",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    request_body = ServerPatch,
    responses(
        (status = 200, description = "The updated default server.", body = ServerModel),
        (status = 400, description = "Empty body, unknown key, invalid value (the default server cannot be renamed), or the server is active.", body = ErrorBody),
        (status = 404, description = "No such user.", body = ErrorBody)
    )
)]
pub async fn patch_default(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    servers::patch(hub, name, String::new(), headers, body).await
}
