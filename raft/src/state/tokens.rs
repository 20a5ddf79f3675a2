//! Apply of token, session and OAuth commands.

use super::{model::*, Dirty, HubState, Key};
use crate::command::Outcome;

impl HubState {
    fn owner_exists(&self, owner: &Owner) -> bool {
        match owner {
            Owner::User(id) => self.users.contains_key(id),
            Owner::Service(name) => self.services.contains_key(name),
        }
    }

    /// Inserts a token with a freshly allocated id; returns the id.
    fn insert_token(&mut self, token: &Token, dirty: &mut Dirty) -> u64 {
        self.counters.next_token_id += 1;
        dirty.insert(Key::Counters);
        let id = self.counters.next_token_id;
        let mut t = token.clone();
        t.id = id;
        self.tokens_by_prefix
            .entry(t.prefix.clone())
            .or_default()
            .push(id);
        self.tokens_by_owner
            .entry(t.owner.clone())
            .or_default()
            .insert(id);
        if let Some(sid) = &t.session_id {
            self.tokens_by_session
                .entry(sid.clone())
                .or_default()
                .push(id);
        }
        self.tokens.insert(id, t);
        dirty.insert(Key::Token(id));
        id
    }

    pub(super) fn remove_token(&mut self, id: u64, dirty: &mut Dirty) -> bool {
        let Some(t) = self.tokens.remove(&id) else {
            return false;
        };
        if let Some(ids) = self.tokens_by_prefix.get_mut(&t.prefix) {
            ids.retain(|x| *x != id);
            if ids.is_empty() {
                self.tokens_by_prefix.remove(&t.prefix);
            }
        }
        if let Some(sid) = &t.session_id {
            if let Some(ids) = self.tokens_by_session.get_mut(sid) {
                ids.retain(|x| *x != id);
                if ids.is_empty() {
                    self.tokens_by_session.remove(sid);
                }
            }
        }
        if let Some(ids) = self.tokens_by_owner.get_mut(&t.owner) {
            ids.remove(&id);
            if ids.is_empty() {
                self.tokens_by_owner.remove(&t.owner);
            }
        }
        dirty.insert(Key::Token(id));
        true
    }

    pub(super) fn create_token(&mut self, token: &Token, dirty: &mut Dirty) -> Outcome {
        if !self.owner_exists(&token.owner) {
            return Outcome::NotFound("Token owner does not exist".into());
        }
        Outcome::Created(vec![self.insert_token(token, dirty)])
    }

    pub(super) fn delete_token(&mut self, id: u64, dirty: &mut Dirty) -> Outcome {
        if self.remove_token(id, dirty) {
            Outcome::Ok
        } else {
            Outcome::NotFound(format!("No such token: a{id}"))
        }
    }

    pub(super) fn delete_client_tokens(
        &mut self,
        owner: &Owner,
        client_id: &str,
        dirty: &mut Dirty,
    ) -> Outcome {
        let ids: Vec<u64> = self
            .tokens_of(owner)
            .into_iter()
            .filter(|t| t.client_id == client_id)
            .map(|t| t.id)
            .collect();
        for id in ids {
            self.remove_token(id, dirty);
        }
        Outcome::Ok
    }

    pub(super) fn revoke_session(&mut self, session_id: &str, dirty: &mut Dirty) -> Outcome {
        let ids = self
            .tokens_by_session
            .get(session_id)
            .cloned()
            .unwrap_or_default();
        for id in ids {
            self.remove_token(id, dirty);
        }
        Outcome::Ok
    }

    /// Expiry uses the proposer's `now` carried in the log, never a local clock.
    pub(super) fn purge_expired(&mut self, now: Ts, dirty: &mut Dirty) -> Outcome {
        let expired: Vec<u64> = self
            .tokens
            .values()
            .filter(|t| t.expires_at.is_some_and(|e| e < now))
            .map(|t| t.id)
            .collect();
        for id in expired {
            self.remove_token(id, dirty);
        }
        let codes: Vec<String> = self
            .oauth_codes
            .values()
            .filter(|c| c.expires_at < now)
            .map(|c| c.code_hash.clone())
            .collect();
        for c in codes {
            self.oauth_codes.remove(&c);
            dirty.insert(Key::OAuthCode(c));
        }
        self.purge_expired_share_codes(now, dirty);
        Outcome::Ok
    }

    pub(super) fn put_oauth_client(&mut self, client: &OAuthClient, dirty: &mut Dirty) -> Outcome {
        self.oauth_clients.insert(client.id.clone(), client.clone());
        dirty.insert(Key::OAuthClient(client.id.clone()));
        Outcome::Ok
    }

    /// Deleting a client revokes what it issued: its tokens and pending codes.
    pub(super) fn delete_oauth_client(&mut self, id: &str, dirty: &mut Dirty) -> Outcome {
        if self.oauth_clients.remove(id).is_none() {
            return Outcome::NotFound(format!("No such client: {id}"));
        }
        dirty.insert(Key::OAuthClient(id.to_string()));
        let tokens: Vec<u64> = self
            .tokens
            .values()
            .filter(|t| t.client_id == id)
            .map(|t| t.id)
            .collect();
        for t in tokens {
            self.remove_token(t, dirty);
        }
        let codes: Vec<String> = self
            .oauth_codes
            .values()
            .filter(|c| c.client_id == id)
            .map(|c| c.code_hash.clone())
            .collect();
        for c in codes {
            self.oauth_codes.remove(&c);
            dirty.insert(Key::OAuthCode(c));
        }
        Outcome::Ok
    }

    pub(super) fn create_oauth_code(&mut self, code: &OAuthCode, dirty: &mut Dirty) -> Outcome {
        if !self.oauth_clients.contains_key(&code.client_id) {
            return Outcome::NotFound(format!("No such client: {}", code.client_id));
        }
        if !self.users.contains_key(&code.user_id) {
            return Outcome::NotFound("No such user".into());
        }
        self.oauth_codes
            .insert(code.code_hash.clone(), code.clone());
        dirty.insert(Key::OAuthCode(code.code_hash.clone()));
        Outcome::Ok
    }

    /// Single use even under races: the first exchange that commits deletes the code; any
    /// other exchange of the same code, on any replica, finds it gone.
    pub(super) fn exchange_oauth_code(
        &mut self,
        code_hash: &str,
        token: &Token,
        now: Ts,
        dirty: &mut Dirty,
    ) -> Outcome {
        let Some(code) = self.oauth_codes.remove(code_hash) else {
            return Outcome::NotFound("invalid_grant".into());
        };
        dirty.insert(Key::OAuthCode(code_hash.to_string()));
        if code.expires_at < now || !self.users.contains_key(&code.user_id) {
            return Outcome::NotFound("invalid_grant".into());
        }
        Outcome::Created(vec![self.insert_token(token, dirty)])
    }
}
