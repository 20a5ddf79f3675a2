//! Nemeses: the faults, how each is injected into the real cluster, and how everything is
//! healed. [`schedule`] decides when.

pub mod partition;
pub mod schedule;

use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::cluster::config::NodeAddr;
use crate::cluster::Cluster;
use crate::history::Recorder;
use crate::net::ChaosNet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Kill,
    KillLeader,
    Pause,
    PauseLeader,
    PartitionHalves,
    PartitionLeader,
    PartitionRing,
    PartitionBridge,
    PacketDrop,
    Membership,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Kill,
        Kind::KillLeader,
        Kind::Pause,
        Kind::PauseLeader,
        Kind::PartitionHalves,
        Kind::PartitionLeader,
        Kind::PartitionRing,
        Kind::PartitionBridge,
        Kind::PacketDrop,
        Kind::Membership,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Kill => "kill",
            Kind::KillLeader => "kill-leader",
            Kind::Pause => "pause",
            Kind::PauseLeader => "pause-leader",
            Kind::PartitionHalves => "partition-halves",
            Kind::PartitionLeader => "partition-leader",
            Kind::PartitionRing => "partition-ring",
            Kind::PartitionBridge => "partition-bridge",
            Kind::PacketDrop => "packet-drop",
            Kind::Membership => "membership",
        }
    }

    /// Needs iptables (root).
    pub fn needs_net(self) -> bool {
        matches!(
            self,
            Kind::PartitionHalves
                | Kind::PartitionLeader
                | Kind::PartitionRing
                | Kind::PartitionBridge
                | Kind::PacketDrop
        )
    }

    /// Parses a comma-separated list. Groups: `partition` (all four shapes), `kills`
    /// (kill + kill-leader), `pauses`, `all`.
    pub fn parse_list(spec: &str) -> Result<Vec<Kind>, String> {
        let mut out = Vec::new();
        for word in spec.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let group: Vec<Kind> = match word {
                "all" => Kind::ALL.to_vec(),
                "partition" => vec![
                    Kind::PartitionHalves,
                    Kind::PartitionLeader,
                    Kind::PartitionRing,
                    Kind::PartitionBridge,
                ],
                "kills" => vec![Kind::Kill, Kind::KillLeader],
                "pauses" => vec![Kind::Pause, Kind::PauseLeader],
                w => vec![*Kind::ALL.iter().find(|k| k.name() == w).ok_or_else(|| {
                    let names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
                    format!(
                        "unknown nemesis {w:?}; known: {}, partition, kills, pauses, all",
                        names.join(", ")
                    )
                })?],
            };
            for k in group {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
        Ok(out)
    }
}

/// What an injection did.
#[derive(Debug, Clone)]
pub struct Injected {
    pub description: String,
    pub nodes: Vec<u64>,
    /// When the fault actually hit (after any leader lookup).
    pub at_ns: u64,
}

/// The nemesis owns the cluster and the chaos chain while the run is under way.
pub struct Nemesis {
    pub cluster: Cluster,
    pub net: Option<ChaosNet>,
    pub rng: StdRng,
    pub recorder: Recorder,
    /// Packet loss probability for `packet-drop`.
    pub drop_probability: f64,
}

impl Nemesis {
    fn running(&mut self) -> Vec<u64> {
        let mut live = Vec::new();
        for id in self.cluster.ids() {
            let n = self.cluster.node(id);
            if n.is_running() && !n.is_paused() && !self.cluster.removed.contains(&id) {
                live.push(id);
            }
        }
        live
    }

    fn pick(&mut self) -> anyhow::Result<u64> {
        let live = self.running();
        live.choose(&mut self.rng)
            .copied()
            .ok_or_else(|| anyhow::anyhow!("no live node to pick"))
    }

    /// The current leader if it is live, else a random live node (said so in the log).
    async fn leader_or_random(&mut self) -> anyhow::Result<(u64, &'static str)> {
        let live = self.running();
        match self.cluster.leader().await {
            Some(l) if live.contains(&l) => Ok((l, "leader")),
            _ => Ok((self.pick()?, "no known leader; random node")),
        }
    }

    fn shuffled(&mut self) -> Vec<u64> {
        let mut ids = self.cluster.ids();
        ids.shuffle(&mut self.rng);
        ids
    }

    fn cut(&mut self, cuts: &[partition::Cut]) -> anyhow::Result<()> {
        let net = self
            .net
            .as_mut()
            .ok_or_else(|| anyhow::anyhow!("partitions need root and iptables"))?;
        for &(a, b) in cuts {
            net.cut(NodeAddr::new(a).ip, NodeAddr::new(b).ip)
                .map_err(anyhow::Error::msg)?;
        }
        Ok(())
    }

    /// Injects one fault. It stays until [`Nemesis::heal`].
    pub async fn inject(&mut self, kind: Kind) -> anyhow::Result<Injected> {
        let rec = self.recorder.clone();
        let done = |description: String, nodes: Vec<u64>, at_ns: u64| Injected {
            description,
            nodes,
            at_ns,
        };
        Ok(match kind {
            Kind::Kill | Kind::KillLeader => {
                let (id, how) = if kind == Kind::Kill {
                    (self.pick()?, "random node")
                } else {
                    self.leader_or_random().await?
                };
                let at = rec.now();
                self.cluster.kill(id).await;
                done(format!("kill -9 node {id} ({how})"), vec![id], at)
            }
            Kind::Pause | Kind::PauseLeader => {
                let (id, how) = if kind == Kind::Pause {
                    (self.pick()?, "random node")
                } else {
                    self.leader_or_random().await?
                };
                let at = rec.now();
                self.cluster.pause(id)?;
                done(format!("SIGSTOP node {id} ({how})"), vec![id], at)
            }
            Kind::PartitionHalves => {
                let groups = partition::halves(&self.shuffled());
                let at = rec.now();
                self.cut(&partition::between(&groups))?;
                done(
                    format!("partition {:?} | {:?}", groups[0], groups[1]),
                    groups.concat(),
                    at,
                )
            }
            Kind::PartitionLeader => {
                let (id, how) = self.leader_or_random().await?;
                let groups = partition::isolate(&self.cluster.ids(), id);
                let at = rec.now();
                self.cut(&partition::between(&groups))?;
                done(format!("isolate node {id} ({how})"), vec![id], at)
            }
            Kind::PartitionRing | Kind::PartitionBridge => {
                let order = self.shuffled();
                let cuts = if kind == Kind::PartitionRing {
                    partition::majorities_ring(&order)
                } else {
                    partition::bridge(&order)
                };
                let at = rec.now();
                self.cut(&cuts)?;
                done(
                    format!("{} over ring order {order:?}: cut {cuts:?}", kind.name()),
                    order,
                    at,
                )
            }
            Kind::PacketDrop => {
                let p = self.drop_probability * self.rng.gen_range(0.5..1.5);
                let ids = self.cluster.ids();
                let net = self
                    .net
                    .as_mut()
                    .ok_or_else(|| anyhow::anyhow!("packet drop needs root and iptables"))?;
                let at = rec.now();
                for &a in &ids {
                    for &b in ids.iter().filter(|&&b| b != a) {
                        net.drop_randomly(NodeAddr::new(a).ip, NodeAddr::new(b).ip, p.min(0.9))
                            .map_err(anyhow::Error::msg)?;
                    }
                }
                done(
                    format!(
                        "drop {:.0}% of packets between all replicas",
                        p.min(0.9) * 100.0
                    ),
                    ids,
                    at,
                )
            }
            Kind::Membership => {
                let id = self.pick()?;
                let at = rec.now();
                self.cluster.remove_member(id).await?;
                // A removed member is stopped and its disk replaced, as an operator would.
                self.cluster.kill(id).await;
                self.cluster.node(id).wipe()?;
                done(
                    format!("remove node {id} from the cluster, stop it and wipe its data"),
                    vec![id],
                    at,
                )
            }
        })
    }

    /// Heals everything: network, paused and dead processes, removed members.
    pub async fn heal(&mut self) -> anyhow::Result<()> {
        if let Some(net) = self.net.as_mut() {
            net.heal().map_err(anyhow::Error::msg)?;
        }
        self.cluster.revive_all().await?;
        let removed: Vec<u64> = self.cluster.removed.iter().copied().collect();
        for id in removed {
            // The restarted, empty replica asks the leader to add it back (auto-join).
            if !self.cluster.wait_voter(id, Duration::from_secs(30)).await {
                eprintln!("[nemesis] node {id} did not auto-join; adding it explicitly");
                self.cluster.add_member(id).await?;
                anyhow::ensure!(
                    self.cluster.wait_voter(id, Duration::from_secs(30)).await,
                    "node {id} did not become a voter again"
                );
            }
        }
        Ok(())
    }
}
