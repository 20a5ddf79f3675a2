//! Scale: three `rafthub` processes against one kube-fake with many running pods, then a
//! storm of spawn requests against `concurrent_spawn_limit = 100`, then another storm
//! during which the leader is killed. Every accepted spawn must end ready, with exactly one
//! pod created per server.
//!
//! CI runs 300 running servers and storms of 100; `RAFTHUB_KUBE_SCALE=full` (the
//! benchmark) runs 3,000 and 1,000, and `RAFTHUB_KUBE_SCALE=<servers>,<storm>` any size.
//! The replicas' CPU time and memory are printed after each phase (`--nocapture`).

mod kube_cluster;
mod procs;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kube_cluster::{client, usage, KubeCluster};
use rafthub_kube_fake::{Timings, Verb};

fn sizes() -> (usize, usize) {
    match std::env::var("RAFTHUB_KUBE_SCALE").as_deref() {
        Ok("full") => (3000, 1000),
        Ok(s) => s
            .split_once(',')
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
            .unwrap_or((300, 100)),
        Err(_) => (300, 100),
    }
}

/// Requests a spawn for every user through replica `front`, from 32 threads, until each
/// one was accepted (201/202, or "already pending/running" for a retry of a request whose
/// answer was lost). Rejections (429) and errors are retried in later waves.
fn storm(
    kc: &KubeCluster,
    users: &[String],
    front: usize,
    accepted: &AtomicUsize,
    limit: Duration,
) {
    let deadline = Instant::now() + limit;
    let mut todo: Vec<String> = users.to_vec();
    let mut waves = 0;
    while !todo.is_empty() && Instant::now() < deadline {
        waves += 1;
        let queue = Mutex::new(std::mem::take(&mut todo));
        let again = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..32 {
                s.spawn(|| loop {
                    let Some(u) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    let path = format!("/api/users/{u}/server");
                    let ok = match kc.cluster.post_json(front, &path, &serde_json::json!({})) {
                        Some((201 | 202, _)) => true,
                        Some((400, text)) => {
                            text.contains("already running") || text.contains("pending")
                        }
                        _ => false,
                    };
                    if ok {
                        accepted.fetch_add(1, Ordering::Relaxed);
                    } else {
                        again.lock().unwrap().push(u);
                    }
                });
            }
        });
        todo = again.into_inner().unwrap();
        if !todo.is_empty() {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    assert!(
        todo.is_empty(),
        "{} spawns never accepted after {waves} waves",
        todo.len()
    );
}

fn report(kc: &KubeCluster, phase: &str, took: Duration, leader: usize) {
    eprintln!("== {phase}: {:.1} s", took.as_secs_f64());
    for i in 0..3 {
        let role = if i == leader { "leader" } else { "follower" };
        match kc.cluster.pid(i).and_then(usage) {
            Some((cpu, hwm, rss)) => eprintln!(
                "   {} ({role}): cpu {cpu:.1} s, peak rss {} MiB, rss {} MiB",
                client(i),
                hwm / 1024,
                rss / 1024
            ),
            None => eprintln!("   {} ({role}): gone", client(i)),
        }
    }
}

/// Steady state: each replica's CPU over `secs` seconds with nothing changing (watches
/// warm, the controller's rounds, heartbeats, activity flushes).
fn idle_cpu(kc: &KubeCluster, secs: u64, leader: usize) {
    let cpu = |i: usize| kc.cluster.pid(i).and_then(usage).map(|u| u.0);
    let before: Vec<Option<f64>> = (0..3).map(cpu).collect();
    std::thread::sleep(Duration::from_secs(secs));
    for (i, b) in before.into_iter().enumerate() {
        if let (Some(b), Some(a)) = (b, cpu(i)) {
            let role = if i == leader { "leader" } else { "follower" };
            eprintln!(
                "   idle {secs} s, {} ({role}): {:.1} % of a core",
                client(i),
                (a - b) / secs as f64 * 100.0
            );
        }
    }
}

/// Successful pod creates per pod name.
fn creates(kc: &KubeCluster) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in kc.fake.requests() {
        if r.verb == Verb::Create && r.resource.as_deref() == Some("pods") && r.status == Some(201)
        {
            let name = r
                .body_json()
                .and_then(|b| {
                    b.pointer("/metadata/name")
                        .and_then(|n| n.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            *m.entry(name).or_insert(0) += 1;
        }
    }
    m
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

#[test]
fn spawn_storms_with_many_running_pods_and_a_leader_kill() {
    let (running, storm_size) = sizes();
    let fast = Timings {
        schedule: Duration::from_millis(10),
        pull: Duration::from_millis(20),
        start: Duration::from_millis(50),
        bind: Duration::from_millis(10),
    };
    let mut kc = KubeCluster::start("concurrent_spawn_limit = 100", fast);
    let (fill, a, b) = (
        names("f", running),
        names("a", storm_size),
        names("b", storm_size),
    );
    kc.create_users(&[fill.clone(), a.clone(), b.clone()].concat());
    let budget = Duration::from_secs(60 + (running + 2 * storm_size) as u64 / 5);
    let leader = kc.cluster.leader();
    let front = kc.other(leader);
    let count = AtomicUsize::new(0);

    let t = Instant::now();
    storm(&kc, &fill, front, &count, budget);
    assert_eq!(
        kc.wait_all_ready(front, running, budget),
        (running, 0),
        "fill"
    );
    report(
        &kc,
        &format!("{running} servers running"),
        t.elapsed(),
        leader,
    );
    idle_cpu(&kc, 10, leader);

    let t = Instant::now();
    storm(&kc, &a, front, &count, budget);
    let total = running + storm_size;
    assert_eq!(kc.wait_all_ready(front, total, budget), (total, 0), "storm");
    report(
        &kc,
        &format!("storm of {storm_size} spawns"),
        t.elapsed(),
        leader,
    );

    // The same again, killing the leader once a third of the storm is accepted.
    let t = Instant::now();
    let before = count.load(Ordering::Relaxed);
    let old_pid = kc.cluster.pid(leader).unwrap();
    let mut killed_at_seq = 0;
    let mut killed_at = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| storm(&kc, &b, front, &count, budget));
        let until = Instant::now() + budget;
        while count.load(Ordering::Relaxed) < before + storm_size / 3 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(old_pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        killed_at = Instant::now();
        killed_at_seq = kc.fake.requests().last().map(|r| r.seq).unwrap_or(0);
        eprintln!(
            "   killed the leader with {} of {storm_size} spawns accepted",
            count.load(Ordering::Relaxed) - before
        );
    });
    kc.cluster.kill9(leader);
    let total = running + 2 * storm_size;
    assert_eq!(
        kc.wait_all_ready(front, total, budget),
        (total, 0),
        "storm with a leader kill"
    );
    let new_leader = kc.cluster.leader();
    report(
        &kc,
        &format!("storm of {storm_size} with the leader killed"),
        t.elapsed(),
        new_leader,
    );

    let per_pod = creates(&kc);
    assert_eq!(per_pod.len(), total, "one pod per server");
    let dup: Vec<_> = per_pod.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dup.is_empty(), "pods created twice: {dup:?}");
    assert_eq!(kc.fake.list("pods", Some("default")).len(), total);
    // Writes: the first leader until it died, then only the new one; never the replica
    // that followed throughout.
    for r in kc.fake.requests().iter().filter(|r| r.verb.is_write()) {
        let ok =
            r.client == client(leader) || (r.client == client(new_leader) && r.seq > killed_at_seq);
        assert!(
            ok,
            "write by {} at {} (kill at {killed_at_seq}): {}",
            r.client,
            r.seq,
            r.uri()
        );
    }
    let log = kc.fake.requests();
    // Resume time: from the SIGKILL to the new leader's first pod create that succeeded.
    let resumed = log
        .iter()
        .filter(|r| r.client == client(new_leader) && r.seq > killed_at_seq)
        .find(|r| {
            r.verb == Verb::Create && r.resource.as_deref() == Some("pods") && r.status == Some(201)
        })
        .map(|r| r.at.into_std().saturating_duration_since(killed_at));
    let resumed = resumed.expect("the new leader created no pod after the kill");
    eprintln!(
        "   new leader's first pod create {} ms after the kill",
        resumed.as_millis()
    );
    let pods_by = |c: String| {
        log.iter()
            .filter(|r| {
                r.client == c && r.verb == Verb::Create && r.resource.as_deref() == Some("pods")
            })
            .filter(|r| r.body.contains("\"jupyter-b"))
            .count()
    };
    eprintln!(
        "   second storm's pods: {} created by the old leader, {} by the new one",
        pods_by(client(leader)),
        pods_by(client(new_leader))
    );
    let events = kc.fake.list("events", Some("default")).len();
    eprintln!("   kube-fake: {} requests, {events} events", log.len());
}
