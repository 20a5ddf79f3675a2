//! `rafthub-jepsen`: runs chaos tests against real rafthub processes and checks them.
//! Exit status: 0 when every checker is valid, 1 when one is not (or cannot decide),
//! 2 when the harness itself failed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use rafthub_jepsen::checker::{self, CheckResult};
use rafthub_jepsen::cluster::config::Timing;
use rafthub_jepsen::history::History;
use rafthub_jepsen::nemesis::schedule::Mode;
use rafthub_jepsen::nemesis::Kind;
use rafthub_jepsen::run::{run, RunOptions};
use rafthub_jepsen::workload::proxy::ProxyOptions;
use rafthub_jepsen::workload::Workload;
use rafthub_jepsen::{net, summary};

#[derive(Parser)]
#[command(
    name = "rafthub-jepsen",
    about = "Jepsen-style chaos tests against real rafthub replicas"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// One run with the given nemeses and workloads.
    Run(RunArgs),
    /// The CI smoke test: 3 nodes, ~2 minutes, kill + pause + partition, all workloads.
    Smoke {
        #[arg(long, env = "RAFTHUB_BIN", default_value = "target/debug/rafthub")]
        rafthub: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(1..=240))]
        ip_base: u8,
    },
    /// `--runs` runs per nemesis group (`--group`, repeatable), then a Markdown summary.
    Batch {
        #[command(flatten)]
        run: RunArgs,
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// A nemesis list per group, e.g. `--group kills --group pauses --group partition`;
        /// append `:combine` for two faults at a time (`--group all:combine`).
        #[arg(long = "group", required = true)]
        groups: Vec<String>,
    },
    /// Re-check a saved history.jsonl offline.
    Check {
        history: PathBuf,
        #[arg(long, default_value_t = 15_000.0)]
        max_failover_ms: f64,
    },
    /// Markdown summary of run directories (or results.json files).
    Summarize { runs: Vec<PathBuf> },
    /// Remove every RAFTHUB_CHAOS* iptables chain left by a crashed run.
    Cleanup,
}

#[derive(Args, Clone)]
struct RunArgs {
    /// The rafthub binary under test.
    #[arg(long, env = "RAFTHUB_BIN", default_value = "target/debug/rafthub")]
    rafthub: PathBuf,
    /// Output directory (default $TMPDIR/rafthub-jepsen/run-<unix time>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replicas: 3 or 5 (127.0.0.11-15).
    #[arg(long, default_value_t = 3)]
    nodes: u64,
    /// Replica i listens on 127.0.0.(BASE+i); another base (and chain RAFTHUB_CHAOS_<BASE>)
    /// lets a second run go on at the same time.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u8).range(1..=240))]
    ip_base: u8,
    /// Seconds of load; the nemesis runs meanwhile.
    #[arg(long, default_value_t = 300.0)]
    time: f64,
    /// kill, kill-leader, pause, pause-leader, partition-{halves,leader,ring,bridge},
    /// packet-drop, membership; groups: kills, pauses, partition, all; `none` for no faults.
    #[arg(long, default_value = "kills,pauses,partition")]
    nemesis: String,
    #[arg(long, value_parser = ["random", "fixed"], default_value = "random")]
    schedule: String,
    /// Seconds of calm between faults (jittered ±50% with the random schedule).
    #[arg(long, default_value_t = 10.0)]
    interval: f64,
    /// Seconds each fault lasts.
    #[arg(long, default_value_t = 10.0)]
    fault: f64,
    /// Inject two different faults at once.
    #[arg(long)]
    combine: bool,
    #[arg(long)]
    seed: Option<u64>,
    /// set, register, failover, proxy, all.
    #[arg(long, default_value = "all")]
    workload: String,
    /// Clients per workload (set and register each).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Pause between a client's operations.
    #[arg(long, default_value_t = 20)]
    delay_ms: u64,
    /// Client request timeout; a write that times out is indeterminate.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// Upper bound on operations per client.
    #[arg(long, default_value_t = 100_000)]
    max_ops: usize,
    #[arg(long, default_value_t = 4)]
    register_keys: usize,
    /// Operations per register key before moving to a fresh key.
    #[arg(long, default_value_t = 200)]
    ops_per_key: usize,
    /// Raft election timeout and heartbeat for the replicas (default: rafthub's defaults).
    #[arg(long)]
    election_min_ms: Option<u64>,
    #[arg(long)]
    election_max_ms: Option<u64>,
    #[arg(long)]
    heartbeat_ms: Option<u64>,
    /// Server-side write timeout (answer 503 before the client gives up).
    #[arg(long, default_value_t = 3000)]
    write_timeout_ms: u64,
    /// Port of the CHP route API on each replica's address.
    #[arg(long, default_value_t = 8001)]
    proxy_api_port: u16,
    /// Token for the route API (default: the admin API token, which the generated configs
    /// also give the route API).
    #[arg(long, env = "RAFTHUB_JEPSEN_PROXY_TOKEN")]
    proxy_token: Option<String>,
    #[arg(long, default_value_t = 0)]
    proxy_backend_port: u16,
    /// Seconds to wait for convergence after the final heal.
    #[arg(long, default_value_t = 90)]
    converge_timeout: u64,
    /// A leader fault without an acknowledged write within this long fails the run.
    #[arg(long, default_value_t = 15_000.0)]
    max_failover_ms: f64,
    /// Mean packet loss of `packet-drop` (jittered ±50%).
    #[arg(long, default_value_t = 0.3)]
    drop_probability: f64,
    /// Keep the replicas' data directories after the run.
    #[arg(long)]
    keep_data: bool,
    /// Negative control: register reads WITHOUT consistency=linearizable. Local reads on a
    /// partitioned or lagging replica are stale, so the register checker should fail.
    #[arg(long)]
    stale_reads: bool,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl RunArgs {
    fn options(&self) -> Result<RunOptions, String> {
        let nemeses = if self.nemesis == "none" {
            Vec::new()
        } else {
            Kind::parse_list(&self.nemesis)?
        };
        Ok(RunOptions {
            bin: self.rafthub.clone(),
            out: self.out.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("rafthub-jepsen/run-{}", now_secs()))
            }),
            nodes: self.nodes,
            time: Duration::from_secs_f64(self.time),
            nemeses,
            mode: if self.schedule == "fixed" {
                Mode::Fixed
            } else {
                Mode::Random
            },
            interval: Duration::from_secs_f64(self.interval),
            fault: Duration::from_secs_f64(self.fault),
            combine: self.combine,
            seed: self.seed.unwrap_or_else(rand::random),
            workloads: Workload::parse_list(&self.workload)?,
            clients: self.clients,
            delay: Duration::from_millis(self.delay_ms),
            timeout: Duration::from_millis(self.timeout_ms),
            max_ops: self.max_ops,
            register_keys: self.register_keys,
            ops_per_key: self.ops_per_key,
            timing: Timing {
                proxy_api_port: self.proxy_api_port,
                election_timeout_min_ms: self.election_min_ms,
                election_timeout_max_ms: self.election_max_ms,
                heartbeat_ms: self.heartbeat_ms,
                write_timeout_ms: self.write_timeout_ms,
            },
            proxy: ProxyOptions {
                api_port: self.proxy_api_port,
                token: self.proxy_token.clone(),
                backend_port: self.proxy_backend_port,
            },
            converge_timeout: Duration::from_secs(self.converge_timeout),
            max_failover_ms: self.max_failover_ms,
            drop_probability: self.drop_probability,
            keep_data: self.keep_data,
            stale_reads: self.stale_reads,
        })
    }
}

/// The smoke test's parameters: 3 nodes, 100 s of load with a fault every ~12 s in a fixed
/// order (kill, kill the leader, pause, partition into halves, isolate the leader), plus
/// set-up and convergence: about two minutes.
fn smoke_args(rafthub: PathBuf, out: Option<PathBuf>, seed: Option<u64>, ip_base: u8) -> RunArgs {
    let mut a = RunArgs::parse_from(["run"]);
    a.ip_base = ip_base;
    a.rafthub = rafthub;
    a.out = out.or_else(|| {
        Some(std::env::temp_dir().join(format!("rafthub-jepsen/smoke-{}", now_secs())))
    });
    a.seed = seed;
    a.time = 100.0;
    a.nemesis = "kill,kill-leader,pause,partition-halves,partition-leader".into();
    a.schedule = "fixed".into();
    a.interval = 5.0;
    a.fault = 7.0;
    a.converge_timeout = 60;
    a
}

impl RunArgs {
    fn parse_from<'a>(args: impl IntoIterator<Item = &'a str>) -> RunArgs {
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            run: RunArgs,
        }
        Wrap::parse_from(args).run
    }
}

/// Set when a run was stopped by SIGINT/SIGTERM, so a batch stops too.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

async fn run_one(a: &RunArgs) -> ExitCode {
    rafthub_jepsen::cluster::config::set_ip_base(a.ip_base);
    if u64::from(a.ip_base) + a.nodes > 254 {
        eprintln!(
            "rafthub-jepsen: --ip-base {} leaves no room for {} nodes",
            a.ip_base, a.nodes
        );
        return ExitCode::from(2);
    }
    let opts = match a.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("rafthub-jepsen: {e}");
            return ExitCode::from(2);
        }
    };
    println!("rafthub-jepsen: seed {}", opts.seed);
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rafthub-jepsen: cannot handle SIGTERM: {e}");
            return ExitCode::from(2);
        }
    };
    let signal = tokio::select! {
        r = run(opts) => Ok(r),
        _ = tokio::signal::ctrl_c() => Err("interrupted (SIGINT)"),
        _ = term.recv() => Err("terminated (SIGTERM)"),
    };
    let result = signal.unwrap_or_else(|why| {
        INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
        Err(anyhow::anyhow!(why))
    });
    // The run future was dropped on Ctrl-C: its replicas are killed by their Drop; the
    // chain is removed here, only if this process created it (another run may own it).
    if net::chain_active() {
        net::emergency_teardown();
    }
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("rafthub-jepsen: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn check_file(path: &PathBuf, max_failover_ms: f64) -> anyhow::Result<bool> {
    let f = std::fs::File::open(path)?;
    let h = History::read_jsonl(std::io::BufReader::new(f))?;
    let mut results: Vec<CheckResult> = Vec::new();
    if h.ops.iter().any(|o| o.f == "create") {
        results.push(checker::set::check(
            &h,
            rafthub_jepsen::workload::set::PREFIX,
        ));
    }
    if h.ops.iter().any(|o| o.f == "read" || o.f == "write") {
        results.push(checker::register::check(
            &h,
            checker::register::DEFAULT_MAX_STEPS,
        ));
    }
    results.push(checker::failover::check(
        &h,
        max_failover_ms,
        checker::failover::nodes_in(&h),
    ));
    if h.ops.iter().any(|o| o.f == "proxy-get") {
        results.push(checker::proxy::check(&h, 1000, 0));
    }
    println!("{}", serde_json::to_string_pretty(&results)?);
    Ok(results.iter().all(CheckResult::is_valid))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    // Never leave the machine partitioned: remove the chain before a panic unwinds.
    let default_hook = std::panic::take_hook();
    // Only a panic of the main thread (where the run and the nemesis execute) ends the run;
    // a panicking client task is caught by tokio and the run goes on with the chain intact.
    std::panic::set_hook(Box::new(move |info| {
        if net::chain_active() && std::thread::current().name() == Some("main") {
            net::emergency_teardown();
        }
        default_hook(info);
    }));
    match Cli::parse().cmd {
        Cmd::Run(a) => run_one(&a).await,
        Cmd::Smoke {
            rafthub,
            out,
            seed,
            ip_base,
        } => run_one(&smoke_args(rafthub, out, seed, ip_base)).await,
        Cmd::Batch {
            run: base,
            runs,
            groups,
        } => {
            let root = base.out.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("rafthub-jepsen/batch-{}", now_secs()))
            });
            let mut dirs = Vec::new();
            let mut all_valid = true;
            for g in &groups {
                for i in 1..=runs {
                    let mut a = base.clone();
                    // `NEMESES:combine` runs that group with two faults at a time.
                    let (nemesis, combine) = match g.strip_suffix(":combine") {
                        Some(n) => (n.to_string(), true),
                        None => (g.clone(), base.combine),
                    };
                    a.nemesis = nemesis;
                    a.combine = combine;
                    let dir = root.join(format!("{}-{i}", g.replace([',', ':'], "+")));
                    a.out = Some(dir.clone());
                    a.seed = Some(base.seed.unwrap_or(0) + i as u64);
                    println!("=== batch: {g} run {i}/{runs} -> {}", dir.display());
                    let code = run_one(&a).await;
                    all_valid &= code == ExitCode::SUCCESS;
                    if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
                        eprintln!("=== batch: interrupted");
                        return ExitCode::from(2);
                    }
                    dirs.push(dir);
                }
            }
            let md = summary::summarize(&dirs);
            let _ = std::fs::write(root.join("summary.md"), &md);
            println!("{md}");
            if all_valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Cmd::Check {
            history,
            max_failover_ms,
        } => match check_file(&history, max_failover_ms) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::from(1),
            Err(e) => {
                eprintln!("rafthub-jepsen: {e:#}");
                ExitCode::from(2)
            }
        },
        Cmd::Summarize { runs } => {
            print!("{}", summary::summarize(&runs));
            ExitCode::SUCCESS
        }
        Cmd::Cleanup => {
            let removed = net::teardown_all();
            println!("removed iptables chains: {removed:?}");
            ExitCode::SUCCESS
        }
    }
}
