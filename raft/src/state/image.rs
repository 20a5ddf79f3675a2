//! How the state is written down: a whole-state [`Image`] of keyed rows, for snapshots (and
//! the sled rows of data dirs from before 2026-12, read once to convert them).
//!
//! Rows are MessagePack with field names (`rmp_serde::to_vec_named`), so adding a field with
//! `#[serde(default)]` keeps old data readable across a rolling upgrade.

use serde::{Deserialize, Serialize};

use super::dedup::{DedupBucket, DedupEntry};
use super::{model::*, Dedup, HubState};
use crate::types::{LogId, StoredMembership};

/// A persisted row of the state machine. Ordered so a batch is written in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// Last applied log id and membership.
    Meta,
    Config,
    Counters,
    User(u64),
    Group(u64),
    Role(String),
    Service(String),
    Token(u64),
    OAuthClient(String),
    OAuthCode(String),
    Route(String),
    /// A bucket of the request-id table (`seq / dedup::BUCKET`).
    Dedup(u64),
}

/// Key byte prefixes. One tree holds all rows so a batch is atomic across tables.
pub(super) const P_META: u8 = b'M';
pub(super) const P_CONFIG: u8 = b'C';
pub(super) const P_COUNTERS: u8 = b'N';
pub(super) const P_USER: u8 = b'u';
pub(super) const P_GROUP: u8 = b'g';
pub(super) const P_ROLE: u8 = b'r';
pub(super) const P_SERVICE: u8 = b's';
pub(super) const P_TOKEN: u8 = b't';
pub(super) const P_CLIENT: u8 = b'o';
pub(super) const P_CODE: u8 = b'c';
pub(super) const P_ROUTE: u8 = b'p';
pub(super) const P_DEDUP: u8 = b'd';

impl Key {
    pub fn encode(&self) -> Vec<u8> {
        fn with(p: u8, rest: &[u8]) -> Vec<u8> {
            let mut v = Vec::with_capacity(1 + rest.len());
            v.push(p);
            v.extend_from_slice(rest);
            v
        }
        match self {
            Key::Meta => vec![P_META],
            Key::Config => vec![P_CONFIG],
            Key::Counters => vec![P_COUNTERS],
            Key::User(id) => with(P_USER, &id.to_be_bytes()),
            Key::Group(id) => with(P_GROUP, &id.to_be_bytes()),
            Key::Role(n) => with(P_ROLE, n.as_bytes()),
            Key::Service(n) => with(P_SERVICE, n.as_bytes()),
            Key::Token(id) => with(P_TOKEN, &id.to_be_bytes()),
            Key::OAuthClient(n) => with(P_CLIENT, n.as_bytes()),
            Key::OAuthCode(n) => with(P_CODE, n.as_bytes()),
            Key::Route(n) => with(P_ROUTE, n.as_bytes()),
            Key::Dedup(id) => with(P_DEDUP, &id.to_be_bytes()),
        }
    }
}

/// Last applied log id and membership, persisted in the same batch as the rows they cover.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("corrupt row {key:?}: {source}")]
    Row {
        key: Vec<u8>,
        source: rmp_serde::decode::Error,
    },
    #[error("unknown row key prefix {0:?}")]
    UnknownKey(Vec<u8>),
}

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Serializing plain data structs into a Vec cannot fail.
    rmp_serde::to_vec_named(v).expect("messagepack encoding of a state row")
}

fn decode<T: for<'a> Deserialize<'a>>(key: &[u8], bytes: &[u8]) -> Result<T, DecodeError> {
    rmp_serde::from_slice(bytes).map_err(|source| DecodeError::Row {
        key: key.to_vec(),
        source,
    })
}

impl HubState {
    /// The encoded current value of a row, or `None` if the row no longer exists.
    pub fn encode_row(&self, key: &Key) -> Option<Vec<u8>> {
        match key {
            Key::Meta => Some(encode(&Meta {
                last_applied: self.last_applied,
                membership: self.membership.clone(),
            })),
            Key::Config => self.config.as_ref().map(encode),
            Key::Counters => Some(encode(&self.counters)),
            Key::User(id) => self.users.get(id).map(encode),
            Key::Group(id) => self.groups.get(id).map(encode),
            Key::Role(n) => self.roles.get(n).map(encode),
            Key::Service(n) => self.services.get(n).map(encode),
            Key::Token(id) => self.tokens.get(id).map(encode),
            Key::OAuthClient(n) => self.oauth_clients.get(n).map(encode),
            Key::OAuthCode(n) => self.oauth_codes.get(n).map(encode),
            Key::Route(n) => self.routes.get(n).map(encode),
            Key::Dedup(b) => self.dedup.bucket(*b).map(|b| encode(&b)),
        }
    }

    /// Rebuilds the state from persisted rows (any order). Indexes are rebuilt at the end.
    pub fn from_rows<I, K, V>(rows: I) -> Result<HubState, DecodeError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let mut s = HubState::default();
        let mut dedup = Vec::new();
        let mut legacy_dedup = false;
        for (k, v) in rows {
            let (k, v) = (k.as_ref(), v.as_ref());
            match k.first().copied() {
                Some(P_META) => {
                    let m: Meta = decode(k, v)?;
                    s.last_applied = m.last_applied;
                    s.membership = m.membership;
                }
                Some(P_CONFIG) => s.config = Some(decode(k, v)?),
                Some(P_COUNTERS) => s.counters = decode(k, v)?,
                Some(P_USER) => {
                    let u: User = decode(k, v)?;
                    s.users.insert(u.id, u);
                }
                Some(P_GROUP) => {
                    let g: Group = decode(k, v)?;
                    s.groups.insert(g.id, g);
                }
                Some(P_ROLE) => {
                    let r: Role = decode(k, v)?;
                    s.roles.insert(r.name.clone(), r);
                }
                Some(P_SERVICE) => {
                    let x: Service = decode(k, v)?;
                    s.services.insert(x.name.clone(), x);
                }
                Some(P_TOKEN) => {
                    let t: Token = decode(k, v)?;
                    s.tokens.insert(t.id, t);
                }
                Some(P_CLIENT) => {
                    let c: OAuthClient = decode(k, v)?;
                    s.oauth_clients.insert(c.id.clone(), c);
                }
                Some(P_CODE) => {
                    let c: OAuthCode = decode(k, v)?;
                    s.oauth_codes.insert(c.code_hash.clone(), c);
                }
                Some(P_ROUTE) => {
                    let r: Route = decode(k, v)?;
                    s.routes.insert(r.routespec.clone(), r);
                }
                Some(P_DEDUP) if k.len() == 9 => {
                    let b: DedupBucket = decode(k, v)?;
                    dedup.extend(b.entries);
                }
                Some(P_DEDUP) if k.len() == 17 => {
                    // One row per id, as written before buckets; read, then rewritten.
                    let mut id = [0u8; 16];
                    id.copy_from_slice(&k[1..]);
                    let e: DedupEntry = decode(k, v)?;
                    dedup.push((u128::from_be_bytes(id), e));
                    legacy_dedup = true;
                }
                _ => return Err(DecodeError::UnknownKey(k.to_vec())),
            }
        }
        s.dedup = Dedup::from_entries(dedup);
        s.dedup.legacy_rows = legacy_dedup;
        s.reindex();
        Ok(s)
    }

    /// The persisted tables without the derived indexes, for a snapshot image encoded outside
    /// the state lock. The big tables are persistent maps, so this is cheap whatever the user
    /// count: holding the lock for a whole encode stalled every apply (about 200 ms at 100,000
    /// users).
    pub fn persisted_copy(&self) -> HubState {
        HubState {
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            config: self.config.clone(),
            counters: self.counters.clone(),
            users: self.users.clone(),
            groups: self.groups.clone(),
            roles: self.roles.clone(),
            services: self.services.clone(),
            tokens: self.tokens.clone(),
            oauth_clients: self.oauth_clients.clone(),
            oauth_codes: self.oauth_codes.clone(),
            routes: self.routes.clone(),
            dedup: self.dedup.clone(),
            ..HubState::default()
        }
    }

    /// Whether the persisted rows are in an older layout and must be rewritten from this state.
    pub fn rows_need_rewrite(&self) -> bool {
        self.dedup.legacy_rows
    }

    /// Every row of the state, for a full rewrite after a snapshot install.
    pub fn all_rows(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut keys = vec![Key::Meta, Key::Counters];
        if self.config.is_some() {
            keys.push(Key::Config);
        }
        keys.extend(self.users.keys().map(|id| Key::User(*id)));
        keys.extend(self.groups.keys().map(|id| Key::Group(*id)));
        keys.extend(self.roles.keys().map(|n| Key::Role(n.clone())));
        keys.extend(self.services.keys().map(|n| Key::Service(n.clone())));
        keys.extend(self.tokens.keys().map(|id| Key::Token(*id)));
        keys.extend(
            self.oauth_clients
                .keys()
                .map(|n| Key::OAuthClient(n.clone())),
        );
        keys.extend(self.oauth_codes.keys().map(|n| Key::OAuthCode(n.clone())));
        keys.extend(self.routes.keys().map(|n| Key::Route(n.clone())));
        keys.extend(self.dedup.buckets().map(Key::Dedup));
        keys.into_iter()
            .filter_map(|k| self.encode_row(&k).map(|v| (k.encode(), v)))
            .collect()
    }
}

/// A whole-state image: the payload of a snapshot file. It is simply every row, so loading a
/// snapshot and loading sled share one decoder.
#[derive(Debug, Serialize, Deserialize)]
pub struct Image {
    pub rows: Vec<(serde_bytes_vec::Bytes, serde_bytes_vec::Bytes)>,
}

/// Byte strings as MessagePack `bin` rather than arrays of integers (4× smaller snapshots).
pub mod serde_bytes_vec {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Bytes(pub Vec<u8>);

    impl Serialize for Bytes {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }
    impl<'de> Deserialize<'de> for Bytes {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Bytes;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                    Ok(Bytes(v.to_vec()))
                }
                fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Bytes, E> {
                    Ok(Bytes(v))
                }
            }
            d.deserialize_byte_buf(V)
        }
    }
}

impl Image {
    pub fn of(state: &HubState) -> Image {
        Image {
            rows: state
                .all_rows()
                .into_iter()
                .map(|(k, v)| (serde_bytes_vec::Bytes(k), serde_bytes_vec::Bytes(v)))
                .collect(),
        }
    }

    pub fn into_state(self) -> Result<HubState, DecodeError> {
        HubState::from_rows(self.rows.into_iter().map(|(k, v)| (k.0, v.0)))
    }
}
