//! `POST /users`, `POST|PATCH|DELETE /users/{name}` (contract §1.3).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rafthub_raft::command::{Command, NewUser, Outcome, UserPatch};
use rafthub_rbac::{Builtin::*, Resource};
use serde_json::{json, Value};

use super::auth::{require, Caller};
use super::models::View;
use super::names::{normalize_username, valid_username};
use super::request::{check_model, json_body, py_repr, Ty};
use super::schema::{ErrorBody, UserModel};
use super::schema_io::{NewUser as NewUserBody, NewUsers, UserPatch as UserPatchBody};
use super::{json_response, outcome_error, serialized_response, ApiError};
use crate::hub::Hub;

const USER_MODEL_TYPES: &[(&str, Ty)] = &[
    ("name", Ty::Str),
    ("admin", Ty::Bool),
    ("groups", Ty::List),
    ("roles", Ty::List),
    ("auth_state", Ty::Dict),
];

/// The caller may grant admin only if it is an admin itself.
fn check_admin_grant(caller: &Caller, admin: bool) -> Result<(), ApiError> {
    if admin && !caller.admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Only admins can grant admin permissions",
        ));
    }
    Ok(())
}

fn new_user(name: String, admin: bool) -> NewUser {
    NewUser {
        name,
        admin,
        cookie_id: crate::secrets::new_token(),
    }
}

/// Models of the users with these ids, for 201 answers.
/// The 201 answer to a create: the new users' models (one model for `create_one`), written
/// straight into the body.
fn created(hub: &Hub, caller: &Caller, ids: &[u64], one: bool) -> Response {
    let st = hub.node.state();
    let view = View {
        hub,
        st: &st,
        scopes: &caller.scopes,
        include_stopped: false,
    };
    let models: Vec<_> = ids
        .iter()
        .filter_map(|id| st.user_by_id(*id))
        .map(|u| view.user_model_ser(u))
        .collect();
    match (one, models.last()) {
        (false, _) => serialized_response(StatusCode::CREATED, &models),
        (true, Some(m)) => serialized_response(StatusCode::CREATED, m),
        (true, None) => json_response(StatusCode::CREATED, &json!({})),
    }
}

/// Creates users (`admin:users`); names that already exist are skipped.
#[utoipa::path(
    post,
    path = "/api/users",
    operation_id = "create_users",
    tag = "users",
    security(("token" = [])),
    request_body = NewUsers,
    responses(
        (status = 201, description = "The created users.", body = Vec<UserModel>),
        (status = 400, description = "No usernames, an invalid name, or a bad model key.",
            body = ErrorBody),
        (status = 409, description = "All the users already exist.", body = ErrorBody)
    )
)]
pub async fn create_many(
    State(hub): State<Hub>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    let caller = {
        let st = hub.node.state();
        require(caller.as_ref(), &st, &[AdminUsers], Resource::Global)?.clone()
    };
    let data = json_body(body, hub.cfg.max_body_bytes).await?;
    let Some(Value::Object(mut obj)) = data else {
        return Err(ApiError::bad_request(
            "Must specify at least one user to create",
        ));
    };
    let usernames = match obj.remove("usernames") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => {
            return Err(ApiError::bad_request(
                "Must specify at least one user to create",
            ))
        }
    };
    let rest = Value::Object(obj);
    let rest = check_model(&rest, USER_MODEL_TYPES, "user")?;
    let admin = rest.get("admin").and_then(Value::as_bool).unwrap_or(false);
    check_admin_grant(&caller, admin)?;
    let mut invalid = Vec::new();
    let mut names = Vec::new();
    for n in &usernames {
        let Some(s) = n.as_str() else {
            invalid.push(n.to_string());
            continue;
        };
        let s = normalize_username(s);
        if valid_username(&s) {
            if !names.contains(&s) {
                names.push(s);
            }
        } else {
            invalid.push(s);
        }
    }
    match invalid.len() {
        0 => {}
        1 => {
            return Err(ApiError::bad_request(format!(
                "Invalid username: {}",
                invalid[0]
            )))
        }
        _ => {
            return Err(ApiError::bad_request(format!(
                "Invalid usernames: {}",
                invalid.join(", ")
            )))
        }
    }
    let cmd = Command::CreateUsers {
        users: names.into_iter().map(|n| new_user(n, admin)).collect(),
        skip_existing_ok: false,
    };
    match hub.node.write(cmd).await? {
        Outcome::Created(ids) => Ok(created(&hub, &caller, &ids, false)),
        Outcome::Conflict(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("All {} users already exist", usernames.len()),
        )),
        o => Err(outcome_error(o)),
    }
}

/// Creates one user (`admin:users`).
#[utoipa::path(
    post,
    path = "/api/users/{name}",
    operation_id = "create_user",
    tag = "users",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    request_body(content = Option<NewUserBody>, description = "Optional."),
    responses(
        (status = 201, description = "The new user.", body = UserModel),
        (status = 400, description = "Invalid name or model.", body = ErrorBody),
        (status = 404, description = "The caller's scope does not cover this user.",
            body = ErrorBody),
        (status = 409, description = "The user already exists.", body = ErrorBody)
    )
)]
pub async fn create_one(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    let caller = {
        let st = hub.node.state();
        require(caller.as_ref(), &st, &[AdminUsers], Resource::User(&name))?.clone()
    };
    let data = json_body(body, hub.cfg.max_body_bytes).await?;
    let mut admin = false;
    if let Some(d) = &data {
        let obj = check_model(d, USER_MODEL_TYPES, "user")?;
        admin = obj.get("admin").and_then(Value::as_bool).unwrap_or(false);
        check_admin_grant(&caller, admin)?;
    }
    if !valid_username(&name) {
        // Upstream's authenticator refuses it in `add_user`, reported generically.
        return Err(ApiError::bad_request(format!(
            "Failed to create user: {name}"
        )));
    }
    let cmd = Command::CreateUsers {
        users: vec![new_user(name.clone(), admin)],
        skip_existing_ok: false,
    };
    match hub.node.write(cmd).await? {
        Outcome::Created(ids) => Ok(created(&hub, &caller, &ids, true)),
        Outcome::Conflict(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("User {name} already exists"),
        )),
        o => Err(outcome_error(o)),
    }
}

/// Renames a user or changes its admin flag, groups, roles or auth state (`admin:users`).
#[utoipa::path(
    patch,
    path = "/api/users/{name}",
    operation_id = "update_user",
    tag = "users",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    request_body = UserPatchBody,
    responses(
        (status = 200, description = "The updated user, with `auth_state`.", body = UserModel),
        (status = 400, description = "Invalid model, invalid or taken name, unknown group \
            or role.", body = ErrorBody),
        (status = 404, description = "No such user, or not visible to the caller.",
            body = ErrorBody)
    )
)]
pub async fn patch(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.user(&name).is_some()).await?;
    let (caller, target_admin) = {
        let st = hub.node.state();
        let c = require(caller.as_ref(), &st, &[AdminUsers], Resource::User(&name))?.clone();
        let u = st
            .user(&name)
            .ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
        (c, u.admin)
    };
    let data = json_body(body, hub.cfg.max_body_bytes)
        .await?
        .unwrap_or(Value::Null);
    let obj = check_model(&data, USER_MODEL_TYPES, "user")?;
    let mut patch = UserPatch::default();
    if let Some(n) = obj.get("name").and_then(Value::as_str) {
        let n = normalize_username(n);
        if !valid_username(&n) {
            return Err(ApiError::bad_request(format!(
                "Invalid username: {}",
                py_repr(&Value::String(n.clone()))
            )));
        }
        if n != name && hub.node.state().user(&n).is_some() {
            return Err(ApiError::bad_request(format!(
                "User {n} already exists, username must be unique"
            )));
        }
        patch.name = Some(n);
    }
    if !caller.admin {
        if target_admin {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Only admins can modify other admins",
            ));
        }
        check_admin_grant(
            &caller,
            obj.get("admin").and_then(Value::as_bool).unwrap_or(false),
        )?;
    }
    patch.admin = obj.get("admin").and_then(Value::as_bool);
    if let Some(a) = obj.get("auth_state") {
        patch.auth_state = Some(Some(a.clone()));
    }
    let strings = |k: &str| -> Result<Option<Vec<String>>, ApiError> {
        match obj.get(k) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| ApiError::bad_request(format!("{k} must be a list of str")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(ApiError::bad_request(format!("{k} must be a list"))),
        }
    };
    patch.groups = strings("groups")?;
    patch.roles = strings("roles")?;
    let new_name = patch.name.clone().unwrap_or_else(|| name.clone());
    match hub
        .node
        .write(Command::UpdateUser {
            name: name.clone(),
            patch,
        })
        .await?
    {
        Outcome::Ok => {}
        Outcome::Conflict(m) => return Err(ApiError::bad_request(m)),
        o => return Err(outcome_error(o)),
    }
    let st = hub.node.state();
    let u = st
        .user(&new_name)
        .ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
    let view = View {
        hub: &hub,
        st: &st,
        scopes: &caller.scopes,
        include_stopped: false,
    };
    let mut m = view.user_model(u);
    m.insert(
        "auth_state".into(),
        u.auth_state.clone().unwrap_or(Value::Null),
    );
    Ok(json_response(StatusCode::OK, &Value::Object(m)))
}

/// Deletes a user (`delete:users`); its servers lose their routes and are stopped.
#[utoipa::path(
    delete,
    path = "/api/users/{name}",
    operation_id = "delete_user",
    tag = "users",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "Deleting yourself, or the default server is stopping.",
            body = ErrorBody),
        (status = 404, description = "No such user, or not visible to the caller.",
            body = ErrorBody)
    )
)]
pub async fn delete(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.user(&name).is_some()).await?;
    {
        let st = hub.node.state();
        let c = require(caller.as_ref(), &st, &[DeleteUsers], Resource::User(&name))?;
        let u = st
            .user(&name)
            .ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
        if c.is_user() && c.name == name {
            return Err(ApiError::bad_request("Cannot delete yourself!"));
        }
        if u.servers.get("").and_then(|s| s.pending()) == Some("stop") {
            return Err(ApiError::bad_request(format!(
                "{name}'s server is in the process of stopping, please wait."
            )));
        }
    }
    // Running servers lose their routes with the user; the controller stops their processes.
    match hub.node.write(Command::DeleteUser { name }).await? {
        Outcome::Ok => Ok(StatusCode::NO_CONTENT.into_response()),
        Outcome::NotFound(_) => Err(ApiError::bare(StatusCode::NOT_FOUND)),
        o => Err(outcome_error(o)),
    }
}
