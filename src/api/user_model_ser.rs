//! The user model serialized straight into the response body, for the two paths that render
//! many of them: `GET /users` and the 201 of `POST /users`.
//!
//! Why: [`View::user_model`] builds a `serde_json::Value` tree (a map node and an owned key
//! string per field) that is then walked again to print it. On the write path that was ~8 %
//! of the leader's CPU (profile in docs/benchmarks.md), and `GET /users` is mostly this. Here
//! the fields go to the serializer as they are read.
//!
//! The bytes must stay those of the `Value` path: the keys are emitted in the order
//! `serde_json::Map` (a `BTreeMap`) prints them, and the same visibility rules apply.
//! `tests/api_users.rs` checks every listed model against `GET /users/{name}`, which renders
//! through [`View::user_model`], for callers with different scopes.

use rafthub_raft::state::model::{Server, User};
use rafthub_rbac::{self as rbac, UserKey};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::models::{user_roles, View};
use crate::timefmt::iso_opt;

/// Keys in the order they are printed (sorted as strings), `servers` included.
const PRINT_ORDER: [UserKey; 12] = [
    UserKey::Admin,
    UserKey::AuthState,
    UserKey::Created,
    UserKey::Groups,
    UserKey::Kind,
    UserKey::LastActivity,
    UserKey::Name,
    UserKey::Pending,
    UserKey::Roles,
    UserKey::Server,
    UserKey::Servers,
    UserKey::UserInfo,
];

/// One user's model as the caller may see it; `{}` when nothing is visible.
pub struct UserModel<'v, 'a> {
    view: &'v View<'a>,
    user: &'v User,
    keys: std::collections::BTreeSet<UserKey>,
    /// Servers listed under `servers`, sorted by name.
    servers: Vec<&'v Server>,
}

impl<'a> View<'a> {
    /// [`View::user_model`], ready to serialize without building a `Value`.
    pub fn user_model_ser<'v>(&'v self, u: &'v User) -> UserModel<'v, 'a> {
        let memb = crate::authz::membership(self.st);
        let keys = rbac::user_model_keys(self.scopes, &u.name, &memb);
        let mut servers = Vec::new();
        if !keys.is_empty() {
            servers.extend(u.servers.values().filter(|s| {
                (s.active() || self.include_stopped)
                    && rbac::can_read_server(self.scopes, &u.name, &s.name, &memb)
            }));
            servers.sort_by(|a, b| a.name.cmp(&b.name));
        }
        UserModel {
            view: self,
            user: u,
            keys,
            servers,
        }
    }
}

impl UserModel<'_, '_> {
    /// False for the `{}` model of a user the caller may see nothing of.
    pub fn is_visible(&self) -> bool {
        !self.keys.is_empty()
    }

    fn shows(&self, k: UserKey) -> bool {
        match k {
            UserKey::Servers => self.keys.contains(&k) || !self.servers.is_empty(),
            _ => self.keys.contains(&k),
        }
    }
}

/// A user's servers, name → server model.
struct ServersOf<'m, 'v, 'a>(&'m UserModel<'v, 'a>);

impl Serialize for ServersOf<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.0;
        let mut map = s.serialize_map(Some(m.servers.len()))?;
        for srv in &m.servers {
            map.serialize_entry(&srv.name, &m.view.server_model(m.user, srv))?;
        }
        map.end()
    }
}

impl Serialize for UserModel<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (u, view) = (self.user, self.view);
        if !self.is_visible() {
            return s.serialize_map(Some(0))?.end();
        }
        let mut map = s.serialize_map(None)?;
        for k in PRINT_ORDER.into_iter().filter(|k| self.shows(*k)) {
            let key = k.as_str();
            match k {
                UserKey::Admin => map.serialize_entry(key, &u.admin)?,
                UserKey::AuthState => map.serialize_entry(key, &Value::Null)?,
                UserKey::Created => map.serialize_entry(key, &iso_opt(Some(u.created)))?,
                UserKey::Groups => map.serialize_entry(key, &view.st.user_group_names(u.id))?,
                UserKey::Kind => map.serialize_entry(key, "user")?,
                UserKey::LastActivity => map.serialize_entry(key, &iso_opt(u.last_activity))?,
                UserKey::Name => map.serialize_entry(key, &u.name)?,
                UserKey::Pending => {
                    let pending = u.servers.get("").and_then(|s| s.pending());
                    map.serialize_entry(key, &pending)?
                }
                UserKey::Roles => map.serialize_entry(key, &user_roles(u))?,
                UserKey::Server => {
                    let ready = u.servers.get("").is_some_and(|s| s.ready());
                    let url = ready.then(|| view.hub.user_url(&u.name));
                    map.serialize_entry(key, &url)?
                }
                UserKey::Servers => map.serialize_entry(key, &ServersOf(self))?,
                UserKey::UserInfo => map.serialize_entry(key, &u.user_info)?,
            }
        }
        map.end()
    }
}
