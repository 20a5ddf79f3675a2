//! Port reservations of the local-process spawner.
//!
//! A port is chosen when the spawn is accepted but bound only when the server process has
//! started, which can be many seconds later under a spawn storm. Probing with `bind()` alone
//! lets two concurrent spawns pick the same free port (with 200 spawns over 10 000 ports a
//! collision is more likely than not), and the loser dies at startup. The book remembers
//! every port handed out until the server must have bound it (start plus HTTP timeout).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Ports handed out recently, with the time each reservation lapses.
#[derive(Debug, Default)]
pub struct PortBook {
    held: HashMap<u16, Instant>,
}

impl PortBook {
    /// Picks a port in `lo..=hi` that is neither held nor refused by `free` (a bind probe),
    /// trying up to 200 candidates from `rng`, and holds it for `ttl`. Falls back to `lo`
    /// when none is found, so the spawn fails with the server's own bind error.
    pub fn pick(
        &mut self,
        now: Instant,
        [lo, hi]: [u16; 2],
        ttl: Duration,
        mut rng: impl FnMut() -> u32,
        free: impl Fn(u16) -> bool,
    ) -> u16 {
        self.held.retain(|_, until| *until > now);
        let span = u32::from(hi - lo) + 1;
        let chosen = (0..200)
            .map(|_| lo + (rng() % span) as u16)
            .find(|p| !self.held.contains_key(p) && free(*p))
            .unwrap_or(lo);
        self.held.insert(chosen, now + ttl);
        chosen
    }

    /// Ports currently held.
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(values: &[u32]) -> impl FnMut() -> u32 + '_ {
        let mut i = 0;
        move || {
            let v = values[i % values.len()];
            i += 1;
            v
        }
    }

    #[test]
    fn a_held_port_is_not_handed_out_again_until_it_lapses() {
        let mut book = PortBook::default();
        let t0 = Instant::now();
        let ttl = Duration::from_secs(45);
        // The generator keeps proposing offset 5 first: the second pick must skip it.
        assert_eq!(book.pick(t0, [100, 109], ttl, seq(&[5]), |_| true), 105);
        assert_eq!(book.pick(t0, [100, 109], ttl, seq(&[5, 7]), |_| true), 107);
        assert_eq!(book.held(), 2);
        // After the TTL both lapse and 105 can be handed out again.
        let later = t0 + ttl + Duration::from_secs(1);
        assert_eq!(book.pick(later, [100, 109], ttl, seq(&[5]), |_| true), 105);
        assert_eq!(book.held(), 1);
    }

    #[test]
    fn ports_refused_by_the_probe_are_skipped() {
        let mut book = PortBook::default();
        let t0 = Instant::now();
        let p = book.pick(
            t0,
            [100, 109],
            Duration::from_secs(1),
            seq(&[0, 1, 2]),
            |p| p == 102,
        );
        assert_eq!(p, 102);
    }

    #[test]
    fn a_storm_of_picks_gets_distinct_ports() {
        let mut book = PortBook::default();
        let t0 = Instant::now();
        let mut state = 12345u32;
        let mut rng = move || {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            state >> 8
        };
        let ttl = Duration::from_secs(60);
        let picks: Vec<u16> = (0..200)
            .map(|_| book.pick(t0, [30000, 39999], ttl, &mut rng, |_| true))
            .collect();
        let mut distinct = picks.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), picks.len());
    }

    #[test]
    fn an_exhausted_range_falls_back_to_the_low_end() {
        let mut book = PortBook::default();
        let t0 = Instant::now();
        assert_eq!(
            book.pick(t0, [100, 100], Duration::from_secs(1), seq(&[0]), |_| false),
            100
        );
    }
}
