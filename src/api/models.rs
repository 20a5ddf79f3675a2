//! JSON models of users, servers, groups, services and tokens, with keys filtered by the
//! caller's scopes exactly as upstream's `user_model` & co (contract §1.4).

use rafthub_raft::state::model::{Group, Owner as ModelOwner, Server, Service, Token, User};
use rafthub_raft::HubState;
use rafthub_rbac::{self as rbac, GroupKey, ScopeSet, ServiceKey, UserKey};
use serde_json::{json, Map, Value};

use super::names::quote_name;
use crate::hub::Hub;
use crate::timefmt::iso_opt;

/// What a model is rendered for: the state, the caller's scopes and request options.
pub struct View<'a> {
    pub hub: &'a Hub,
    pub st: &'a HubState,
    pub scopes: &'a ScopeSet,
    pub include_stopped: bool,
}

/// A server's `user_options` as upstream shows them (see `server_model`).
fn user_options(s: &Server) -> Value {
    let empty =
        s.user_options.is_null() || s.user_options.as_object().is_some_and(|o| o.is_empty());
    match (s.active(), empty) {
        (true, true) => json!({}),
        (false, true) => Value::Null,
        _ => s.user_options.clone(),
    }
}

/// Roles assigned to the user directly, with the implied defaults (`user`, `admin`).
pub fn user_roles(u: &User) -> Vec<String> {
    let mut r = vec!["user".to_string()];
    if u.admin {
        r.push("admin".into());
    }
    r.extend(u.roles.iter().cloned());
    r.sort();
    r.dedup();
    r
}

impl View<'_> {
    pub fn public_url(&self, path: &str) -> Value {
        match &self.hub.cfg.public_url {
            Some(p) => Value::String(format!("{}{}", p.trim_end_matches('/'), path)),
            None => Value::Null,
        }
    }

    pub fn server_url(&self, user: &str, server: &str) -> String {
        self.hub.server_prefix(user, server)
    }

    pub fn progress_url(&self, user: &str, server: &str) -> String {
        let base = format!("{}api/users/{}", self.hub.hub_prefix(), quote_name(user));
        if server.is_empty() {
            format!("{base}/server/progress")
        } else {
            format!("{base}/servers/{}/progress", quote_name(server))
        }
    }

    pub fn server_model(&self, user: &User, s: &Server) -> Value {
        let url = self.server_url(&user.name, &s.name);
        let progress = self.progress_url(&user.name, &s.name);
        // Every admitted start counts a generation: 0 is a row that never ran, whose state
        // upstream shows as null; after a run it is the cleared state `{}`.
        let ever_started = s.active() || s.generation > 0;
        let mut m = json!({
            "name": s.name,
            // Upstream stores the server's name when none is given ("" for the default).
            "display_name": s.display_name.as_deref().unwrap_or(&s.name),
            "full_name": format!("{}/{}", user.name, s.name),
            "last_activity": iso_opt(s.last_activity),
            "started": iso_opt(s.started),
            "pending": s.pending(),
            "ready": s.ready(),
            "stopped": !s.active(),
            "url": url,
            // Upstream 6.1.1, measured: a live spawner's options default to `{}`; a stopped
            // server shows its database row, null unless options were given.
            "user_options": user_options(s),
            "progress_url": progress,
            "full_url": self.public_url(&url),
            "full_progress_url": self.public_url(&progress),
        });
        let memb = crate::authz::membership(self.st);
        if rbac::can_read_server_state(self.scopes, &user.name, &s.name, &memb) {
            m["state"] = if s.state.is_null() && ever_started {
                json!({})
            } else {
                s.state.clone()
            };
        }
        m
    }

    /// The user model; `{}` when the caller may see nothing of this user.
    pub fn user_model(&self, u: &User) -> Map<String, Value> {
        let memb = crate::authz::membership(self.st);
        let keys = rbac::user_model_keys(self.scopes, &u.name, &memb);
        let mut m = Map::new();
        if keys.is_empty() {
            return m;
        }
        let default_ready = u.servers.get("").is_some_and(|s| s.ready());
        for k in &keys {
            let v = match k {
                UserKey::Kind => json!("user"),
                UserKey::Name => json!(u.name),
                UserKey::Admin => json!(u.admin),
                UserKey::Roles => json!(user_roles(u)),
                UserKey::Groups => json!(self.st.user_group_names(u.id)),
                UserKey::Server => {
                    if default_ready {
                        json!(self.hub.user_url(&u.name))
                    } else {
                        Value::Null
                    }
                }
                UserKey::Pending => json!(u.servers.get("").and_then(|s| s.pending())),
                UserKey::Created => iso_opt(Some(u.created)),
                UserKey::LastActivity => iso_opt(u.last_activity),
                UserKey::AuthState => Value::Null,
                UserKey::UserInfo => u.user_info.clone().unwrap_or(Value::Null),
                UserKey::Servers => continue,
            };
            m.insert(k.as_str().to_string(), v);
        }
        let mut servers = Map::new();
        for s in u.servers.values() {
            if (s.active() || self.include_stopped)
                && rbac::can_read_server(self.scopes, &u.name, &s.name, &memb)
            {
                servers.insert(s.name.clone(), self.server_model(u, s));
            }
        }
        if keys.contains(&UserKey::Servers) || !servers.is_empty() {
            m.insert("servers".into(), Value::Object(servers));
        }
        m
    }

    pub fn group_model(&self, g: &Group) -> Map<String, Value> {
        let keys = rbac::group_model_keys(self.scopes, &g.name);
        let mut m = Map::new();
        for k in keys {
            let v = match k {
                GroupKey::Kind => json!("group"),
                GroupKey::Name => json!(g.name),
                GroupKey::Roles => json!(g.roles.iter().collect::<Vec<_>>()),
                GroupKey::Users => {
                    let mut names: Vec<&str> = g
                        .users
                        .iter()
                        .filter_map(|id| self.st.user_by_id(*id).map(|u| u.name.as_str()))
                        .collect();
                    names.sort();
                    json!(names)
                }
                GroupKey::Properties => g.properties.clone(),
            };
            m.insert(k.as_str().to_string(), v);
        }
        m
    }

    pub fn service_model(&self, s: &Service) -> Map<String, Value> {
        let keys = rbac::service_model_keys(self.scopes, &s.name);
        let mut m = Map::new();
        for k in keys {
            let v = match k {
                ServiceKey::Kind => json!("service"),
                ServiceKey::Name => json!(s.name),
                // Upstream grants a service configured `admin: true` the admin role and
                // reports its flag.
                ServiceKey::Roles => {
                    let mut r: Vec<&str> = s.roles.iter().map(String::as_str).collect();
                    if s.admin && !s.roles.contains("admin") {
                        r.push("admin");
                        r.sort_unstable();
                    }
                    json!(r)
                }
                ServiceKey::Admin => json!(s.admin),
                ServiceKey::Url => json!(s.url.clone().unwrap_or_default()),
                ServiceKey::Prefix => {
                    if s.url.is_some() {
                        json!(format!(
                            "{}services/{}/",
                            self.hub.cfg.base_url,
                            quote_name(&s.name)
                        ))
                    } else {
                        json!("")
                    }
                }
                // `Service.command` is a list trait, `[]` for a service the hub does not run.
                ServiceKey::Command => json!(s.command),
                ServiceKey::Pid => json!(0),
                ServiceKey::Info => {
                    if s.info.is_null() {
                        json!({})
                    } else {
                        s.info.clone()
                    }
                }
                ServiceKey::Display => json!(s.display),
            };
            m.insert(k.as_str().to_string(), v);
        }
        m
    }
}

/// The token model (never includes the secret).
pub fn token_model(hub: &Hub, st: &HubState, t: &Token) -> Value {
    let (owner_key, owner) = match &t.owner {
        ModelOwner::User(id) => (
            "user",
            st.user_by_id(*id)
                .map(|u| u.name.clone())
                .unwrap_or_default(),
        ),
        ModelOwner::Service(n) => ("service", n.clone()),
    };
    let scopes = hub.authz.token_scopes(st, t).to_strings_sorted();
    let client = st
        .oauth_client(&t.client_id)
        .map(|c| {
            if c.description.is_empty() {
                c.id.clone()
            } else {
                c.description.clone()
            }
        })
        .unwrap_or_else(|| "JupyterHub".to_string());
    let mut m = json!({
        "id": format!("a{}", t.id),
        "kind": "api_token",
        "roles": [],
        "scopes": scopes,
        "created": iso_opt(Some(t.created)),
        "last_activity": iso_opt(t.last_activity),
        "expires_at": iso_opt(t.expires_at),
        "note": t.note,
        "session_id": t.session_id,
        "oauth_client": client,
    });
    m[owner_key] = json!(owner);
    m
}
