//! Apply of user commands: create, update (incl. rename), delete, activity.

use std::collections::BTreeSet;

use super::{model::*, Dirty, HubState, Key};
use crate::command::{ActivityItem, NewUser, Outcome, TokenActivity, UserPatch};

impl HubState {
    pub(super) fn create_users(
        &mut self,
        users: &[NewUser],
        skip_existing_ok: bool,
        now: Ts,
        dirty: &mut Dirty,
    ) -> Outcome {
        let mut created = Vec::new();
        for nu in users {
            if self.user_by_name.contains_key(&nu.name) {
                continue;
            }
            let id = self.alloc_user_id(dirty);
            self.users.insert(
                id,
                User {
                    id,
                    name: nu.name.clone(),
                    admin: nu.admin,
                    created: now,
                    last_activity: None,
                    roles: BTreeSet::new(),
                    // Every user has a (stopped) default server row, as upstream's Spawner
                    // table does, so activity for server "" is accepted before a first spawn.
                    servers: [(
                        String::new(),
                        Server {
                            user_options: serde_json::Value::Object(Default::default()),
                            ..Server::default()
                        },
                    )]
                    .into(),
                    auth_state: None,
                    user_info: None,
                    cookie_id: nu.cookie_id.clone(),
                    password_hash: None,
                },
            );
            self.user_by_name.insert(nu.name.clone(), id);
            self.user_by_cookie.insert(nu.cookie_id.clone(), id);
            dirty.insert(Key::User(id));
            created.push(id);
        }
        if created.is_empty() && !users.is_empty() && !skip_existing_ok {
            let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
            return Outcome::Conflict(format!("All {} users already exist", names.len()));
        }
        Outcome::Created(created)
    }

    fn alloc_user_id(&mut self, dirty: &mut Dirty) -> u64 {
        self.counters.next_user_id += 1;
        dirty.insert(Key::Counters);
        self.counters.next_user_id
    }

    pub(super) fn update_user(&mut self, name: &str, p: &UserPatch, dirty: &mut Dirty) -> Outcome {
        let Some(&id) = self.user_by_name.get(name) else {
            return Outcome::NotFound(format!("No such user: {name}"));
        };
        // Validate everything before changing anything: an outcome is all or nothing.
        if let Some(new) = &p.name {
            if new != name && self.user_by_name.contains_key(new) {
                return Outcome::Conflict(format!(
                    "User {new} already exists, username must be unique"
                ));
            }
        }
        let mut group_ids = BTreeSet::new();
        if let Some(groups) = &p.groups {
            for g in groups {
                match self.group_by_name.get(g) {
                    Some(gid) => {
                        group_ids.insert(*gid);
                    }
                    None => return Outcome::Invalid(format!("No such group: {g}")),
                }
            }
        }
        if let Some(roles) = &p.roles {
            if let Some(r) = roles
                .iter()
                .find(|r| !self.roles.contains_key(*r) && !is_builtin_role(r))
            {
                return Outcome::Invalid(format!("Role {r} does not exist"));
            }
        }
        let user = self.users.get_mut(&id).expect("indexed user exists");
        if let Some(new) = &p.name {
            if new != name {
                self.user_by_name.remove(name);
                self.user_by_name.insert(new.clone(), id);
                user.name = new.clone();
            }
        }
        if let Some(a) = p.admin {
            user.admin = a;
        }
        if let Some(s) = &p.auth_state {
            user.auth_state = s.clone();
        }
        if let Some(h) = &p.password_hash {
            user.password_hash = h.clone();
        }
        if let Some(c) = &p.cookie_id {
            self.user_by_cookie.remove(&user.cookie_id);
            self.user_by_cookie.insert(c.clone(), id);
            user.cookie_id = c.clone();
        }
        if let Some(roles) = &p.roles {
            user.roles = roles.iter().cloned().collect();
        }
        dirty.insert(Key::User(id));
        if p.groups.is_some() {
            let current: BTreeSet<u64> = self.groups_of_user.get(&id).cloned().unwrap_or_default();
            for gid in current.difference(&group_ids) {
                self.remove_member(*gid, id, dirty);
            }
            for gid in group_ids.difference(&current) {
                self.add_member(*gid, id, dirty);
            }
        }
        Outcome::Ok
    }

    pub(super) fn delete_user(&mut self, name: &str, dirty: &mut Dirty) -> Outcome {
        let Some(id) = self.user_by_name.remove(name) else {
            return Outcome::NotFound(format!("No such user: {name}"));
        };
        let user = self.users.remove(&id).expect("indexed user exists");
        self.user_by_cookie.remove(&user.cookie_id);
        dirty.insert(Key::User(id));
        for gid in self.groups_of_user.get(&id).cloned().unwrap_or_default() {
            self.remove_member(gid, id, dirty);
        }
        self.groups_of_user.remove(&id);
        self.drop_shares_with(ShareWith::User(id), dirty);
        let owned = self.token_ids_of(&Owner::User(id));
        for tid in owned {
            self.remove_token(tid, dirty);
        }
        let codes: Vec<String> = self
            .oauth_codes
            .values()
            .filter(|c| c.user_id == id)
            .map(|c| c.code_hash.clone())
            .collect();
        for c in codes {
            self.oauth_codes.remove(&c);
            dirty.insert(Key::OAuthCode(c));
        }
        for s in user.servers.values() {
            if let Some(spec) = &s.routespec {
                if self.routes.remove(spec).is_some() {
                    dirty.insert(Key::Route(spec.clone()));
                }
            }
        }
        Outcome::Ok
    }

    /// `last_activity = max(old, ts)`: commutative and idempotent, so batches from different
    /// replicas may interleave in any order and be retried freely.
    pub(super) fn record_activity(
        &mut self,
        items: &[ActivityItem],
        tokens: &[TokenActivity],
        dirty: &mut Dirty,
    ) -> Outcome {
        for it in items {
            let Some(user) = self.users.get_mut(&it.user_id) else {
                continue;
            };
            let mut changed = bump(&mut user.last_activity, it.ts);
            if let Some(sname) = &it.server {
                if let Some(s) = user.servers.get_mut(sname) {
                    changed |= bump(&mut s.last_activity, it.ts);
                }
            }
            if changed {
                dirty.insert(Key::User(it.user_id));
            }
        }
        for t in tokens {
            if let Some(tok) = self.tokens.get_mut(&t.token_id) {
                if bump(&mut tok.last_activity, t.ts) {
                    dirty.insert(Key::Token(t.token_id));
                }
            }
        }
        Outcome::Ok
    }
}

fn bump(slot: &mut Option<Ts>, ts: Ts) -> bool {
    if slot.is_none_or(|old| ts > old) {
        *slot = Some(ts);
        true
    } else {
        false
    }
}

/// Roles every hub has without configuration.
pub fn is_builtin_role(name: &str) -> bool {
    matches!(name, "user" | "admin" | "server" | "token")
}
