//! Process identity of the local spawner: a pid plus its start time, stable across exec.

use super::*;

fn spawner() -> LocalSpawner {
    LocalSpawner::new(
        SpawnerConfig::default(),
        "test-cluster".into(),
        std::path::Path::new("/nonexistent"),
    )
}

/// A process that execs 300 times in a row (`env env ... sleep 5`), with our marker.
fn exec_chain() -> std::process::Child {
    let mut cmd = std::process::Command::new("env");
    cmd.args(std::iter::repeat_n("env", 300))
        .args(["sleep", "5"])
        .env(MARKER, r#"{"c":"test-cluster","g":1,"u":"alice","s":""}"#);
    cmd.spawn().expect("env runs")
}

#[tokio::test]
async fn a_server_that_execs_is_never_taken_for_dead() {
    let s = spawner();
    let mut child = exec_chain();
    let pid = child.id() as i32;
    let start = stat(pid).expect("a start time").start;
    let state = json!({"pid": pid, "start": start});
    for _ in 0..2000 {
        assert_eq!(s.poll(&state).await, Poll::Running);
    }
    assert_eq!(
        stat(pid).map(|s| s.start),
        Some(start),
        "stable across exec"
    );
    // The same pid with another start time is another process.
    let other = json!({"pid": pid, "start": start + 1});
    assert_eq!(s.poll(&other).await, Poll::Exited(None));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(s.poll(&state).await, Poll::Exited(None));
}

#[tokio::test]
async fn states_without_a_start_time_fall_back_to_the_marker() {
    let s = spawner();
    let mut child = std::process::Command::new("sleep")
        .arg("5")
        .spawn()
        .unwrap();
    // No marker: not ours, never signalled.
    let state = json!({"pid": child.id()});
    assert_eq!(s.poll(&state).await, Poll::Exited(None));
    s.stop(&state, Duration::from_millis(10)).await.unwrap();
    assert!(alive(child.id() as i32), "stop left a stranger alone");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `spawn` returns once the child is in `execve`, but the kernel publishes the new
/// program's environment a moment later: until then `/proc/<pid>/environ` reads empty (the
/// scanner skips such a process and reads it again next round). CI once scanned in that
/// moment.
fn wait_until_exec_done(pid: i32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::fs::read(format!("/proc/{pid}/environ")).map_or(true, |e| e.is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "{pid} never finished exec"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn scans_find_our_group_leaders_and_remember_their_markers() {
    use std::os::unix::process::CommandExt;
    let cluster = format!("scan-test-{}", std::process::id());
    let marker = |c: &str| format!(r#"{{"c":"{c}","g":3,"u":"bob","s":"gpu"}}"#);
    let sleep = |c: &str, own_group: bool| {
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("5")
            .env(MARKER, marker(c))
            .env("RAFTHUB_PORT", "4242");
        if own_group {
            cmd.process_group(0);
        }
        cmd.spawn().unwrap()
    };
    let mut ours = sleep(&cluster, true);
    // Servers start as group leaders; a process in another group is not one of them.
    let not_leader = sleep(&cluster, false);
    let other_cluster = sleep("another", true);
    for c in [&ours, &not_leader, &other_cluster] {
        wait_until_exec_done(c.id() as i32);
    }
    let scanner = Scanner::default();
    let found = |s: &Scanner| -> Vec<(i32, u64, String, Option<u16>)> {
        s.scan(&cluster)
            .into_iter()
            .map(|p| (p.pid, p.marker.g, p.marker.s, p.port))
            .collect()
    };
    let want = vec![(ours.id() as i32, 3, "gpu".to_string(), Some(4242))];
    assert_eq!(found(&scanner), want);
    // Remembered: the same answer without reading the environment again.
    assert!(scanner.known.lock().contains_key(&(ours.id() as i32)));
    assert_eq!(found(&scanner), want);
    ours.kill().unwrap();
    ours.wait().unwrap();
    assert_eq!(found(&scanner), vec![]);
    for mut c in [not_leader, other_cluster] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
}
