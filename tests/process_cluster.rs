//! Real processes: three `rafthub serve` on 127.0.0.1-127.0.0.3, SIGKILL of the leader,
//! restart and catch-up, and bad input to the binary.

mod procs;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use procs::{bin, free_port, spawn, Cluster, SECRET};
use serde_json::Value;

#[test]
fn t10_kill_leader_write_through_survivor_restart_catches_up() {
    let mut c = Cluster::start(3, &[]);
    for i in 0..3 {
        c.wait_ready(i, Duration::from_secs(30));
    }
    for i in 0..10 {
        assert_eq!(c.post(i % 3, &format!("/api/users/before{i}")), Some(201));
    }
    let leader = c.leader();
    c.kill9(leader);
    let survivor = (leader + 1) % 3;
    // The survivor forwards to the new leader once elected; the write must succeed.
    let started = Instant::now();
    let mut ok = false;
    while started.elapsed() < Duration::from_secs(15) {
        if c.post(survivor, "/api/users/after-kill") == Some(201) {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        ok,
        "no write succeeded through a survivor after the leader was killed"
    );
    for i in 0..10 {
        assert_eq!(
            c.post(survivor, &format!("/api/users/during{i}")),
            Some(201)
        );
    }
    spawn(&mut c.procs[leader]);
    c.wait_ready(leader, Duration::from_secs(30));
    // The restarted node catches up: a local (non-linearizable) read eventually sees all.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = c.get(leader, "/api/users?limit=200").unwrap();
        assert_eq!(status, 200);
        let v: Value = serde_json::from_str(&body).unwrap();
        let names: Vec<&str> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["name"].as_str().unwrap())
            .collect();
        if names.contains(&"after-kill") && names.contains(&"during9") && names.contains(&"before9")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "restarted node did not catch up: {names:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn t20_wrong_cluster_secret_is_refused() {
    let mut c = Cluster::start(3, &[SECRET, SECRET, "some-other-secret-0123456789"]);
    c.wait_ready(0, Duration::from_secs(30));
    c.wait_ready(1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    // Node 3 cannot take part: its requests are refused and it never learns a leader.
    let r = c.http.get(c.url(2, "/readyz")).send().unwrap();
    assert_eq!(r.status(), 503, "{}", r.text().unwrap());
    let log = std::fs::read_to_string(c.procs[2].config.with_extension("log")).unwrap_or_default();
    let log0 = std::fs::read_to_string(c.procs[0].config.with_extension("log")).unwrap_or_default();
    assert!(
        !log.contains("initializing a new cluster") || !log0.contains("initializing a new cluster")
    );
    // And the CLI with the wrong secret gets a clear error.
    let out = Command::new(bin())
        .args(["cluster", "status", "--config"])
        .arg(&c.procs[0].config)
        .args(["--cluster-secret", "not-the-secret-at-all-000"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("401"), "{text}");
}

/// Runs `rafthub serve` with `args` and expects a quick failure mentioning `expect`.
#[track_caller]
fn check_fails(args: &[&str], expect: &str) {
    let out = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "expected failure for {args:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(expect),
        "stderr for {args:?} should mention {expect:?}: {err}"
    );
}

#[test]
fn t30_bad_input_gives_clear_errors_and_overwrites_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "node_id = 1\n[listen]\npublic = \"nonsense\"\n").unwrap();
    check_fails(
        &["serve", "--config", cfg.to_str().unwrap()],
        "invalid config file",
    );
    check_fails(
        &["serve", "--config", "/nonexistent/rafthub.toml"],
        "cannot read config file",
    );
    std::fs::write(&cfg, "node_id = 7\n[cluster]\nsecret = \"0123456789abcdef0\"\npeers = [{id = 1, cluster = \"127.0.0.1:1\"}, {id = 2, cluster = \"127.0.0.1:2\"}]\n").unwrap();
    check_fails(
        &["serve", "--config", cfg.to_str().unwrap()],
        "node 7 is not in cluster.peers",
    );
    check_fails(&["serve", "--peers", "garbage"], "invalid peer");

    // A data dir whose sled files are corrupt: a clear error, and the files are left as they were.
    let data = dir.path().join("data");
    let port = |_: ()| free_port("127.0.0.1").to_string();
    let listen = |p: &str| format!("127.0.0.1:{p}");
    let args = |data: &Path| {
        vec![
            "serve".to_string(),
            "--data-dir".into(),
            data.display().to_string(),
            "--listen-public".into(),
            listen(&port(())),
            "--listen-api".into(),
            listen(&port(())),
            "--listen-cluster".into(),
            listen(&port(())),
        ]
    };
    std::fs::create_dir_all(data.join("sled")).unwrap();
    std::fs::write(data.join("sled/conf"), "this is not a sled config\n").unwrap();
    std::fs::write(data.join("sled/db"), vec![0xABu8; 4096]).unwrap();
    let before = std::fs::read(data.join("sled/db")).unwrap();
    let a = args(&data);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    check_fails(&a, "cannot open data directory");
    assert_eq!(
        std::fs::read(data.join("sled/db")).unwrap(),
        before,
        "corrupt data must not be overwritten"
    );

    // A data dir that belongs to another node id.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("node.id"), "2\n").unwrap();
    let a = args(&other);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    check_fails(&a, "belongs to node 2");
}

/// The leader named by replica `i`'s readiness report.
fn leader_seen_by(c: &Cluster, i: usize) -> Option<usize> {
    let (code, text) = c.get(i, "/readyz")?;
    if code != 200 {
        return None;
    }
    let id: usize = text
        .split("(node ")
        .nth(1)?
        .split(',')
        .next()?
        .parse()
        .ok()?;
    Some(id - 1)
}

/// SIGTERM to the leader (a pod's rolling update): it hands leadership to a follower before
/// it exits, writes through a follower never fail meanwhile, and it exits cleanly.
#[test]
fn t40_sigterm_leader_steps_down_without_failing_writes() {
    let mut c = Cluster::start(3, &[]);
    for i in 0..3 {
        c.wait_ready(i, Duration::from_secs(30));
    }
    let old = c.leader();
    let via = (old + 1) % 3;
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (failures, slowest) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let (mut failures, mut slowest) = (Vec::new(), Duration::ZERO);
            for i in 0..100_000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let t = Instant::now();
                match c.post(via, &format!("/api/users/sd{i}")) {
                    Some(201) => {}
                    other => failures.push((i, other)),
                }
                slowest = slowest.max(t.elapsed());
            }
            (failures, slowest)
        });
        std::thread::sleep(Duration::from_millis(500));
        let t = Instant::now();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(c.pid(old).unwrap() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let deadline = t + Duration::from_secs(10);
        let new = loop {
            assert!(Instant::now() < deadline, "no new leader after SIGTERM");
            if let Some(l) = leader_seen_by(&c, via).filter(|l| *l != old) {
                break l;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        eprintln!(
            "node {} handed over to node {} in {:?}",
            old + 1,
            new + 1,
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap()
    });
    assert!(
        failures.is_empty(),
        "writes failed during the step-down: {failures:?}"
    );
    eprintln!("slowest write meanwhile: {slowest:?}");
    let child = c.procs[old].child.as_mut().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the old leader did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "clean exit: {status:?}");
    c.procs[old].child = None;
    let log = std::fs::read_to_string(c.procs[old].config.with_extension("log")).unwrap();
    assert!(
        log.contains("stepped down"),
        "the old leader handed over: {log}"
    );
}

/// SIGSTOP of the leader (a stalled VM, a long GC-like pause): a write sent through a
/// follower right after is forwarded to the frozen leader, which holds it without an
/// answer. Once the follower knows the successor it must resend the write there instead of
/// waiting out the forward; with a write timeout shorter than one forwarding attempt (3 s),
/// only that makes the write succeed at all.
#[test]
fn t50_write_forwarded_to_a_paused_leader_moves_to_its_successor() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let env = vec![("RAFTHUB_WRITE_TIMEOUT_MS".to_string(), "2900".to_string())];
    let extra = procs::Extra {
        env: vec![env.clone(), env.clone(), env],
        ..Default::default()
    };
    let mut c = Cluster::start_with(3, &[], &extra);
    for i in 0..3 {
        c.wait_ready(i, Duration::from_secs(30));
    }
    assert_eq!(c.post(0, "/api/users/before-pause"), Some(201));
    let old = c.leader();
    let via = (old + 1) % 3;
    let pid = Pid::from_raw(c.pid(old).unwrap() as i32);
    kill(pid, Signal::SIGSTOP).unwrap();
    let t = Instant::now();
    let status = c.post(via, "/api/users/during-pause");
    let took = t.elapsed();
    kill(pid, Signal::SIGCONT).unwrap();
    assert_eq!(
        status,
        Some(201),
        "a write through node {} while the leader was paused (answered after {took:?}):\n{}",
        via + 1,
        c.log_tail(via)
    );
    eprintln!("write acknowledged {took:?} after the leader was paused");
    // The old leader, resumed, follows the successor and has the write.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some((200, _)) = c.get(old, "/api/users/during-pause?consistency=linearizable") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the resumed node never saw the write:\n{}",
            c.log_tail(old)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
