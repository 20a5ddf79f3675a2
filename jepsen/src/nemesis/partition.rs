//! Partition shapes as pure functions from a node order to the links to cut (Jepsen's
//! "grudges"). Callers shuffle the nodes first, so every run cuts different links.

use std::collections::BTreeSet;

/// An unordered pair of nodes whose link is cut (both directions).
pub type Cut = (u64, u64);

fn pair(a: u64, b: u64) -> Cut {
    (a.min(b), a.max(b))
}

/// Cuts every link between nodes of different groups.
pub fn between(groups: &[Vec<u64>]) -> Vec<Cut> {
    let mut cuts = BTreeSet::new();
    for (i, g) in groups.iter().enumerate() {
        for h in &groups[i + 1..] {
            for &a in g {
                for &b in h {
                    cuts.insert(pair(a, b));
                }
            }
        }
    }
    cuts.into_iter().collect()
}

/// Two halves: the first `n/2` nodes (a minority) against the rest (a majority).
pub fn halves(order: &[u64]) -> Vec<Vec<u64>> {
    let (minority, majority) = order.split_at(order.len() / 2);
    vec![minority.to_vec(), majority.to_vec()]
}

/// One node alone against everyone else.
pub fn isolate(order: &[u64], node: u64) -> Vec<Vec<u64>> {
    let rest = order.iter().copied().filter(|&n| n != node).collect();
    vec![vec![node], rest]
}

/// Majorities ring: nodes on a ring see only their ring neighbours, each node sees a
/// majority, and no two nodes see the same majority. With three nodes a ring cannot cut
/// anything, so it degenerates to a bridge (a line: both ends see the middle).
pub fn majorities_ring(order: &[u64]) -> Vec<Cut> {
    let n = order.len();
    if n <= 3 {
        return bridge(order);
    }
    let k = (n / 2).div_ceil(2);
    let mut cuts = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            let d = (j - i).min(n - (j - i));
            if d > k {
                cuts.push(pair(order[i], order[j]));
            }
        }
    }
    cuts.sort_unstable();
    cuts
}

/// Bridge: two halves that cannot talk, and one node in the middle that talks to both.
pub fn bridge(order: &[u64]) -> Vec<Cut> {
    let n = order.len();
    if n < 3 {
        return Vec::new();
    }
    let left = &order[..(n - 1) / 2];
    let right = &order[(n - 1) / 2 + 1..];
    between(&[left.to_vec(), right.to_vec()])
}

/// Nodes `node` can still reach (itself included) under `cuts`.
pub fn reachable(order: &[u64], cuts: &[Cut], node: u64) -> Vec<u64> {
    order
        .iter()
        .copied()
        .filter(|&m| m == node || !cuts.contains(&pair(node, m)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE: [u64; 5] = [3, 1, 5, 2, 4];

    #[test]
    fn halves_leave_a_majority_on_one_side() {
        let g = halves(&FIVE);
        assert_eq!(g, vec![vec![3, 1], vec![5, 2, 4]]);
        assert_eq!(between(&g).len(), 6);
        let g = halves(&[1, 2, 3]);
        assert_eq!(g, vec![vec![1], vec![2, 3]]);
        assert_eq!(between(&g), vec![(1, 2), (1, 3)]);
    }

    #[test]
    fn isolate_cuts_every_link_of_one_node() {
        assert_eq!(
            between(&isolate(&FIVE, 2)),
            vec![(1, 2), (2, 3), (2, 4), (2, 5)]
        );
    }

    #[test]
    fn ring_gives_every_node_a_distinct_majority() {
        let cuts = majorities_ring(&FIVE);
        assert!(!cuts.is_empty());
        let mut seen = BTreeSet::new();
        for &n in &FIVE {
            let r = reachable(&FIVE, &cuts, n);
            assert_eq!(r.len(), 3, "node {n} sees {r:?}");
            let mut key = r.clone();
            key.sort_unstable();
            assert!(seen.insert(key), "two nodes see the same majority");
        }
    }

    #[test]
    fn bridge_node_sees_everyone_the_ends_see_a_majority() {
        let cuts = bridge(&FIVE);
        assert_eq!(reachable(&FIVE, &cuts, 5).len(), 5, "the bridge");
        for n in [3, 1, 2, 4] {
            assert_eq!(reachable(&FIVE, &cuts, n).len(), 3);
        }
        let three = [2, 3, 1];
        let cuts = majorities_ring(&three);
        assert_eq!(cuts, vec![(1, 2)]);
        assert_eq!(reachable(&three, &cuts, 3).len(), 3);
    }
}
