//! The nemesis timeline: quiet period, fault, heal, repeated until the deadline.
//!
//! `Fixed` cycles through the enabled faults in order with exact durations; `Random` picks
//! a fault at random and jitters both periods by ±50%. With `combine`, each fault is paired
//! with a second, different one injected at the same time (never two membership changes).
//! Every window is recorded in the history from the moment the fault hit until the heal
//! completed.

use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use tokio::time::{sleep_until, Instant};

use super::{Kind, Nemesis};
use crate::history::NemesisWindow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Fixed,
    Random,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub kinds: Vec<Kind>,
    pub mode: Mode,
    /// Healthy time between faults.
    pub interval: Duration,
    /// How long each fault lasts.
    pub duration: Duration,
    pub combine: bool,
}

impl Schedule {
    fn jitter(&self, d: Duration, rng: &mut impl Rng) -> Duration {
        match self.mode {
            Mode::Fixed => d,
            Mode::Random => d.mul_f64(rng.gen_range(0.5..1.5)),
        }
    }

    /// The faults of cycle `i`.
    pub fn pick(&self, i: usize, rng: &mut impl Rng) -> Vec<Kind> {
        if self.kinds.is_empty() {
            return Vec::new();
        }
        let first = match self.mode {
            Mode::Fixed => self.kinds[i % self.kinds.len()],
            Mode::Random => *self.kinds.choose(rng).expect("non-empty"),
        };
        let mut out = vec![first];
        if self.combine {
            let others: Vec<Kind> = self
                .kinds
                .iter()
                .copied()
                .filter(|k| *k != first && !(first == Kind::Membership || *k == Kind::Membership))
                .collect();
            if let Some(k) = others.choose(rng) {
                out.push(*k);
            }
        }
        out
    }
}

fn log(nem: &Nemesis, msg: &str) {
    println!("[nemesis {:7.1}s] {msg}", nem.recorder.now() as f64 / 1e9);
}

/// Runs the timeline until `deadline`, then heals. Errors while injecting are logged and
/// the run goes on (the fault just did not happen); an error while healing is returned.
pub async fn run(nem: &mut Nemesis, sched: &Schedule, deadline: Instant) -> anyhow::Result<usize> {
    let mut cycles = 0;
    loop {
        let quiet = sched.jitter(sched.interval, &mut nem.rng);
        let fault = sched.jitter(sched.duration, &mut nem.rng);
        if Instant::now() + quiet + fault / 2 > deadline {
            break;
        }
        sleep_until(Instant::now() + quiet).await;
        let kinds = sched.pick(cycles, &mut nem.rng);
        if kinds.is_empty() {
            break;
        }
        let mut injected = Vec::new();
        for k in &kinds {
            match nem.inject(*k).await {
                Ok(i) => {
                    log(nem, &format!("{}: {}", k.name(), i.description));
                    injected.push((*k, i));
                }
                Err(e) => log(nem, &format!("{}: not injected: {e:#}", k.name())),
            }
        }
        sleep_until((Instant::now() + fault).min(deadline)).await;
        nem.heal().await?;
        let end = nem.recorder.now();
        log(nem, "healed");
        if let Some(start) = injected.iter().map(|(_, i)| i.at_ns).min() {
            let kind = injected
                .iter()
                .map(|(k, _)| k.name())
                .collect::<Vec<_>>()
                .join("+");
            let description = injected
                .iter()
                .map(|(_, i)| i.description.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            let mut nodes: Vec<u64> = injected
                .iter()
                .flat_map(|(_, i)| i.nodes.iter().copied())
                .collect();
            nodes.sort_unstable();
            nodes.dedup();
            nem.recorder.nemesis(NemesisWindow {
                kind,
                description,
                nodes,
                start_ns: start,
                end_ns: end,
            });
        }
        cycles += 1;
    }
    nem.heal().await?;
    Ok(cycles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn fixed_cycles_in_order_and_combine_never_pairs_membership() {
        let kinds = vec![Kind::Kill, Kind::Pause, Kind::Membership];
        let mut s = Schedule {
            kinds,
            mode: Mode::Fixed,
            interval: Duration::from_secs(1),
            duration: Duration::from_secs(1),
            combine: false,
        };
        let mut rng = StdRng::seed_from_u64(1);
        let names: Vec<_> = (0..4).map(|i| s.pick(i, &mut rng)[0]).collect();
        assert_eq!(
            names,
            vec![Kind::Kill, Kind::Pause, Kind::Membership, Kind::Kill]
        );
        s.combine = true;
        for i in 0..50 {
            let p = s.pick(i, &mut rng);
            if p.contains(&Kind::Membership) {
                assert_eq!(p.len(), 1);
            } else {
                assert_eq!(p.len(), 2);
                assert_ne!(p[0], p[1]);
            }
        }
    }

    #[test]
    fn parse_groups_and_reject_unknown() {
        let k = Kind::parse_list("kill,partition,kill").expect("parse");
        assert_eq!(k.len(), 5);
        assert_eq!(Kind::parse_list("all").expect("all").len(), Kind::ALL.len());
        assert!(Kind::parse_list("explode").is_err());
    }
}
