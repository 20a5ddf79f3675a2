//! One run per address base: a second harness on the same 127.0.0.x addresses would fail to
//! start its replicas and, worse, tear down the first run's chaos chain. A run therefore
//! holds an exclusive lock (`$TMPDIR/rafthub-jepsen-<base>.lock`) and checks that its replicas'
//! addresses are free before it touches iptables.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::io::AsRawFd;

use crate::cluster::config::{ip_base, NodeAddr};

/// Held for the whole run; the lock is released when the file is closed (also on crash).
pub struct RunLock {
    _file: File,
}

pub fn acquire(nodes: u64) -> anyhow::Result<RunLock> {
    let path = std::env::temp_dir()
        .join(format!("rafthub-jepsen-{}.lock", ip_base()))
        .display()
        .to_string();
    // flock works on a read-only descriptor, so a lock file another user created will do.
    let file = File::open(&path)
        .or_else(|_| File::create(&path))
        .map_err(|e| anyhow::anyhow!("cannot open the lock file {path}: {e}"))?;
    // SAFETY: flock on a descriptor we own; no memory is involved.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    anyhow::ensure!(
        rc == 0,
        "another rafthub-jepsen run holds {path}: wait for it, or use --ip-base for other addresses"
    );
    for id in 1..=nodes {
        let a = NodeAddr::new(id);
        for addr in [a.public(), a.api(), a.cluster()] {
            if let Err(e) = TcpListener::bind(&addr) {
                anyhow::bail!("{addr} is not free ({e}): is another rafthub running there?");
            }
        }
    }
    Ok(RunLock { _file: file })
}
