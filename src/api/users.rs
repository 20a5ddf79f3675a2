//! `GET /users` and `GET /users/{name}` (contract §1.3), and what every read handler shares:
//! authentication with `?consistency=`, and miss confirmation. Writes are in `users_write.rs`.

use std::cmp::Ordering;

use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rafthub_raft::state::model::User;
use rafthub_rbac::{self as rbac, Builtin::*, Resource};
use serde_json::Value;

use super::auth::{missing_credentials, require, Caller};
use super::models::View;
use super::request::{page, pagination, Paged, Query};
use super::schema::{ErrorBody, UserModel};
use super::schema_io::{PageQuery, ReadQuery, StoppedQuery, UserList, UserListQuery};
use super::{json_response, serialized_response, ApiError};
use crate::hub::Hub;

pub struct Ctx {
    pub caller: Option<Caller>,
    pub q: Query,
}

/// Authenticates and applies `?consistency=linearizable`.
pub async fn ctx(
    hub: &Hub,
    headers: &HeaderMap,
    raw_query: Option<String>,
) -> Result<Ctx, ApiError> {
    let caller = hub.authenticate(headers).await?;
    let q = Query::parse(raw_query.as_deref());
    if q.linearizable() {
        hub.node.linearizable_barrier(hub.read_timeout()).await?;
    }
    Ok(Ctx { caller, q })
}

impl Hub {
    /// Confirms a local miss linearizably before the caller answers 404 (invariant 6).
    pub async fn confirm_miss(
        &self,
        present: impl Fn(&rafthub_raft::HubState) -> bool,
    ) -> Result<(), ApiError> {
        if present(&self.node.state()) {
            return Ok(());
        }
        self.node.linearizable_barrier(self.read_timeout()).await?;
        Ok(())
    }
}

/// Upstream's `name.ilike('%' + name_filter + '%')` on a lowercased name and filter: `%` in
/// the filter stands for any run of characters and `_` for one, as in SQL. Dynamic
/// programming over (pattern, name) prefixes: O(|filter| * |name|) whatever the pattern.
fn name_matches(filter: &str, name: &str) -> bool {
    if !filter.contains(['%', '_']) {
        return name.contains(filter);
    }
    let t: Vec<char> = name.chars().collect();
    let pattern = std::iter::once('%')
        .chain(filter.chars())
        .chain(std::iter::once('%'));
    // m[j]: the pattern so far matches t[..j].
    let mut m = vec![false; t.len() + 1];
    m[0] = true;
    let mut next = vec![false; t.len() + 1];
    for c in pattern {
        for j in 0..=t.len() {
            next[j] = match c {
                '%' => m[j] || (j > 0 && next[j - 1]),
                _ => j > 0 && m[j - 1] && (c == '_' || c == t[j - 1]),
            };
        }
        std::mem::swap(&mut m, &mut next);
    }
    m[t.len()]
}

fn cmp_opt(a: Option<i64>, b: Option<i64>, desc: bool) -> Ordering {
    // Ascending puts users without a value first, descending puts them last (upstream SQL).
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) if desc => Ordering::Greater,
        (Some(_), None) if desc => Ordering::Less,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => {
            if desc {
                y.cmp(&x)
            } else {
                x.cmp(&y)
            }
        }
    }
}

/// Lists the users the caller may list (`list:users`, possibly filtered), by id unless sorted.
#[utoipa::path(
    get,
    path = "/api/users",
    operation_id = "list_users",
    tag = "users",
    security(("token" = [])),
    params(PageQuery, UserListQuery, ReadQuery),
    responses(
        (status = 200, description = "A list, or the pagination envelope when the client \
            sends `Accept: application/jupyterhub-pagination+json`.", body = UserList),
        (status = 400, description = "Unknown `state` or `sort`, or a non-integer `offset` \
            or `limit`.", body = ErrorBody)
    )
)]
pub async fn list(
    State(hub): State<Hub>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
) -> Result<Response, ApiError> {
    let c = ctx(&hub, &headers, rq).await?;
    let caller = c.caller.as_ref().ok_or_else(missing_credentials)?;
    let grant = match rbac::list_users(&caller.scopes) {
        Ok(g) => g,
        Err(e) => return Err(super::auth::list_denied(e)),
    };
    // Empty is no filter (`elif state_filter:`), as upstream's own admin page sends it.
    let state_filter =
        c.q.get("state")
            .filter(|s| !s.is_empty())
            .map(str::to_string);
    if let Some(s) = &state_filter {
        if !matches!(s.as_str(), "active" | "ready" | "inactive") {
            return Err(ApiError::bad_request(format!(
                "Unrecognized state filter: '{s}'"
            )));
        }
    }
    let sort_param = c.q.get("sort").unwrap_or("id").to_string();
    let (desc, sort) = match sort_param.strip_prefix('-') {
        Some(s) => (true, s.to_string()),
        None => (false, sort_param.clone()),
    };
    if !matches!(sort.as_str(), "id" | "name" | "last_activity") {
        return Err(ApiError::bad_request(format!(
            "sort must be 'id', 'name', or 'last_activity', not '{sort_param}'"
        )));
    }
    let p = page(
        &c.q,
        &headers,
        hub.cfg.api_page_default_limit,
        hub.cfg.api_page_max_limit,
    )?;
    let name_filter =
        c.q.get("name_filter")
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase);

    let st = hub.node.state();
    let memb = crate::authz::membership(&st);
    let only_active = matches!(state_filter.as_deref(), Some("active") | Some("ready"));
    // The common case (every user visible, id order, no name filter) pages straight through
    // the table: its cost follows the page, not the user count.
    let direct = matches!(grant, rbac::ListGrant::All)
        && name_filter.is_none()
        && sort == "id"
        && state_filter.as_deref() != Some("inactive");
    let (users, total): (Vec<&User>, usize) = if direct {
        let total = if only_active {
            st.active_user_count()
        } else {
            st.user_count()
        };
        let page: Vec<&User> = match (only_active, desc) {
            (true, false) => st.active_users().skip(p.offset).take(p.limit).collect(),
            (true, true) => st
                .active_users()
                .rev()
                .skip(p.offset)
                .take(p.limit)
                .collect(),
            (false, false) => st.users().skip(p.offset).take(p.limit).collect(),
            (false, true) => st.users().rev().skip(p.offset).take(p.limit).collect(),
        };
        (page, total)
    } else {
        let candidates: Box<dyn Iterator<Item = &User>> = if only_active {
            Box::new(st.active_users())
        } else {
            Box::new(st.users())
        };
        let mut users: Vec<&User> = candidates
            .filter(|u| grant.allows_user(&u.name, &memb))
            .filter(|u| {
                state_filter.as_deref() != Some("inactive")
                    || !u.servers.values().any(|s| s.active())
            })
            .filter(|u| {
                name_filter
                    .as_ref()
                    .is_none_or(|f| name_matches(f, &u.name.to_lowercase()))
            })
            .collect();
        match sort.as_str() {
            "name" if desc => users.sort_by(|a, b| b.name.cmp(&a.name)),
            "name" => users.sort_by(|a, b| a.name.cmp(&b.name)),
            "last_activity" => users.sort_by(|a, b| {
                cmp_opt(a.last_activity, b.last_activity, desc).then(a.id.cmp(&b.id))
            }),
            _ if desc => users.reverse(),
            _ => {}
        }
        let total = users.len();
        let page = users.into_iter().skip(p.offset).take(p.limit).collect();
        (page, total)
    };
    let view = View {
        hub: &hub,
        st: &st,
        scopes: &caller.scopes,
        include_stopped: c.q.include_stopped_servers(),
    };
    let items: Vec<_> = users
        .into_iter()
        .filter(|u| {
            state_filter.as_deref() != Some("ready") || u.servers.values().any(|s| s.ready())
        })
        .map(|u| view.user_model_ser(u))
        .filter(|m| m.is_visible())
        .collect();
    if !p.envelope {
        return Ok(serialized_response(StatusCode::OK, &items));
    }
    let paged = Paged {
        _pagination: pagination(p, total, &headers, uri.path(), &c.q),
        items: &items,
    };
    Ok(serialized_response(StatusCode::OK, &paged))
}

/// One user; `auth_state` is filled in only for callers holding `admin:auth_state`.
#[utoipa::path(
    get,
    path = "/api/users/{name}",
    operation_id = "get_user",
    tag = "users",
    security(("token" = [])),
    params(("name" = String, Path, description = "User name.", min_length = 1),
        StoppedQuery, ReadQuery),
    responses(
        (status = 200, description = "The user model, keys filtered by scope.",
            body = UserModel),
        (status = 404, description = "No such user, or not visible to the caller.",
            body = ErrorBody)
    )
)]
pub async fn get_one(
    State(hub): State<Hub>,
    Path(name): Path<String>,
    headers: HeaderMap,
    RawQuery(rq): RawQuery,
) -> Result<Response, ApiError> {
    let c = ctx(&hub, &headers, rq).await?;
    hub.confirm_miss(|st| st.user(&name).is_some()).await?;
    let st = hub.node.state();
    let caller = require(
        c.caller.as_ref(),
        &st,
        &[
            ReadUsers,
            ReadUsersName,
            ReadServers,
            ReadUsersGroups,
            ReadUsersActivity,
            ReadRolesUsers,
        ],
        Resource::User(&name),
    )?;
    let u = st
        .user(&name)
        .ok_or_else(|| ApiError::bare(StatusCode::NOT_FOUND))?;
    let view = View {
        hub: &hub,
        st: &st,
        scopes: &caller.scopes,
        include_stopped: c.q.include_stopped_servers(),
    };
    let mut m = view.user_model(u);
    if m.contains_key("auth_state") {
        m.insert(
            "auth_state".into(),
            u.auth_state.clone().unwrap_or(Value::Null),
        );
    }
    Ok(json_response(StatusCode::OK, &Value::Object(m)))
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn name_filter_is_a_sql_ilike_substring_match() {
        for (filter, name, want) in [
            ("ali", "alice", true),
            ("lic", "alice", true),
            ("bob", "alice", false),
            ("a_i", "alice", true),
            ("a_c", "alice", false),
            ("a%e", "alice", true),
            ("%", "x", true),
            ("_", "", false),
            ("e_", "alice", false),
            ("user_1", "user1", false),
            ("user_1", "userx1", true),
            ("%a%a%a%a%a%a%a%a%a%a%a%a%b", &"a".repeat(255), false),
        ] {
            assert_eq!(name_matches(filter, name), want, "{filter:?} in {name:?}");
        }
    }
}
