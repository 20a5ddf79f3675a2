//! A user's servers by name: a sorted `Vec` with exact capacity, not a `BTreeMap`.
//!
//! Nearly every user has one server row (the default server, `""`), and a `BTreeMap` node has
//! room for eleven: with a 288-byte `Server` that was ~3.4 KiB per user, the largest cost of a
//! user in memory (a replica with 100,000 users held ~350 MiB of empty slots). A sorted `Vec`
//! keeps the same order and lookups by binary search. On the wire it is a map, as before.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::model::Server;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerMap(Vec<(String, Server)>);

impl ServerMap {
    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&Server> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Server> {
        self.find(name).ok().map(|i| &mut self.0[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Inserts or replaces; returns the replaced row.
    pub fn insert(&mut self, name: String, server: Server) -> Option<Server> {
        match self.find(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, server)),
            Err(i) => {
                // Exact growth: one more slot, not the doubling a `Vec` does by default.
                self.0.reserve_exact(1);
                self.0.insert(i, (name, server));
                None
            }
        }
    }

    /// The row named `name`, inserted from `make` first if absent.
    pub fn get_or_insert_with(&mut self, name: &str, make: impl FnOnce() -> Server) -> &mut Server {
        let i = match self.find(name) {
            Ok(i) => i,
            Err(i) => {
                self.0.reserve_exact(1);
                self.0.insert(i, (name.to_owned(), make()));
                i
            }
        };
        &mut self.0[i].1
    }

    pub fn remove(&mut self, name: &str) -> Option<Server> {
        let i = self.find(name).ok()?;
        let (_, s) = self.0.remove(i);
        self.0.shrink_to_fit();
        Some(s)
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> + '_ {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &Server> + '_ {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Server> + '_ {
        self.0.iter_mut().map(|(_, v)| v)
    }

    /// By name, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Server)> + '_ {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(String, Server)> for ServerMap {
    fn from_iter<I: IntoIterator<Item = (String, Server)>>(iter: I) -> Self {
        // Through a BTreeMap: sorted, last duplicate wins (as `BTreeMap::from_iter`).
        let sorted: BTreeMap<String, Server> = iter.into_iter().collect();
        let mut v = Vec::with_capacity(sorted.len());
        v.extend(sorted);
        ServerMap(v)
    }
}

impl<const N: usize> From<[(String, Server); N]> for ServerMap {
    fn from(a: [(String, Server); N]) -> Self {
        a.into_iter().collect()
    }
}

/// As `BTreeMap`'s: panics when there is no server of that name.
impl std::ops::Index<&str> for ServerMap {
    type Output = Server;
    fn index(&self, name: &str) -> &Server {
        self.get(name).expect("no server of that name")
    }
}

impl<'a> IntoIterator for &'a ServerMap {
    type Item = (&'a String, &'a Server);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Server)>,
        fn(&'a (String, Server)) -> (&'a String, &'a Server),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl Serialize for ServerMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for ServerMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::<String, Server>::deserialize(d).map(|m| m.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(n: &str) -> Server {
        Server {
            name: n.to_owned(),
            ..Server::default()
        }
    }

    #[test]
    fn behaves_as_a_sorted_map_with_exact_capacity_and_the_same_wire_form() {
        let mut m = ServerMap::from([(String::new(), named(""))]);
        assert_eq!(m.0.capacity(), 1, "one default server, one slot");
        for n in ["b", "a", "c"] {
            assert!(m.insert(n.to_owned(), named(n)).is_none());
        }
        assert_eq!(m.0.capacity(), 4);
        assert!(m.insert("a".into(), named("a2")).is_some());
        assert_eq!(
            m.keys().map(String::as_str).collect::<Vec<_>>(),
            ["", "a", "b", "c"]
        );
        assert_eq!(m.get("a").map(|s| s.name.as_str()), Some("a2"));
        m.get_or_insert_with("d", || named("d")).generation = 7;
        m.get_or_insert_with("d", || unreachable!()).generation += 1;
        assert_eq!(m.get("d").map(|s| s.generation), Some(8));
        assert_eq!(m.remove("b").map(|s| s.name), Some("b".to_owned()));
        assert!(!m.contains_key("b") && m.len() == 4);
        // Same MessagePack as the BTreeMap it replaced, both ways.
        let old: BTreeMap<String, Server> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let packed = rmp_serde::to_vec_named(&m).expect("encode");
        assert_eq!(packed, rmp_serde::to_vec_named(&old).expect("encode old"));
        let back: ServerMap = rmp_serde::from_slice(&packed).expect("decode");
        assert_eq!(back, m);
        assert_eq!(back.0.capacity(), back.len());
    }
}
