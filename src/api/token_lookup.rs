//! `GET /authorizations/token/<token>`: the model of a token's owner. Deprecated upstream
//! since JupyterHub 2.0 (in favour of `GET /user` with that token) but still served by 6.1.1,
//! and older HubAuth clients (singleuser images of jupyterhub 1.x, third-party services)
//! still resolve their users' tokens with it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rafthub_raft::state::model::Owner as ModelOwner;
use rafthub_rbac::{self as rbac, Owner};
use serde_json::Value;

use super::auth::bearer_token;
use super::models::View;
use super::{json_response, ApiError};
use crate::hub::Hub;

/// The owner's model, as the caller's scopes plus the owner's identify scopes show it
/// (having the token is enough to learn whose it is). Only for callers with a token in the
/// Authorization header (upstream's `@token_authenticated`); the looked-up token counts as
/// used, as upstream records its activity.
#[utoipa::path(
    get,
    path = "/api/authorizations/token/{token}",
    operation_id = "token_owner",
    tag = "hub",
    security(("token" = [])),
    params(("token" = String, Path, description = "The token to resolve.")),
    responses(
        (status = 200, description = "The token owner's user or service model (deprecated endpoint)."),
        (status = 403, description = "The caller did not authenticate with a token.",
            body = super::schema::ErrorBody),
        (status = 404, description = "No such (live) token.", body = super::schema::ErrorBody)
    )
)]
pub async fn owner_of_token(
    State(hub): State<Hub>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = match bearer_token(&headers) {
        Some(_) => hub.authenticate(&headers).await?,
        None => None,
    }
    .ok_or_else(|| ApiError::bare(StatusCode::FORBIDDEN))?;
    let owner = hub
        .caller_for_token_confirmed(&token)
        .await?
        .ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
    let st = hub.node.state();
    let me = match &owner.owner {
        ModelOwner::User(_) => Owner::User(&owner.name),
        ModelOwner::Service(_) => Owner::Service(&owner.name),
    };
    let scopes = rbac::whoami(&caller.scopes, me).model_scopes;
    let view = View {
        hub: &hub,
        st: &st,
        scopes: &scopes,
        include_stopped: false,
    };
    let model = match &owner.owner {
        ModelOwner::User(id) => st.user_by_id(*id).map(|u| view.user_model(u)),
        ModelOwner::Service(n) => st.service(n).map(|s| view.service_model(s)),
    }
    .ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
    Ok(json_response(StatusCode::OK, &Value::Object(model)))
}
