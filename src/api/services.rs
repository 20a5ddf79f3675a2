//! `/services` (contract §1.10).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rafthub_raft::command::{Command, Outcome};
use rafthub_raft::state::model::{Owner as ModelOwner, Service, Token, TokenHash};
use rafthub_rbac::{self as rbac, Builtin::*, Owner, Resource, Scope};
use serde_json::{json, Map, Value};

use super::auth::{missing_credentials, require};
use super::models::View;
use super::request::{check_model, json_body, Ty};
use super::schema::{ErrorBody, ServiceMap, ServiceModel};
use super::schema_io::ServiceSpec;
use super::{json_response, outcome_error, ApiError};
use crate::hub::Hub;
use crate::{secrets, timefmt};

const SERVICE_MODEL_TYPES: &[(&str, Ty)] = &[
    ("name", Ty::Str),
    ("admin", Ty::Bool),
    ("url", Ty::Str),
    ("oauth_client_allowed_scopes", Ty::List),
    ("api_token", Ty::Str),
    ("info", Ty::Dict),
    ("display", Ty::Bool),
    ("oauth_no_confirm", Ty::Bool),
    ("command", Ty::List),
    ("cwd", Ty::Str),
    ("environment", Ty::Dict),
    ("user", Ty::Str),
    ("oauth_client_id", Ty::Str),
    ("oauth_redirect_uri", Ty::Str),
];

/// The services the caller may list (`list:services`), by name; not paginated.
#[utoipa::path(
    get,
    path = "/api/services",
    operation_id = "list_services",
    tag = "services",
    security(("token" = [])),
    responses((status = 200, description = "Service models by name.", body = ServiceMap))
)]
pub async fn list(State(hub): State<Hub>, headers: HeaderMap) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    let caller = caller.as_ref().ok_or_else(missing_credentials)?;
    let grant = match rbac::list_services(&caller.scopes) {
        Ok(g) => g,
        Err(e) => return Err(super::auth::list_denied(e)),
    };
    let st = hub.node.state();
    let view = View {
        hub: &hub,
        st: &st,
        scopes: &caller.scopes,
        include_stopped: false,
    };
    let mut out = Map::new();
    for s in st.services().filter(|s| grant.allows_service(&s.name)) {
        out.insert(s.name.clone(), Value::Object(view.service_model(s)));
    }
    Ok(json_response(StatusCode::OK, &Value::Object(out)))
}

/// One service.
#[utoipa::path(
    get,
    path = "/api/services/{name}",
    operation_id = "get_service",
    tag = "services",
    security(("token" = [])),
    params(("name" = String, Path, description = "Service name.", min_length = 1)),
    responses(
        (status = 200, description = "The service model, keys filtered by scope.",
            body = ServiceModel),
        (status = 404, description = "No such service, or not visible to the caller.",
            body = ErrorBody)
    )
)]
pub async fn get_one(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.service(&name).is_some()).await?;
    let st = hub.node.state();
    let caller = require(
        caller.as_ref(),
        &st,
        &[ReadServices, ReadServicesName, ReadRolesServices],
        Resource::Service(&name),
    )?;
    let s = st
        .service(&name)
        .ok_or_else(|| ApiError::not_found(format!("No such service: {name}")))?;
    let view = View {
        hub: &hub,
        st: &st,
        scopes: &caller.scopes,
        include_stopped: false,
    };
    Ok(json_response(
        StatusCode::OK,
        &Value::Object(view.service_model(s)),
    ))
}

/// Adds a service at runtime (`admin:services`), without a command.
#[utoipa::path(
    post,
    path = "/api/services/{name}",
    operation_id = "create_service",
    tag = "services",
    security(("token" = [])),
    params(("name" = String, Path, description = "Service name.", min_length = 1)),
    request_body = ServiceSpec,
    responses(
        (status = 201, description = "The new service.", body = ServiceModel),
        (status = 400, description = "No or bad data, a command, a short `api_token`, or \
            scopes the caller lacks.", body = ErrorBody),
        (status = 404, description = "The caller's scope does not cover this service.",
            body = ErrorBody),
        (status = 409, description = "The service already exists.", body = ErrorBody)
    )
)]
pub async fn create(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    let caller = {
        let st = hub.node.state();
        require(
            caller.as_ref(),
            &st,
            &[AdminServices],
            Resource::Service(&name),
        )?
        .clone()
    };
    let data = json_body(body, hub.cfg.max_body_bytes).await?;
    if hub.node.state().service(&name).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Service {name} already exists"),
        ));
    }
    let Some(Value::Object(mut obj)) = data else {
        return Err(ApiError::bad_request("Invalid service data"));
    };
    obj.insert("name".into(), json!(name));
    let spec = Value::Object(obj);
    let obj = check_model(&spec, SERVICE_MODEL_TYPES, "service")?;
    if obj
        .get("command")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty())
    {
        return Err(ApiError::bad_request(format!(
            "Can not create managed service {name} at runtime"
        )));
    }
    // Checked before anything is written: a refused token must not leave the service behind
    // (upstream creates the service, then fails on the token with a 500).
    let api_token = obj.get("api_token").and_then(Value::as_str);
    if api_token.is_some_and(|t| t.len() < 8) {
        return Err(ApiError::bad_request(
            "Tokens must be at least 8 characters",
        ));
    }
    let admin = obj.get("admin").and_then(Value::as_bool).unwrap_or(false);
    // A caller can only create a service with scopes it holds itself.
    let mut requested: Vec<String> = Vec::new();
    if admin {
        requested.extend(
            rbac::default_role("admin")
                .map(|r| r.scopes)
                .unwrap_or_default(),
        );
    }
    if let Some(Value::Array(a)) = obj.get("oauth_client_allowed_scopes") {
        requested.extend(a.iter().filter_map(|v| v.as_str().map(str::to_string)));
    }
    if !requested.is_empty() {
        let parsed: Vec<Scope> = requested
            .iter()
            .map(|s| Scope::parse(s, &hub.authz.registry))
            .collect::<Result<_, _>>()
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let st = hub.node.state();
        let owner = match &caller.owner {
            ModelOwner::User(_) => Owner::User(&caller.name),
            ModelOwner::Service(_) => Owner::Service(&caller.name),
        };
        let owner_scopes = hub.authz.owner_scopes(&st, &caller.owner);
        let m = crate::authz::membership(&st);
        rbac::check_token_scopes(&parsed, owner, None, &owner_scopes, &m, &hub.authz.registry)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    let service = Service {
        name: name.clone(),
        admin,
        url: obj.get("url").and_then(Value::as_str).map(str::to_string),
        from_config: false,
        roles: Default::default(),
        display: obj.get("display").and_then(Value::as_bool).unwrap_or(true),
        info: obj.get("info").cloned().unwrap_or(json!({})),
        oauth_client_id: None,
        command: Vec::new(),
        oauth_no_confirm: obj
            .get("oauth_no_confirm")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    match hub.node.write(Command::PutService { service }).await? {
        Outcome::Ok => {}
        Outcome::Conflict(m) => return Err(ApiError::new(StatusCode::CONFLICT, m)),
        o => return Err(outcome_error(o)),
    }
    // A secret that already is a live token keeps its owner (upstream's "Not duplicating
    // token"): two owners for one secret would make authentication ambiguous.
    if let Some(t) = api_token.filter(|t| !hub.token_in_use(t)) {
        let token = Token {
            id: 0,
            prefix: secrets::prefix(t).to_string(),
            hash: TokenHash::Slow(secrets::slow_hash(t)),
            owner: ModelOwner::Service(name.clone()),
            scopes: vec!["inherit".into()],
            note: "from service spec".into(),
            created: timefmt::now(),
            last_activity: None,
            expires_at: None,
            session_id: None,
            client_id: "jupyterhub".into(),
        };
        hub.node.write(Command::CreateToken { token }).await?;
    }
    let st = hub.node.state();
    let view = View {
        hub: &hub,
        st: &st,
        scopes: &caller.scopes,
        include_stopped: false,
    };
    let model = st
        .service(&name)
        .map(|s| Value::Object(view.service_model(s)))
        .unwrap_or(json!({}));
    Ok(json_response(StatusCode::CREATED, &model))
}

/// Removes a runtime service (`admin:services`).
#[utoipa::path(
    delete,
    path = "/api/services/{name}",
    operation_id = "delete_service",
    tag = "services",
    security(("token" = [])),
    params(("name" = String, Path, description = "Service name.", min_length = 1)),
    responses(
        (status = 200, description = "Removed (empty body)."),
        (status = 404, description = "No such service, or not visible to the caller.",
            body = ErrorBody),
        (status = 405, description = "The service comes from the configuration.",
            body = ErrorBody)
    )
)]
pub async fn delete(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.service(&name).is_some()).await?;
    {
        let st = hub.node.state();
        require(
            caller.as_ref(),
            &st,
            &[AdminServices],
            Resource::Service(&name),
        )?;
        match st.service(&name) {
            None => {
                return Err(ApiError::not_found(format!(
                    "Service {name} does not exist"
                )))
            }
            Some(s) if s.from_config => {
                return Err(ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("Service {name} is not modifiable at runtime"),
                ))
            }
            Some(_) => {}
        }
    }
    match hub.node.write(Command::DeleteService { name }).await? {
        Outcome::Ok => {
            Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")]).into_response())
        }
        o => Err(outcome_error(o)),
    }
}
