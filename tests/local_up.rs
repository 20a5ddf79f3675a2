//! The README's first command: `rafthub up` (what `cargo run --release` runs) starts a local
//! three-replica cluster behind balanced front ports, restarts a replica that dies, and
//! stops everything on SIGTERM. Uses the fixed development ports (8000/8081 and
//! 8000+100i, 8081+100i, 8082+100i), so it is the only test that may bind them.

mod procs;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use procs::bin;

/// Kills the `up` process tree if the test fails half-way.
struct Up(Child, std::path::PathBuf);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        for pid in replica_pids(&self.1) {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
    }
}

/// Pids of `rafthub serve` processes whose config lies under `data`, by replica config name.
fn replica_pids(data: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return pids;
    };
    let data = data.to_string_lossy().to_string();
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(" serve ") && cmd.contains(&data) {
            pids.push(pid);
        }
    }
    pids
}

fn pid_of(data: &Path, node: u64) -> Option<u32> {
    let name = format!("node-{node}.toml");
    replica_pids(data).into_iter().find(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(&name))
            .unwrap_or(false)
    })
}

fn status(http: &reqwest::blocking::Client, url: &str, token: Option<&str>) -> Option<u16> {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("token {t}"));
    }
    req.send().ok().map(|r| r.status().as_u16())
}

/// Polls `check` every 100 ms until it holds or `limit` passes.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn t10_up_serves_restarts_a_dead_replica_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let log = std::fs::File::create(tmp.path().join("up.log")).unwrap();
    let child = Command::new(bin())
        .args(["up", "--data-dir"])
        .arg(&data)
        .current_dir(tmp.path())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut up = Up(child, data.clone());
    let log_text = || std::fs::read_to_string(tmp.path().join("up.log")).unwrap_or_default();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    // The balanced API port answers once a replica does; the admin token is on disk.
    let api = "http://127.0.0.1:8081/hub/api";
    assert!(
        eventually(Duration::from_secs(60), || status(
            &http,
            &format!("{api}/"),
            None
        ) == Some(200)),
        "the balanced API never answered:\n{}",
        log_text()
    );
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();
    let token = token.trim();
    assert!(
        eventually(Duration::from_secs(30), || {
            http.post(format!("{api}/users/alice"))
                .header("Authorization", format!("token {token}"))
                .send()
                .map(|r| r.status().as_u16() == 201)
                .unwrap_or(false)
        }),
        "no user was created through the balanced API:\n{}",
        log_text()
    );
    // Replica 2 directly, as the README shows.
    let direct = "http://127.0.0.1:8281/hub/api/users/alice?consistency=linearizable";
    assert_eq!(status(&http, direct, Some(token)), Some(200));

    // A replica that dies is started again, on the same ports and data.
    let before = pid_of(&data, 3).expect("replica 3 runs");
    Command::new("kill")
        .arg("-9")
        .arg(before.to_string())
        .status()
        .unwrap();
    assert!(
        eventually(Duration::from_secs(30), || {
            pid_of(&data, 3).is_some_and(|p| p != before)
                && status(
                    &http,
                    "http://127.0.0.1:8381/hub/api/users/alice",
                    Some(token),
                ) == Some(200)
        }),
        "replica 3 was not restarted:\n{}",
        log_text()
    );
    assert!(log_text().contains("replica 3 exited"), "{}", log_text());

    // SIGTERM stops the supervisor and every replica.
    Command::new("kill")
        .arg("-TERM")
        .arg(up.0.id().to_string())
        .status()
        .unwrap();
    let stopped = eventually(Duration::from_secs(20), || {
        matches!(up.0.try_wait(), Ok(Some(_)))
    });
    assert!(stopped, "rafthub up did not stop:\n{}", log_text());
    assert!(
        up.0.try_wait().unwrap().unwrap().success(),
        "{}",
        log_text()
    );
    assert!(
        eventually(Duration::from_secs(5), || replica_pids(&data).is_empty()),
        "replicas outlived rafthub up: {:?}",
        replica_pids(&data)
    );
}
