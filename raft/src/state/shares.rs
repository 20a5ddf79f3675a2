//! Sharing (JupyterHub 5): shares and share codes of servers, and the indexes that find them
//! from the recipient's side.
//!
//! Shares and codes are stored on their server's row ([`Server::sharing`]), so removing the
//! server or its owner removes them with the row and renames need nothing. The indexes
//! (recipient → shared servers, code prefix → codes) are derived: after every command, the
//! owners whose rows it touched are re-indexed ([`HubState::refresh_sharing`]), which for the
//! nearly every user without sharing is one look at each of its servers.

use std::collections::BTreeSet;

use super::model::*;
use super::{Dirty, HubState, Key};
use crate::command::{Outcome, ShareTarget};

/// What the sharing indexes hold for one owner, to undo them when its row changes.
#[derive(Debug, Clone, Default)]
pub(super) struct OwnerEntries {
    with: Vec<ShareWith>,
    prefixes: Vec<String>,
}

impl OwnerEntries {
    /// Its entries in a canonical order, to compare two builds of the indexes.
    #[cfg(test)]
    pub(super) fn sorted(&self) -> (Vec<ShareWith>, Vec<String>) {
        let (mut w, mut p) = (self.with.clone(), self.prefixes.clone());
        w.sort_unstable();
        p.sort_unstable();
        (w, p)
    }
}

fn no_server(owner: &str, server: &str) -> Outcome {
    Outcome::NotFound(format!("No such server: {owner}/{server}"))
}

/// `scopes` as a sorted set of base names, merged into `into`.
fn merge_scopes(into: &mut Vec<String>, scopes: &[String]) {
    let set: BTreeSet<String> = into.drain(..).chain(scopes.iter().cloned()).collect();
    into.extend(set);
}

impl HubState {
    // ---- reads ----

    /// The shares of one server, in id order.
    pub fn shares_of(&self, owner_id: u64, server: &str) -> &[Share] {
        self.users
            .get(&owner_id)
            .and_then(|u| u.servers.get(server))
            .and_then(|s| s.sharing.as_deref())
            .map_or(&[], |s| &s.shares)
    }

    /// The share codes of one server, in id order.
    pub fn share_codes_of(&self, owner_id: u64, server: &str) -> &[ShareCode] {
        self.users
            .get(&owner_id)
            .and_then(|u| u.servers.get(server))
            .and_then(|s| s.sharing.as_deref())
            .map_or(&[], |s| &s.codes)
    }

    /// `(owner id, server name)` of every server shared with `with`.
    pub fn servers_shared_with(&self, with: ShareWith) -> impl Iterator<Item = (u64, &str)> + '_ {
        self.shared_with
            .get(&with)
            .into_iter()
            .flatten()
            .map(|(o, s)| (*o, s.as_str()))
    }

    /// `(owner id, server name, code id)` of the codes whose first four characters are `prefix`.
    pub fn share_codes_with_prefix(
        &self,
        prefix: &str,
    ) -> impl Iterator<Item = (u64, &str, &ShareCode)> + '_ {
        self.share_codes_by_prefix
            .get(prefix)
            .into_iter()
            .flatten()
            .filter_map(move |(o, s, id)| {
                let c = self.share_codes_of(*o, s).iter().find(|c| c.id == *id)?;
                Some((*o, s.as_str(), c))
            })
    }

    // ---- the derived indexes ----

    /// Re-derives the sharing indexes of one owner (after any command that touched its row).
    pub(super) fn refresh_sharing(&mut self, uid: u64) {
        let shares_now = self
            .users
            .get(&uid)
            .is_some_and(|u| u.servers.values().any(|s| s.sharing.is_some()));
        if !shares_now && !self.sharing_owners.contains_key(&uid) {
            return;
        }
        if let Some(old) = self.sharing_owners.remove(&uid) {
            for w in old.with {
                if let Some(set) = self.shared_with.get_mut(&w) {
                    set.retain(|(o, _)| *o != uid);
                    if set.is_empty() {
                        self.shared_with.remove(&w);
                    }
                }
            }
            for p in old.prefixes {
                if let Some(v) = self.share_codes_by_prefix.get_mut(&p) {
                    v.retain(|(o, _, _)| *o != uid);
                    if v.is_empty() {
                        self.share_codes_by_prefix.remove(&p);
                    }
                }
            }
        }
        let Some(u) = self.users.get(&uid).filter(|_| shares_now) else {
            return;
        };
        let mut entries = OwnerEntries::default();
        for s in u.servers.values() {
            let Some(sh) = s.sharing.as_deref() else {
                continue;
            };
            for share in &sh.shares {
                self.shared_with
                    .entry(share.with)
                    .or_default()
                    .insert((uid, s.name.clone()));
                entries.with.push(share.with);
            }
            for c in &sh.codes {
                self.share_codes_by_prefix
                    .entry(c.prefix.clone())
                    .or_default()
                    .push((uid, s.name.clone(), c.id));
                entries.prefixes.push(c.prefix.clone());
            }
        }
        self.sharing_owners.insert(uid, entries);
    }

    // ---- apply ----

    fn share_with(&self, t: &ShareTarget) -> Option<ShareWith> {
        match t {
            ShareTarget::User(n) => self.user_by_name.get(n).map(|id| ShareWith::User(*id)),
            ShareTarget::Group(n) => self.group_by_name.get(n).map(|id| ShareWith::Group(*id)),
        }
    }

    /// The owner's id if it has a server of that name.
    fn shared_server(&self, owner: &str, server: &str) -> Option<u64> {
        let uid = *self.user_by_name.get(owner)?;
        self.users
            .get(&uid)?
            .servers
            .contains_key(server)
            .then_some(uid)
    }

    fn sharing_mut(&mut self, uid: u64, server: &str) -> &mut Sharing {
        let s = self
            .users
            .get_mut(&uid)
            .and_then(|u| u.servers.get_mut(server))
            .expect("checked by shared_server");
        s.sharing.get_or_insert_with(Default::default)
    }

    /// Drops an emptied `Sharing` so the row is as it was before any sharing.
    fn tidy_sharing(&mut self, uid: u64, server: &str) {
        if let Some(s) = self
            .users
            .get_mut(&uid)
            .and_then(|u| u.servers.get_mut(server))
        {
            if s.sharing
                .as_deref()
                .is_some_and(|x| x.shares.is_empty() && x.codes.is_empty())
            {
                s.sharing = None;
            }
        }
    }

    fn alloc_share_id(&mut self, dirty: &mut Dirty) -> u64 {
        self.counters.next_share_id += 1;
        dirty.insert(Key::Counters);
        self.counters.next_share_id
    }

    /// Grants (merges) base scopes on a server to a recipient.
    fn grant(
        &mut self,
        uid: u64,
        server: &str,
        with: ShareWith,
        scopes: &[String],
        now: Ts,
        dirty: &mut Dirty,
    ) {
        let exists = self.shares_of(uid, server).iter().any(|s| s.with == with);
        let id = if exists {
            0
        } else {
            self.alloc_share_id(dirty)
        };
        let sharing = self.sharing_mut(uid, server);
        match sharing.shares.iter_mut().find(|s| s.with == with) {
            Some(share) => merge_scopes(&mut share.scopes, scopes),
            None => {
                let mut share = Share {
                    id,
                    with,
                    scopes: Vec::new(),
                    created_at: now,
                };
                merge_scopes(&mut share.scopes, scopes);
                sharing.shares.push(share);
            }
        }
        dirty.insert(Key::User(uid));
    }

    pub(super) fn grant_share(
        &mut self,
        owner: &str,
        server: &str,
        with: &ShareTarget,
        scopes: &[String],
        now: Ts,
        dirty: &mut Dirty,
    ) -> Outcome {
        let Some(uid) = self.shared_server(owner, server) else {
            return no_server(owner, server);
        };
        let Some(w) = self.share_with(with) else {
            return Outcome::Invalid(match with {
                ShareTarget::User(n) => format!("No such user: {n}"),
                ShareTarget::Group(n) => format!("No such group: {n}"),
            });
        };
        self.grant(uid, server, w, scopes, now, dirty);
        Outcome::Ok
    }

    pub(super) fn revoke_share(
        &mut self,
        owner: &str,
        server: &str,
        with: &ShareTarget,
        scopes: Option<&[String]>,
        dirty: &mut Dirty,
    ) -> Outcome {
        let Some(uid) = self.shared_server(owner, server) else {
            return no_server(owner, server);
        };
        let Some(w) = self.share_with(with) else {
            return Outcome::Ok;
        };
        if !self.shares_of(uid, server).iter().any(|s| s.with == w) {
            return Outcome::Ok;
        }
        let sharing = self.sharing_mut(uid, server);
        match scopes {
            None => sharing.shares.retain(|s| s.with != w),
            Some(revoked) => {
                for s in sharing.shares.iter_mut().filter(|s| s.with == w) {
                    s.scopes.retain(|x| !revoked.contains(x));
                }
                sharing.shares.retain(|s| !s.scopes.is_empty());
            }
        }
        self.tidy_sharing(uid, server);
        dirty.insert(Key::User(uid));
        Outcome::Ok
    }

    pub(super) fn revoke_server_shares(
        &mut self,
        owner: &str,
        server: &str,
        dirty: &mut Dirty,
    ) -> Outcome {
        let Some(uid) = self.shared_server(owner, server) else {
            return no_server(owner, server);
        };
        if !self.shares_of(uid, server).is_empty() {
            self.sharing_mut(uid, server).shares.clear();
            self.tidy_sharing(uid, server);
            dirty.insert(Key::User(uid));
        }
        Outcome::Ok
    }

    pub(super) fn create_share_code(
        &mut self,
        owner: &str,
        server: &str,
        code: &ShareCode,
        dirty: &mut Dirty,
    ) -> Outcome {
        let Some(uid) = self.shared_server(owner, server) else {
            return no_server(owner, server);
        };
        let id = self.alloc_share_id(dirty);
        let mut code = code.clone();
        code.id = id;
        let mut scopes = Vec::new();
        merge_scopes(&mut scopes, &code.scopes);
        code.scopes = scopes;
        self.sharing_mut(uid, server).codes.push(code);
        dirty.insert(Key::User(uid));
        Outcome::Created(vec![id])
    }

    pub(super) fn delete_share_codes(
        &mut self,
        owner: &str,
        server: &str,
        id: Option<u64>,
        dirty: &mut Dirty,
    ) -> Outcome {
        let Some(uid) = self.shared_server(owner, server) else {
            return no_server(owner, server);
        };
        let codes = self.share_codes_of(uid, server);
        if let Some(id) = id {
            if !codes.iter().any(|c| c.id == id) {
                return Outcome::NotFound(format!("No code found matching id=sc_{id}"));
            }
        } else if codes.is_empty() {
            return Outcome::Ok;
        }
        let sharing = self.sharing_mut(uid, server);
        sharing.codes.retain(|c| id.is_some_and(|id| c.id != id));
        self.tidy_sharing(uid, server);
        dirty.insert(Key::User(uid));
        Outcome::Ok
    }

    pub(super) fn exchange_share_code(
        &mut self,
        owner: &str,
        server: &str,
        id: u64,
        user: &str,
        now: Ts,
        dirty: &mut Dirty,
    ) -> Outcome {
        let invalid = || Outcome::NotFound("Share not found or expired".to_string());
        let Some(uid) = self.shared_server(owner, server) else {
            return invalid();
        };
        let Some(code) = self.share_codes_of(uid, server).iter().find(|c| c.id == id) else {
            return invalid();
        };
        if code.expires_at < now {
            return invalid();
        }
        let scopes = code.scopes.clone();
        let Some(&rid) = self.user_by_name.get(user) else {
            return Outcome::Invalid(format!("No such user: {user}"));
        };
        if rid == uid {
            return Outcome::Invalid("You can't share with yourself!".to_string());
        }
        self.grant(uid, server, ShareWith::User(rid), &scopes, now, dirty);
        if let Some(c) = self
            .sharing_mut(uid, server)
            .codes
            .iter_mut()
            .find(|c| c.id == id)
        {
            c.exchange_count += 1;
            c.last_exchanged_at = Some(now);
        }
        Outcome::Ok
    }

    /// Removes every share granted to `with` (its user or group is being deleted).
    pub(super) fn drop_shares_with(&mut self, with: ShareWith, dirty: &mut Dirty) {
        let servers: Vec<(u64, String)> = self
            .servers_shared_with(with)
            .map(|(o, s)| (o, s.to_string()))
            .collect();
        for (uid, server) in servers {
            if self
                .users
                .get(&uid)
                .is_some_and(|u| u.servers.contains_key(&server))
            {
                self.sharing_mut(uid, &server)
                    .shares
                    .retain(|s| s.with != with);
                self.tidy_sharing(uid, &server);
                dirty.insert(Key::User(uid));
            }
        }
    }

    /// Drops expired share codes (part of `PurgeExpired`).
    pub(super) fn purge_expired_share_codes(&mut self, now: Ts, dirty: &mut Dirty) {
        let expired: BTreeSet<(u64, String)> = self
            .share_codes_by_prefix
            .values()
            .flatten()
            .filter(|(o, s, id)| {
                self.share_codes_of(*o, s)
                    .iter()
                    .any(|c| c.id == *id && c.expires_at < now)
            })
            .map(|(o, s, _)| (*o, s.clone()))
            .collect();
        for (uid, server) in expired {
            self.sharing_mut(uid, &server)
                .codes
                .retain(|c| c.expires_at >= now);
            self.tidy_sharing(uid, &server);
            dirty.insert(Key::User(uid));
        }
    }
}
