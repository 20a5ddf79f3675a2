//! Fault injection for in-process cluster tests: cut links and drop requests at the sender.
//!
//! Real partitions are tested with iptables against real processes (`jepsen/`); this hook lets
//! the in-process tests partition a cluster that lives in one test process, where every node
//! shares 127.0.0.1. A cut link behaves like a DROP rule: the request hangs until a short
//! timeout and then fails as unreachable.

use std::collections::HashSet;
use std::time::Duration;

use parking_lot::Mutex;

#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Directed links (from cluster addr, to cluster addr) that drop everything.
    cut: HashSet<(String, String)>,
    /// Probability of dropping any request.
    drop: f64,
}

/// What happens to one request.
pub enum Verdict {
    Deliver,
    /// Drop it, after this much hanging.
    Drop(Duration),
}

impl Faults {
    /// Splits the nodes into groups; links between groups are cut both ways.
    pub fn partition(&self, groups: &[Vec<String>]) {
        let mut s = self.inner.lock();
        s.cut.clear();
        for (i, a) in groups.iter().enumerate() {
            for (j, b) in groups.iter().enumerate() {
                if i == j {
                    continue;
                }
                for x in a {
                    for y in b {
                        s.cut.insert((x.clone(), y.clone()));
                    }
                }
            }
        }
    }

    /// Cuts one direction only (asymmetric partition).
    pub fn cut_one_way(&self, from: &str, to: &str) {
        self.inner
            .lock()
            .cut
            .insert((from.to_string(), to.to_string()));
    }

    pub fn set_drop_probability(&self, p: f64) {
        self.inner.lock().drop = p.clamp(0.0, 1.0);
    }

    pub fn heal(&self) {
        let mut s = self.inner.lock();
        s.cut.clear();
        s.drop = 0.0;
    }

    pub fn verdict(&self, from: &str, to: &str, timeout: Duration) -> Verdict {
        let s = self.inner.lock();
        let hang = timeout.min(Duration::from_millis(200));
        if s.cut.contains(&(from.to_string(), to.to_string())) {
            return Verdict::Drop(hang);
        }
        if s.drop > 0.0 && rand::random::<f64>() < s.drop {
            return Verdict::Drop(hang);
        }
        Verdict::Deliver
    }
}
