//! Per-path-segment longest-prefix trie (CHP's `URLTrie`), persistent.
//!
//! Nodes are shared through `Arc` and copied on write (`Arc::make_mut`), so
//! cloning a trie is O(1) and an update copies only the nodes on its path.
//! That lets the route table publish an immutable snapshot per change while
//! readers keep using the old one without any lock.

use std::collections::HashMap;
use std::sync::Arc;

/// A trie keyed by path segments; the root (no segments) is the `/` route.
#[derive(Debug)]
pub struct Trie<V> {
    root: Arc<Node<V>>,
    len: usize,
}

impl<V> Clone for Trie<V> {
    fn clone(&self) -> Self {
        Trie {
            root: Arc::clone(&self.root),
            len: self.len,
        }
    }
}

#[derive(Debug, Clone)]
struct Node<V> {
    value: Option<V>,
    children: HashMap<Box<str>, Arc<Node<V>>>,
}

impl<V> Default for Node<V> {
    fn default() -> Self {
        Node {
            value: None,
            children: HashMap::new(),
        }
    }
}

impl<V: Clone> Default for Trie<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Clone> Trie<V> {
    pub fn new() -> Self {
        Trie {
            root: Arc::new(Node::default()),
            len: 0,
        }
    }

    /// Number of stored values.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Store `value` at exactly `path`; returns the value it replaced.
    pub fn insert<S: AsRef<str>>(&mut self, path: &[S], value: V) -> Option<V> {
        let mut node = Arc::make_mut(&mut self.root);
        for seg in path {
            let child = node.children.entry(seg.as_ref().into()).or_default();
            node = Arc::make_mut(child);
        }
        let old = node.value.replace(value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Remove the value at exactly `path`, pruning nodes left empty.
    pub fn remove<S: AsRef<str>>(&mut self, path: &[S]) -> Option<V> {
        // Check first, so a miss does not copy shared nodes.
        self.get(path)?;
        let old = remove_at(Arc::make_mut(&mut self.root), path);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// The value stored at exactly `path`.
    pub fn get<S: AsRef<str>>(&self, path: &[S]) -> Option<&V> {
        let mut node = &*self.root;
        for seg in path {
            node = node.children.get(seg.as_ref())?;
        }
        node.value.as_ref()
    }

    /// Longest stored prefix of `path`: `(number of segments matched, value)`.
    pub fn longest_prefix<S: AsRef<str>>(&self, path: &[S]) -> Option<(usize, &V)> {
        let mut node = &*self.root;
        let mut best = node.value.as_ref().map(|v| (0, v));
        for (depth, seg) in path.iter().enumerate() {
            match node.children.get(seg.as_ref()) {
                Some(child) => node = child,
                None => break,
            }
            if let Some(v) = node.value.as_ref() {
                best = Some((depth + 1, v));
            }
        }
        best
    }

    /// All stored values, in no particular order.
    pub fn values(&self) -> Vec<&V> {
        let mut out = Vec::with_capacity(self.len);
        let mut stack = vec![&*self.root];
        while let Some(node) = stack.pop() {
            out.extend(node.value.as_ref());
            stack.extend(node.children.values().map(|c| &**c));
        }
        out
    }
}

fn remove_at<V: Clone, S: AsRef<str>>(node: &mut Node<V>, path: &[S]) -> Option<V> {
    let Some((first, rest)) = path.split_first() else {
        return node.value.take();
    };
    let child = node.children.get_mut(first.as_ref())?;
    let child_node = Arc::make_mut(child);
    let old = remove_at(child_node, rest);
    if child_node.value.is_none() && child_node.children.is_empty() {
        node.children.remove(first.as_ref());
    }
    old
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::{request_segments, spec_segments};

    fn trie(specs: &[&'static str]) -> Trie<&'static str> {
        let mut t = Trie::new();
        for s in specs {
            t.insert(&spec_segments(s), *s);
        }
        t
    }

    fn lookup(t: &Trie<&'static str>, path: &str) -> Option<&'static str> {
        t.longest_prefix(&request_segments(path)).map(|(_, v)| *v)
    }

    #[test]
    fn longest_prefix_table() {
        let t = trie(&[
            "/",
            "/user/alice",
            "/user/alice/gpu",
            "/user/bob",
            "/services/x",
        ]);
        let cases = [
            ("/", Some("/")),
            ("/hub/login", Some("/")),
            ("/user/alice", Some("/user/alice")),
            ("/user/alice/", Some("/user/alice")),
            ("/user/alice/api/x", Some("/user/alice")),
            ("/user/alice2/", Some("/")),
            ("/user/alicex/api", Some("/")),
            ("/user/alice/gpu/lab", Some("/user/alice/gpu")),
            ("/user/alice/gpux", Some("/user/alice")),
            ("/user/", Some("/")),
            ("/user//alice/", Some("/")),
            ("/user/bob/tree?x=1", Some("/user/bob")),
            ("/services/x/y", Some("/services/x")),
            ("/user/al%69ce/x", Some("/user/alice")),
            ("/user/alice%2Fx/y", Some("/")),
        ];
        for (path, want) in cases {
            assert_eq!(lookup(&t, path), want, "path {path}");
        }
    }

    #[test]
    fn no_default_route_means_no_match() {
        let t = trie(&["/user/alice"]);
        assert_eq!(lookup(&t, "/hub/"), None);
        assert_eq!(lookup(&t, "/user/alice/x"), Some("/user/alice"));
    }

    #[test]
    fn intermediate_nodes_are_not_routes() {
        let t = trie(&["/", "/a/b/c"]);
        assert_eq!(lookup(&t, "/a/b/x"), Some("/"));
        assert_eq!(
            t.longest_prefix(&["a", "b", "c", "d"]).map(|(d, _)| d),
            Some(3)
        );
    }

    #[test]
    fn insert_replace_remove_and_prune() {
        let mut t = trie(&["/", "/a/b"]);
        assert_eq!(t.len(), 2);
        assert_eq!(t.insert(&["a", "b"], "/a/b2"), Some("/a/b"));
        assert_eq!(t.len(), 2);
        assert_eq!(t.remove(&["a"]), None);
        assert_eq!(t.remove(&["a", "b"]), Some("/a/b2"));
        assert_eq!(t.len(), 1);
        assert!(t.root.children.is_empty(), "empty branch pruned");
        assert_eq!(t.remove(&[] as &[&str]), Some("/"));
        assert!(t.is_empty());
    }

    #[test]
    fn clones_are_independent_snapshots() {
        let a = trie(&["/", "/user/alice"]);
        let mut b = a.clone();
        b.remove(&["user", "alice"]);
        b.insert(&["user", "bob"], "/user/bob");
        assert_eq!(lookup(&a, "/user/alice/x"), Some("/user/alice"));
        assert_eq!(lookup(&a, "/user/bob/x"), Some("/"));
        assert_eq!(lookup(&b, "/user/alice/x"), Some("/"));
        assert_eq!(lookup(&b, "/user/bob/x"), Some("/user/bob"));
        let mut all = b.values();
        all.sort();
        assert_eq!(all, [&"/", &"/user/bob"]);
    }
}
