//! Apply of group, role and service commands.

use std::collections::BTreeSet;

use serde_json::Value;

use super::users::is_builtin_role;
use super::{model::*, Dirty, HubState, Key};
use crate::command::{Outcome, RoleAssignment};

impl HubState {
    fn resolve_users(&self, names: &[String]) -> Result<Vec<u64>, Outcome> {
        names
            .iter()
            .map(|n| {
                self.user_by_name
                    .get(n)
                    .copied()
                    .ok_or_else(|| Outcome::Invalid(format!("No such user: {n}")))
            })
            .collect()
    }

    pub(super) fn add_member(&mut self, gid: u64, uid: u64, dirty: &mut Dirty) {
        if let Some(g) = self.groups.get_mut(&gid) {
            if g.users.insert(uid) {
                dirty.insert(Key::Group(gid));
            }
            self.groups_of_user.entry(uid).or_default().insert(gid);
        }
    }

    pub(super) fn remove_member(&mut self, gid: u64, uid: u64, dirty: &mut Dirty) {
        if let Some(g) = self.groups.get_mut(&gid) {
            if g.users.remove(&uid) {
                dirty.insert(Key::Group(gid));
            }
        }
        self.forget_membership(uid, gid);
    }

    /// Drops `gid` from the user's group index, and the user's entry once it is empty.
    fn forget_membership(&mut self, uid: u64, gid: u64) {
        if let Some(set) = self.groups_of_user.get_mut(&uid) {
            set.remove(&gid);
            if set.is_empty() {
                self.groups_of_user.remove(&uid);
            }
        }
    }

    pub(super) fn create_groups(
        &mut self,
        names: &[String],
        users: &[String],
        dirty: &mut Dirty,
    ) -> Outcome {
        if let Some(n) = names.iter().find(|n| self.group_by_name.contains_key(*n)) {
            return Outcome::Conflict(format!("Group {n} already exists"));
        }
        let uids = match self.resolve_users(users) {
            Ok(u) => u,
            Err(o) => return o,
        };
        let mut created = Vec::new();
        let unique: BTreeSet<&String> = names.iter().collect();
        for name in names {
            if !unique.contains(name) || self.group_by_name.contains_key(name) {
                continue; // duplicate name inside one request
            }
            self.counters.next_group_id += 1;
            dirty.insert(Key::Counters);
            let id = self.counters.next_group_id;
            self.groups.insert(
                id,
                Group {
                    id,
                    name: name.clone(),
                    users: BTreeSet::new(),
                    roles: BTreeSet::new(),
                    properties: Value::Object(Default::default()),
                },
            );
            self.group_by_name.insert(name.clone(), id);
            dirty.insert(Key::Group(id));
            for uid in &uids {
                self.add_member(id, *uid, dirty);
            }
            created.push(id);
        }
        Outcome::Created(created)
    }

    pub(super) fn delete_group(&mut self, name: &str, dirty: &mut Dirty) -> Outcome {
        let Some(id) = self.group_by_name.remove(name) else {
            return Outcome::NotFound(format!("No such group: {name}"));
        };
        if let Some(g) = self.groups.remove(&id) {
            for uid in g.users {
                self.forget_membership(uid, id);
            }
        }
        self.drop_shares_with(ShareWith::Group(id), dirty);
        dirty.insert(Key::Group(id));
        Outcome::Ok
    }

    pub(super) fn set_group_members(
        &mut self,
        name: &str,
        users: &[String],
        add: bool,
        dirty: &mut Dirty,
    ) -> Outcome {
        let Some(&gid) = self.group_by_name.get(name) else {
            return Outcome::NotFound(format!("No such group: {name}"));
        };
        let uids = match self.resolve_users(users) {
            Ok(u) => u,
            Err(o) => return o,
        };
        for uid in uids {
            if add {
                self.add_member(gid, uid, dirty);
            } else {
                self.remove_member(gid, uid, dirty);
            }
        }
        Outcome::Ok
    }

    pub(super) fn set_group_properties(
        &mut self,
        name: &str,
        properties: &Value,
        dirty: &mut Dirty,
    ) -> Outcome {
        let Some(&gid) = self.group_by_name.get(name) else {
            return Outcome::NotFound(format!("No such group: {name}"));
        };
        if !properties.is_object() {
            return Outcome::Invalid("group properties must be a dict".into());
        }
        let g = self.groups.get_mut(&gid).expect("indexed group exists");
        g.properties = properties.clone();
        dirty.insert(Key::Group(gid));
        Outcome::Ok
    }

    pub(super) fn set_group_roles(
        &mut self,
        name: &str,
        roles: &[String],
        dirty: &mut Dirty,
    ) -> Outcome {
        let Some(&gid) = self.group_by_name.get(name) else {
            return Outcome::NotFound(format!("No such group: {name}"));
        };
        if let Some(r) = roles
            .iter()
            .find(|r| !self.roles.contains_key(*r) && !is_builtin_role(r))
        {
            return Outcome::Invalid(format!("Role {r} does not exist"));
        }
        let g = self.groups.get_mut(&gid).expect("indexed group exists");
        g.roles = roles.iter().cloned().collect();
        dirty.insert(Key::Group(gid));
        Outcome::Ok
    }

    /// Makes the config-defined roles exactly `assignments`: set-to-value, safe to repeat.
    pub(super) fn sync_config_roles(
        &mut self,
        assignments: &[RoleAssignment],
        dirty: &mut Dirty,
    ) -> Outcome {
        let wanted: BTreeSet<&str> = assignments.iter().map(|a| a.role.name.as_str()).collect();
        let stale: Vec<String> = self
            .roles
            .values()
            .filter(|r| r.from_config && !wanted.contains(r.name.as_str()))
            .map(|r| r.name.clone())
            .collect();
        for name in &stale {
            self.roles.remove(name);
            dirty.insert(Key::Role(name.clone()));
        }
        // Config owns role membership for config roles: strip, then re-grant.
        let managed: BTreeSet<String> = stale
            .into_iter()
            .chain(wanted.iter().map(|s| s.to_string()))
            .collect();
        // Only the users holding a managed role are touched (the users table is persistent:
        // a mutable walk would copy all of it while a snapshot shares it).
        let holders: Vec<u64> = self
            .users
            .values()
            .filter(|u| u.roles.iter().any(|r| managed.contains(r)))
            .map(|u| u.id)
            .collect();
        for id in holders {
            if let Some(u) = self.users.get_mut(&id) {
                u.roles.retain(|r| !managed.contains(r));
                dirty.insert(Key::User(id));
            }
        }
        for g in self.groups.values_mut() {
            let before = g.roles.len();
            g.roles.retain(|r| !managed.contains(r));
            if g.roles.len() != before {
                dirty.insert(Key::Group(g.id));
            }
        }
        for s in self.services.values_mut() {
            let before = s.roles.len();
            s.roles.retain(|r| !managed.contains(r));
            if s.roles.len() != before {
                dirty.insert(Key::Service(s.name.clone()));
            }
        }
        for a in assignments {
            let mut role = a.role.clone();
            role.from_config = true;
            self.roles.insert(role.name.clone(), role);
            dirty.insert(Key::Role(a.role.name.clone()));
            for n in &a.users {
                if let Some(id) = self.user_by_name.get(n) {
                    if let Some(u) = self.users.get_mut(id) {
                        u.roles.insert(a.role.name.clone());
                        dirty.insert(Key::User(*id));
                    }
                }
            }
            for n in &a.groups {
                if let Some(id) = self.group_by_name.get(n) {
                    if let Some(g) = self.groups.get_mut(id) {
                        g.roles.insert(a.role.name.clone());
                        dirty.insert(Key::Group(*id));
                    }
                }
            }
            for n in &a.services {
                if let Some(s) = self.services.get_mut(n) {
                    s.roles.insert(a.role.name.clone());
                    dirty.insert(Key::Service(n.clone()));
                }
            }
        }
        Outcome::Ok
    }

    pub(super) fn put_service(&mut self, service: &Service, dirty: &mut Dirty) -> Outcome {
        if self.services.contains_key(&service.name) {
            return Outcome::Conflict(format!("Service {} already exists", service.name));
        }
        self.services.insert(service.name.clone(), service.clone());
        dirty.insert(Key::Service(service.name.clone()));
        Outcome::Ok
    }

    pub(super) fn delete_service(&mut self, name: &str, dirty: &mut Dirty) -> Outcome {
        match self.services.get(name) {
            None => return Outcome::NotFound(format!("Service {name} does not exist")),
            Some(s) if s.from_config => {
                return Outcome::Invalid(format!(
                    "Service {name} is defined in the configuration and cannot be deleted"
                ))
            }
            Some(_) => {}
        }
        self.services.remove(name);
        dirty.insert(Key::Service(name.to_string()));
        let owned = self.token_ids_of(&Owner::Service(name.to_string()));
        for id in owned {
            self.remove_token(id, dirty);
        }
        Outcome::Ok
    }

    /// Makes the config-defined services exactly `services`; runtime services are kept.
    pub(super) fn sync_config_services(
        &mut self,
        services: &[Service],
        dirty: &mut Dirty,
    ) -> Outcome {
        let wanted: BTreeSet<&str> = services.iter().map(|s| s.name.as_str()).collect();
        let stale: Vec<String> = self
            .services
            .values()
            .filter(|s| s.from_config && !wanted.contains(s.name.as_str()))
            .map(|s| s.name.clone())
            .collect();
        for name in stale {
            self.services.remove(&name);
            dirty.insert(Key::Service(name.clone()));
            let owned = self.token_ids_of(&Owner::Service(name));
            for id in owned {
                self.remove_token(id, dirty);
            }
        }
        for s in services {
            let mut s = s.clone();
            s.from_config = true;
            // Keep roles granted by config roles (applied by SyncConfigRoles) if present.
            if let Some(old) = self.services.get(&s.name) {
                s.roles.extend(old.roles.iter().cloned());
            }
            self.services.insert(s.name.clone(), s.clone());
            dirty.insert(Key::Service(s.name.clone()));
        }
        Outcome::Ok
    }
}
