//! One test run, start to finish: start the cluster, set up the workloads, run clients and
//! the nemesis until the deadline, heal, wait for convergence, do the final reads, check,
//! write the outputs, stop the cluster.

use std::path::PathBuf;
use std::time::Duration;

use rand::SeedableRng;
use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use crate::checker::{self, CheckResult, Validity};
use crate::cluster::config::Timing;
use crate::cluster::Cluster;
use crate::history::Recorder;
use crate::nemesis::schedule::{self, Mode, Schedule};
use crate::nemesis::{Kind, Nemesis};
use crate::net::ChaosNet;
use crate::workload::client::{Api, Ctx};
use crate::workload::proxy::ProxyOptions;
use crate::workload::set::{Pace, PREFIX};
use crate::workload::{proxy, register, set, Workload};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub bin: PathBuf,
    pub out: PathBuf,
    pub nodes: u64,
    /// Load duration (the nemesis runs during it).
    pub time: Duration,
    pub nemeses: Vec<Kind>,
    pub mode: Mode,
    pub interval: Duration,
    pub fault: Duration,
    pub combine: bool,
    pub seed: u64,
    pub workloads: Vec<Workload>,
    /// Clients per workload (set and register).
    pub clients: usize,
    pub delay: Duration,
    pub timeout: Duration,
    pub max_ops: usize,
    pub register_keys: usize,
    pub ops_per_key: usize,
    pub timing: Timing,
    pub proxy: ProxyOptions,
    pub converge_timeout: Duration,
    pub max_failover_ms: f64,
    pub drop_probability: f64,
    pub keep_data: bool,
    /// Register reads without `consistency=linearizable` (negative control).
    pub stale_reads: bool,
}

#[derive(Serialize)]
struct Params<'a> {
    nodes: u64,
    time_s: f64,
    nemeses: Vec<&'a str>,
    schedule: String,
    interval_s: f64,
    fault_s: f64,
    combine: bool,
    seed: u64,
    workloads: Vec<&'a str>,
    clients: usize,
    rafthub: String,
    /// `null` = rafthub's default.
    election_timeout_ms: [Option<u64>; 2],
    heartbeat_ms: Option<u64>,
    write_timeout_ms: u64,
    stale_reads: bool,
}

fn say(rec: &Recorder, msg: &str) {
    println!("[jepsen  {:7.1}s] {msg}", rec.now() as f64 / 1e9);
}

/// Runs the test; `Ok(true)` when every checker is valid.
pub async fn run(mut o: RunOptions) -> anyhow::Result<bool> {
    let _lock = crate::guard::acquire(o.nodes)?;
    std::fs::create_dir_all(&o.out)?;
    let rec = Recorder::new();
    let backend = match o.workloads.contains(&Workload::Proxy) {
        true => Some(proxy::bind_backend(o.proxy.backend_port).await?),
        false => None,
    };
    let service_url = backend
        .as_ref()
        .map(|(_, port)| format!("http://127.0.0.1:{port}"));
    let mut cluster = Cluster::create(
        &o.bin,
        &o.out,
        o.nodes,
        o.timing,
        service_url.as_deref(),
        rec.clone(),
    )?;
    // Network faults need root and iptables; without them only those nemeses are skipped.
    let net = if o.nemeses.iter().any(|k| k.needs_net()) {
        match ChaosNet::setup() {
            Ok(n) => Some(n),
            Err(why) => {
                let skipped: Vec<_> = o
                    .nemeses
                    .iter()
                    .filter(|k| k.needs_net())
                    .map(|k| k.name())
                    .collect();
                say(
                    &rec,
                    &format!(
                        "network nemeses unavailable ({why}); skipping {}",
                        skipped.join(", ")
                    ),
                );
                o.nemeses.retain(|k| !k.needs_net());
                None
            }
        }
    } else {
        None
    };
    let params = Params {
        nodes: o.nodes,
        time_s: o.time.as_secs_f64(),
        nemeses: o.nemeses.iter().map(|k| k.name()).collect(),
        schedule: format!("{:?}", o.mode).to_lowercase(),
        interval_s: o.interval.as_secs_f64(),
        fault_s: o.fault.as_secs_f64(),
        combine: o.combine,
        seed: o.seed,
        workloads: o.workloads.iter().map(|w| w.name()).collect(),
        clients: o.clients,
        rafthub: o.bin.display().to_string(),
        election_timeout_ms: [
            o.timing.election_timeout_min_ms,
            o.timing.election_timeout_max_ms,
        ],
        heartbeat_ms: o.timing.heartbeat_ms,
        write_timeout_ms: o.timing.write_timeout_ms,
        stale_reads: o.stale_reads,
    };
    let params = serde_json::to_value(&params)?;
    say(
        &rec,
        &format!(
            "starting {} replicas; output in {}",
            o.nodes,
            o.out.display()
        ),
    );
    cluster.start_all(Duration::from_secs(60)).await?;
    say(&rec, "cluster ready");

    let api = Api::new(&cluster.token, cluster.addrs())?;
    let setup = Ctx::new(api, rec.clone(), Instant::now() + Duration::from_secs(60));
    let keys = register::Keys::new(
        o.register_keys.max(1),
        o.ops_per_key.max(10),
        !o.stale_reads,
    );
    if o.workloads.contains(&Workload::Register) {
        for k in keys.initial_names() {
            anyhow::ensure!(
                register::create_group(&setup, &k).await,
                "cannot create group {k} before the run"
            );
        }
    }
    let mut proxy_enabled = false;
    if let Some((listener, port)) = backend {
        match proxy::available(&cluster.addrs()).await {
            Ok(()) => {
                proxy::start_backend(listener);
                proxy::add_route(&cluster.addrs(), &o.proxy, &cluster.token, port).await?;
                proxy_enabled = true;
            }
            // Every replica embeds the proxy: a missing one is a failure, not a skip.
            Err(why) => anyhow::bail!("the proxy workload cannot start: {why}"),
        }
    }

    let deadline = Instant::now() + o.time;
    let ctx = setup.with_deadline(deadline);
    let pace = Pace {
        delay: o.delay,
        timeout: o.timeout,
        max_ops: o.max_ops,
    };
    let mut tasks = Vec::new();
    for _ in 0..o.clients {
        if o.workloads.contains(&Workload::Set) {
            tasks.push(tokio::spawn(set::client(ctx.clone(), pace)));
        }
        if o.workloads.contains(&Workload::Register) {
            tasks.push(tokio::spawn(register::client(
                ctx.clone(),
                keys.clone(),
                pace,
            )));
        }
    }
    if o.workloads.contains(&Workload::Failover) {
        let fast = Pace {
            delay: Duration::from_millis(20),
            timeout: Duration::from_secs(1),
            max_ops: o.max_ops,
        };
        // One probe per replica, so a probe stuck on a dead or paused replica does not hide
        // the first write the new leader acknowledges.
        for _ in 0..o.nodes {
            tasks.push(tokio::spawn(set::client(ctx.clone(), fast)));
        }
    }
    tasks.push(tokio::spawn(
        rec.clone()
            .watch_stalls(deadline, Duration::from_millis(500)),
    ));
    if proxy_enabled {
        for a in cluster.addrs() {
            tasks.push(tokio::spawn(proxy::client(
                ctx.clone(),
                a,
                Duration::from_millis(50),
                o.max_ops,
            )));
        }
    }
    say(
        &rec,
        &format!("{} clients running for {:?}", tasks.len(), o.time),
    );

    let sched = Schedule {
        kinds: o.nemeses.clone(),
        mode: o.mode,
        interval: o.interval,
        duration: o.fault,
        combine: o.combine,
    };
    let mut nem = Nemesis {
        cluster,
        net,
        rng: rand::rngs::StdRng::seed_from_u64(o.seed),
        recorder: rec.clone(),
        drop_probability: o.drop_probability,
    };
    let nemesis_result = if sched.kinds.is_empty() {
        tokio::time::sleep_until(deadline).await;
        Ok(0)
    } else {
        schedule::run(&mut nem, &sched, deadline).await
    };
    for t in tasks {
        let _ = t.await;
    }
    let mut results: Vec<CheckResult> = Vec::new();
    match &nemesis_result {
        Ok(n) => say(
            &rec,
            &format!("load done, {n} fault cycles; healed, waiting for convergence"),
        ),
        Err(e) => say(&rec, &format!("healing failed: {e:#}")),
    }
    let converged = match &nemesis_result {
        Ok(_) => nem.cluster.wait_converged(o.converge_timeout).await,
        Err(e) => Err(anyhow::anyhow!("heal failed: {e:#}")),
    };
    results.push(match &converged {
        Ok(st) => CheckResult::new(
            "convergence",
            Validity::Valid,
            "all replicas agree on leader, members and applied index".into(),
            json!({"status": format!("{st:?}")}),
        ),
        Err(e) => CheckResult::new(
            "convergence",
            Validity::Invalid,
            format!("{e:#}"),
            json!({}),
        ),
    });
    if o.workloads
        .iter()
        .any(|w| matches!(w, Workload::Set | Workload::Failover))
    {
        set::final_reads(
            &setup.with_deadline(Instant::now() + Duration::from_secs(120)),
            5,
            10,
        )
        .await;
    }
    say(&rec, "checking");
    let history = rec.snapshot();
    if o.workloads
        .iter()
        .any(|w| matches!(w, Workload::Set | Workload::Failover))
    {
        results.push(checker::set::check(&history, PREFIX));
    }
    if o.workloads.contains(&Workload::Register) {
        results.push(checker::register::check(
            &history,
            checker::register::DEFAULT_MAX_STEPS,
        ));
    }
    results.push(checker::failover::check(
        &history,
        o.max_failover_ms,
        o.nodes as usize,
    ));
    if proxy_enabled {
        results.push(checker::proxy::check(&history, 1000, 0));
    }
    nem.cluster.stop_all().await;
    let logs: Vec<(u64, String)> = nem
        .cluster
        .nodes
        .iter()
        .map(|n| {
            (
                n.id(),
                std::fs::read_to_string(n.log_path()).unwrap_or_default(),
            )
        })
        .collect();
    results.push(checker::logs::check(&logs));
    drop(nem.net.take());
    if !o.keep_data {
        for n in &nem.cluster.nodes {
            let _ = n.wipe();
        }
    }
    let title = format!("rafthub-jepsen: {} nodes, {}", o.nodes, params["nemeses"]);
    let valid = crate::report::write(&o.out, &title, &params, &history, &results)?;
    for r in &results {
        let word = match r.valid {
            Validity::Valid => "valid  ",
            Validity::Invalid => "INVALID",
            Validity::Unknown => "UNKNOWN",
        };
        println!("  {word} {:<12} {}", r.checker, r.summary);
    }
    println!("report: {}", o.out.join("report.html").display());
    Ok(valid)
}
