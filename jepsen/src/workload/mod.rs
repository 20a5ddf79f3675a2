//! Workloads: concurrent clients against the public API of random replicas, each
//! operation recorded with its invoke and completion time and outcome.

pub mod client;
pub mod proxy;
pub mod register;
pub mod set;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Set,
    Register,
    Failover,
    Proxy,
}

impl Workload {
    pub const ALL: [Workload; 4] = [
        Workload::Set,
        Workload::Register,
        Workload::Failover,
        Workload::Proxy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Set => "set",
            Workload::Register => "register",
            Workload::Failover => "failover",
            Workload::Proxy => "proxy",
        }
    }

    /// Parses a comma-separated list (`all` for every workload).
    pub fn parse_list(spec: &str) -> Result<Vec<Workload>, String> {
        let mut out = Vec::new();
        for w in spec.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let found: Vec<Workload> = if w == "all" {
                Workload::ALL.to_vec()
            } else {
                vec![*Workload::ALL
                    .iter()
                    .find(|k| k.name() == w)
                    .ok_or_else(|| {
                        format!(
                            "unknown workload {w:?}; known: set, register, failover, proxy, all"
                        )
                    })?]
            };
            for k in found {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
        Ok(out)
    }
}
