//! A string-keyed hash map in [`SHARDS`] parts, for the state's per-user indexes.
//!
//! A hash map doubles its table when it fills, rehashing every entry in one insert. In the
//! state that insert runs under the write lock, on every replica at the same log index: at
//! 229,376 users the two per-user indexes stalled all three replicas of a loaded cluster for
//! ~80 ms at once. Split in 256 maps, a growth rehashes 1/256 of the entries (well under a
//! millisecond at a million users), and the parts fill at slightly different moments.
//! Lookups stay one hash (plus one to pick the part) instead of a B-tree's dozen string
//! compares.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::HashMap;
use std::hash::BuildHasher;

/// Parts per map. Empty parts allocate nothing.
pub const SHARDS: usize = 256;

#[derive(Clone)]
pub struct ShardedMap<V> {
    /// Picks the part; each part hashes with its own keys again.
    pick: RandomState,
    parts: Box<[HashMap<String, V>]>,
}

impl<V> Default for ShardedMap<V> {
    fn default() -> Self {
        ShardedMap {
            pick: RandomState::new(),
            parts: (0..SHARDS).map(|_| HashMap::new()).collect(),
        }
    }
}

impl<V> ShardedMap<V> {
    fn part(&self, key: &str) -> usize {
        // The top bits: the low ones are what the parts' own tables index by (with other keys,
        // but there is no cost in keeping them apart).
        (self.pick.hash_one(key) >> 56) as usize % SHARDS
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        self.parts[self.part(key)].get(key)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let i = self.part(key);
        self.parts[i].get_mut(key)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        let i = self.part(&key);
        self.parts[i].insert(key, value)
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.part(key);
        self.parts[i].remove(key)
    }

    pub fn entry(&mut self, key: String) -> Entry<'_, String, V> {
        let i = self.part(&key);
        self.parts[i].entry(key)
    }

    pub fn clear(&mut self) {
        self.parts.iter_mut().for_each(HashMap::clear);
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> + '_ {
        self.parts.iter().flat_map(|p| p.iter())
    }

    #[cfg(test)]
    fn capacity_of_part(&self, key: &str) -> usize {
        self.parts[self.part(key)].capacity()
    }
}

impl<V> FromIterator<(String, V)> for ShardedMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        let mut m = ShardedMap::default();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

/// Sorted by key, so two maps with the same entries print the same.
impl<V: std::fmt::Debug> std::fmt::Debug for ShardedMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sorted: std::collections::BTreeMap<&String, &V> = self.iter().collect();
        sorted.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map() {
        let mut m = ShardedMap::default();
        assert_eq!(m.iter().count(), 0);
        for i in 0..5000u64 {
            assert_eq!(m.insert(format!("user-{i}"), i), None);
        }
        assert_eq!(m.iter().count(), 5000);
        assert_eq!(m.insert("user-7".into(), 70), Some(7));
        assert_eq!(m.get("user-7"), Some(&70));
        assert!(m.contains_key("user-4999"));
        assert!(!m.contains_key("user-5000"));
        *m.get_mut("user-1").expect("present") += 100;
        assert_eq!(m.get("user-1"), Some(&101));
        *m.entry("new".into()).or_default() += 3;
        assert_eq!(m.get("new"), Some(&3));
        assert_eq!(m.remove("user-2"), Some(2));
        assert_eq!(m.remove("user-2"), None);
        assert_eq!(m.iter().count(), 5000);
        let copy: ShardedMap<u64> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
        assert_eq!(format!("{copy:?}"), format!("{m:?}"));
        m.clear();
        assert!(m.iter().next().is_none() && m.get("user-3").is_none());
    }

    /// What the type is for: no single insert grows a table holding more than a small share
    /// of the entries (a plain map's last growth at this size rehashes all ~115,000).
    #[test]
    fn no_insert_rehashes_more_than_a_small_share() {
        let n = 200_000;
        let mut m = ShardedMap::default();
        let mut largest_growth = 0;
        for i in 0..n {
            let key = format!("user-{i}");
            let before = m.capacity_of_part(&key);
            m.insert(key.clone(), i);
            if m.capacity_of_part(&key) != before {
                largest_growth = largest_growth.max(before);
            }
        }
        assert!(largest_growth > 0);
        assert!(
            largest_growth <= 4 * n / SHARDS,
            "a growth moved {largest_growth} entries"
        );
    }
}
