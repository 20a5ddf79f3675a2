//! `/users/{name}/tokens` (contract §1.8).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rafthub_raft::command::{Command, Outcome};
use rafthub_raft::state::model::{Owner as ModelOwner, Token, TokenHash};
use rafthub_rbac::{self as rbac, Builtin, Owner, Resource, Scope};
use serde_json::Value;

use super::auth::{holds, require};
use super::models::token_model;
use super::request::{json_body, py_repr};
use super::schema::{ErrorBody, NewToken, TokenList, TokenModel};
use super::schema_io::TokenRequest;
use super::{json_response, outcome_error, ApiError};
use crate::hub::Hub;
use crate::{secrets, timefmt};

/// The user's live API tokens (`read:tokens`), oldest activity first.
#[utoipa::path(
    get,
    path = "/api/users/{name}/tokens",
    operation_id = "list_tokens",
    tag = "tokens",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    responses(
        (status = 200, description = "The tokens, never their secrets.", body = TokenList),
        (status = 404, description = "No such user, or not visible to the caller.",
            body = ErrorBody)
    )
)]
pub async fn list(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.user(&name).is_some()).await?;
    let st = hub.node.state();
    require(
        caller.as_ref(),
        &st,
        &[Builtin::ReadTokens],
        Resource::User(&name),
    )?;
    let u = st
        .user(&name)
        .ok_or_else(|| ApiError::not_found(format!("No such user: {name}")))?;
    let now = timefmt::now();
    let mut toks: Vec<&Token> = st
        .tokens_of(&ModelOwner::User(u.id))
        .into_iter()
        .filter(|t| t.expires_at.is_none_or(|e| e >= now))
        .collect();
    toks.sort_by_key(|t| t.last_activity.unwrap_or(t.created));
    let models: Vec<Value> = toks.iter().map(|t| token_model(&hub, &st, t)).collect();
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({"api_tokens": models}),
    ))
}

fn string_list(
    body: &serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(Some(
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        )),
        Some(v) => Err(ApiError::bad_request(format!(
            "token {key} must be null or a list of strings, not {}",
            py_repr(v)
        ))),
    }
}

/// The user a token request's `auth` body logs in as, with that user's own scopes.
async fn password_caller(hub: &Hub, auth: Option<&Value>) -> Option<super::auth::Caller> {
    let auth = auth?.as_object()?;
    let username = auth.get("username")?.as_str()?;
    let password = auth.get("password").and_then(Value::as_str).unwrap_or("");
    let crate::web::authenticator::Login::Accepted { name, .. } =
        hub.auth.authenticate(hub, username, password).await
    else {
        return None;
    };
    hub.confirm_miss(|st| st.user(&name).is_some()).await.ok()?;
    let id = hub.node.state().user(&name)?.id;
    hub.user_caller(id, None)
}

/// Creates an API token for the user (`tokens` on that user); the secret is shown only here.
#[utoipa::path(
    post,
    path = "/api/users/{name}/tokens",
    operation_id = "create_token",
    tag = "tokens",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1)),
    request_body(content = Option<TokenRequest>, description = "Optional."),
    responses(
        (status = 201, description = "The token model plus `token`.", body = NewToken),
        (status = 400, description = "Not a dict, bad types, both `scopes` and `roles`, an \
            unknown role or scope, scopes the owner lacks, or `expires_in` out of range.",
            body = ErrorBody),
        (status = 403, description = "No credentials (`message` null), or no `tokens` scope \
            on this user (also when the user does not exist).", body = ErrorBody),
        (status = 404, description = "The user vanished while the token was created.",
            body = ErrorBody)
    )
)]
pub async fn create(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    let body = json_body(body, hub.cfg.max_body_bytes)
        .await?
        .unwrap_or(Value::Object(Default::default()));
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request("Body must be a JSON dict or empty"));
    };
    // Without a token or cookie, upstream authenticates the request with the body's `auth`
    // (`{"username": ..., "password": ...}`) through the authenticator, as the user it names
    // (who must exist); anything else is a bare 403.
    let caller = match caller {
        Some(c) => c,
        None => password_caller(&hub, body.get("auth"))
            .await
            .ok_or_else(|| ApiError::bare(StatusCode::FORBIDDEN))?,
    };
    hub.confirm_miss(|st| st.user(&name).is_some()).await?;
    let kind = if caller.is_user() { "User" } else { "Service" };
    let (owner_id, owner_name) = {
        let st = hub.node.state();
        let u = st.user(&name);
        match u {
            Some(u) if holds(&caller, &st, Builtin::Tokens, Resource::User(&name)) => {
                (u.id, u.name.clone())
            }
            _ => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!("{kind} {name} not found or no permissions to generate tokens"),
                ))
            }
        }
    };
    let mut note = body
        .get("note")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if note.is_empty() {
        note = "Requested via api".into();
        if !(caller.is_user() && caller.name == owner_name) {
            note.push_str(&format!(" by {} {}", kind.to_lowercase(), caller.name));
        }
    }
    let roles = string_list(&body, "roles")?;
    let scopes = string_list(&body, "scopes")?;
    let mut expires_in = match body.get("expires_in") {
        None | Some(Value::Null) => None,
        // Integers past i64 are still integers (Python's are unbounded): too large below.
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.as_i64().unwrap_or(i64::MAX)),
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "token expires_in must be null or integer, not {}",
                py_repr(v)
            )))
        }
    };
    let max = hub.cfg.token_expires_in_max_seconds as i64;
    if max > 0 {
        match expires_in {
            None => expires_in = Some(max),
            Some(e) if e > max => {
                return Err(ApiError::bad_request(format!(
                    "token expires_in: {e} must not exceed {max}"
                )))
            }
            _ => {}
        }
    }
    let raw_scopes: Vec<String> = match (scopes, roles) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "Can only assign one of scopes or roles when creating tokens.",
            ))
        }
        (None, None) => vec!["inherit".into()],
        (Some(s), None) => s,
        (None, Some(roles)) => {
            let st = hub.node.state();
            let mut out = Vec::new();
            for r in roles {
                let scopes = st
                    .role(&r)
                    .map(|x| x.scopes.clone())
                    .or_else(|| rbac::default_role(&r).map(|x| x.scopes))
                    .ok_or_else(|| ApiError::bad_request(format!("No such role: {r}")))?;
                out.extend(scopes);
            }
            out
        }
    };
    // Every requested scope must exist and be held by the owner.
    let parsed: Vec<Scope> = raw_scopes
        .iter()
        .map(|s| Scope::parse(s, &hub.authz.registry))
        .collect::<Result<_, _>>()
        .map_err(|e| {
            ApiError::bad_request(format!("Scope(s) requested for token do not exist: {e}"))
        })?;
    {
        let st = hub.node.state();
        let owner_scopes = hub.authz.owner_scopes(&st, &ModelOwner::User(owner_id));
        let m = crate::authz::membership(&st);
        rbac::check_token_scopes(
            &parsed,
            Owner::User(&owner_name),
            None,
            &owner_scopes,
            &m,
            &hub.authz.registry,
        )
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    }
    // Checked last, as upstream's `APIToken.new` does.
    let now = timefmt::now();
    let expires_at = match expires_in {
        None => None,
        Some(e) => Some(expires_at(now, e)?),
    };
    let secret = secrets::new_token();
    let token = Token {
        id: 0,
        prefix: secrets::prefix(&secret).to_string(),
        hash: TokenHash::Sha256(secrets::sha256_hex(&secret)),
        owner: ModelOwner::User(owner_id),
        scopes: raw_scopes,
        note,
        created: now,
        last_activity: None,
        expires_at,
        session_id: None,
        client_id: "jupyterhub".into(),
    };
    let id = match hub.node.write(Command::CreateToken { token }).await? {
        Outcome::Created(ids) if ids.len() == 1 => ids[0],
        o => return Err(outcome_error(o)),
    };
    let st = hub.node.state();
    let t = st.token(id).ok_or_else(|| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Failed to create token")
    })?;
    let mut m = token_model(&hub, &st, t);
    m["token"] = Value::String(secret);
    Ok(json_response(StatusCode::CREATED, &m))
}

/// The last instant Python's `datetime` can hold (9999-12-31T23:59:59.999999Z), in µs.
const MAX_EXPIRY: i64 = 253_402_300_799_999_999;

/// When a token requested with `expires_in` seconds expires. Upstream refuses a non-positive
/// `expires_in` with 400 (`APIToken.new`); an expiry past `datetime.max` overflows there (a
/// 500), and is a 400 here: nothing the client sends may produce a 5xx.
fn expires_at(now: i64, expires_in: i64) -> Result<i64, ApiError> {
    if expires_in < 1 {
        return Err(ApiError::bad_request(format!(
            "expires_in must be a positive integer or null, not {expires_in}"
        )));
    }
    expires_in
        .checked_mul(1_000_000)
        .and_then(|us| now.checked_add(us))
        .filter(|t| *t <= MAX_EXPIRY)
        .ok_or_else(|| {
            ApiError::bad_request(format!("token expires_in: {expires_in} is too large"))
        })
}

/// `a<int>` → the token of `user_id`, else upstream's 404 message.
fn find_token(
    st: &rafthub_raft::HubState,
    user_id: u64,
    user: &str,
    token_id: &str,
) -> Result<Token, ApiError> {
    let not_found = || ApiError::not_found(format!("No such token {token_id} for user {user}"));
    let id: u64 = token_id
        .strip_prefix('a')
        .and_then(|s| s.parse().ok())
        .ok_or_else(not_found)?;
    st.token(id)
        .filter(|t| t.owner == ModelOwner::User(user_id))
        .cloned()
        .ok_or_else(not_found)
}

/// One token of the user (`read:tokens`).
#[utoipa::path(
    get,
    path = "/api/users/{name}/tokens/{token_id}",
    operation_id = "get_token",
    tag = "tokens",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1),
        ("token_id" = String, Path, description = "`a<int>`.", min_length = 1)),
    responses(
        (status = 200, description = "The token model.", body = TokenModel),
        (status = 404, description = "No such user or token, or not visible to the caller.",
            body = ErrorBody)
    )
)]
pub async fn get_one(
    State(hub): State<Hub>,
    Path((name, token_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.user(&name).is_some()).await?;
    let st = hub.node.state();
    require(
        caller.as_ref(),
        &st,
        &[Builtin::ReadTokens],
        Resource::User(&name),
    )?;
    let u = st
        .user(&name)
        .ok_or_else(|| ApiError::not_found(format!("No such user: {name}")))?;
    let t = find_token(&st, u.id, &name, &token_id)?;
    Ok(json_response(StatusCode::OK, &token_model(&hub, &st, &t)))
}

/// Revokes a token (`tokens`); an OAuth token revokes its client's whole authorization.
#[utoipa::path(
    delete,
    path = "/api/users/{name}/tokens/{token_id}",
    operation_id = "delete_token",
    tag = "tokens",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1),
        ("token_id" = String, Path, description = "`a<int>`.", min_length = 1)),
    responses(
        (status = 204, description = "Revoked."),
        (status = 404, description = "No such user or token, or not visible to the caller.",
            body = ErrorBody)
    )
)]
pub async fn delete(
    State(hub): State<Hub>,
    Path((name, token_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = hub.authenticate(&headers).await?;
    hub.confirm_miss(|st| st.user(&name).is_some()).await?;
    let t = {
        let st = hub.node.state();
        require(
            caller.as_ref(),
            &st,
            &[Builtin::Tokens],
            Resource::User(&name),
        )?;
        let u = st
            .user(&name)
            .ok_or_else(|| ApiError::not_found(format!("No such user: {name}")))?;
        find_token(&st, u.id, &name, &token_id)?
    };
    // Deleting an OAuth token revokes the whole authorization of that client.
    let cmd = if t.client_id != "jupyterhub" {
        Command::DeleteClientTokens {
            owner: t.owner.clone(),
            client_id: t.client_id.clone(),
        }
    } else {
        Command::DeleteToken { id: t.id }
    };
    match hub.node.write(cmd).await? {
        Outcome::Ok | Outcome::NotFound(_) => Ok(StatusCode::NO_CONTENT.into_response()),
        o => Err(outcome_error(o)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_must_be_positive_and_representable() {
        let now = 1_700_000_000_000_000;
        assert_eq!(expires_at(now, 60).ok(), Some(now + 60_000_000));
        for bad in [0, -1, i64::MIN, i64::MAX, 253_402_300_800] {
            let e = expires_at(now, bad).expect_err("refused");
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
