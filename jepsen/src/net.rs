//! Network faults with iptables on loopback, all in one dedicated chain.
//!
//! Every replica listens on, and binds its outgoing cluster connections to, its own
//! 127.0.0.x address, so a rule on source and destination addresses cuts exactly one
//! replica-to-replica direction. The test clients use 127.0.0.1 and are never cut. All rules
//! live in the chain `RAFTHUB_CHAOS` (`RAFTHUB_CHAOS_<base>` for another address base),
//! jumped to from `INPUT`: healing is one flush, and
//! removing the chain restores the machine. The chain is removed when [`ChaosNet`] is dropped,
//! by [`emergency_teardown`] from the panic hook and the Ctrl-C handler, and any leftover
//! from a crashed run is removed at start-up.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

/// The chain of the default address base; other bases get `RAFTHUB_CHAOS_<base>`.
pub const CHAIN: &str = "RAFTHUB_CHAOS";

/// This run's chain name.
pub fn chain() -> String {
    match crate::cluster::config::ip_base() {
        10 => CHAIN.to_string(),
        b => format!("{CHAIN}_{b}"),
    }
}

/// Set while the chain may exist, so the panic hook knows whether to clean up.
static CHAIN_ACTIVE: AtomicBool = AtomicBool::new(false);

fn iptables(args: &[&str]) -> Result<(), String> {
    let out = Command::new("iptables")
        .args(["-w", "5"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run iptables: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "iptables {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Removes the chain and its jump, ignoring errors (it may not exist). Safe to call from a
/// panic hook or signal handler task: it only runs synchronous commands.
pub fn emergency_teardown() {
    teardown(&chain());
    CHAIN_ACTIVE.store(false, Ordering::SeqCst);
}

fn teardown(chain: &str) {
    // The jump may have been inserted more than once by crashed runs: remove all of them.
    for _ in 0..10 {
        if iptables(&["-D", "INPUT", "-j", chain]).is_err() {
            break;
        }
    }
    let _ = iptables(&["-F", chain]);
    let _ = iptables(&["-X", chain]);
}

/// Removes every `RAFTHUB_CHAOS*` chain (the `cleanup` command). Returns their names.
pub fn teardown_all() -> Vec<String> {
    let out = Command::new("iptables").args(["-w", "5", "-S"]).output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let chains: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("-N "))
        .filter(|c| c.starts_with(CHAIN))
        .map(str::to_string)
        .collect();
    for c in &chains {
        teardown(c);
    }
    chains
}

/// Whether the chain may currently exist (for the panic hook).
pub fn chain_active() -> bool {
    CHAIN_ACTIVE.load(Ordering::SeqCst)
}

/// Controls the chaos chain. `None` from [`ChaosNet::setup`] means partitions are not
/// possible here (not root, or no iptables): callers skip only the network nemeses.
pub struct ChaosNet {
    rules: usize,
}

impl ChaosNet {
    /// Creates the (empty) chain and the jump from INPUT. Returns why not, if it can't.
    pub fn setup() -> Result<ChaosNet, String> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root".into());
        }
        iptables(&["-L", "INPUT", "-n"]).map_err(|e| format!("iptables unusable ({e})"))?;
        emergency_teardown();
        CHAIN_ACTIVE.store(true, Ordering::SeqCst);
        let chain = chain();
        iptables(&["-N", &chain])?;
        iptables(&["-I", "INPUT", "-j", &chain])?;
        Ok(ChaosNet { rules: 0 })
    }

    /// Drops every packet from `from` to `to` (one direction).
    pub fn cut_one_way(&mut self, from: Ipv4Addr, to: Ipv4Addr) -> Result<(), String> {
        let (s, d) = (from.to_string(), to.to_string());
        iptables(&["-A", &chain(), "-s", &s, "-d", &d, "-j", "DROP"])?;
        self.rules += 1;
        Ok(())
    }

    /// Cuts both directions between two replicas.
    pub fn cut(&mut self, a: Ipv4Addr, b: Ipv4Addr) -> Result<(), String> {
        self.cut_one_way(a, b)?;
        self.cut_one_way(b, a)
    }

    /// Drops each packet from `from` to `to` with probability `p` (no netem here).
    pub fn drop_randomly(&mut self, from: Ipv4Addr, to: Ipv4Addr, p: f64) -> Result<(), String> {
        let (s, d, p) = (from.to_string(), to.to_string(), format!("{p:.3}"));
        iptables(&[
            "-A",
            &chain(),
            "-s",
            &s,
            "-d",
            &d,
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            &p,
            "-j",
            "DROP",
        ])?;
        self.rules += 1;
        Ok(())
    }

    /// Removes every rule: the network is whole again.
    pub fn heal(&mut self) -> Result<(), String> {
        if self.rules > 0 {
            iptables(&["-F", &chain()])?;
            self.rules = 0;
        }
        Ok(())
    }

    /// Number of rules currently installed.
    pub fn rules(&self) -> usize {
        self.rules
    }
}

impl Drop for ChaosNet {
    fn drop(&mut self) {
        emergency_teardown();
    }
}
