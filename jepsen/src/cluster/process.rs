//! One `rafthub serve` child process: start, kill -9, SIGSTOP/SIGCONT, graceful stop.
//!
//! Children run in their own process group (a Ctrl-C on the terminal reaches only the
//! harness, which then cleans up in order) and with `PR_SET_PDEATHSIG = SIGKILL`, so a
//! harness that dies for any reason takes its replicas with it — paused ones included.
//! stdout and stderr are appended to the replica's log file, one marker line per start.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

use super::config::{NodeAddr, NodeFiles};

pub struct NodeProc {
    pub addr: NodeAddr,
    pub files: NodeFiles,
    child: Option<Child>,
    paused: bool,
    starts: u32,
}

fn signal(pid: u32, sig: libc::c_int) -> std::io::Result<()> {
    // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
    if unsafe { libc::kill(pid as libc::pid_t, sig) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl NodeProc {
    pub fn new(addr: NodeAddr, files: NodeFiles) -> NodeProc {
        NodeProc {
            addr,
            files,
            child: None,
            paused: false,
            starts: 0,
        }
    }

    pub fn id(&self) -> u64 {
        self.addr.id
    }

    /// Starts the replica; the caller waits for it to answer.
    pub fn start(&mut self, bin: &Path, note: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.child.is_none(),
            "node {} is already running",
            self.id()
        );
        self.starts += 1;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.files.log)
            .with_context(|| format!("opening {}", self.files.log.display()))?;
        writeln!(
            log,
            "=== rafthub-jepsen: start #{} of node {} ({note}) ===",
            self.starts,
            self.id()
        )?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--config")
            .arg(&self.files.config)
            .env(
                "RUST_LOG",
                std::env::var("RAFTHUB_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        // SAFETY: only async-signal-safe calls (setpgid, prctl) between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {} for node {}", bin.display(), self.id()))?;
        self.child = Some(child);
        self.paused = false;
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Running (possibly paused). Reaps a child that exited by itself.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                self.child = None;
                self.paused = false;
                false
            }
            None => false,
        }
    }

    /// kill -9 and reap.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id() {
                let _ = signal(pid, libc::SIGKILL);
            }
            let _ = tokio::time::timeout(Duration::from_secs(10), c.wait()).await;
        }
        self.paused = false;
    }

    /// SIGSTOP: the process keeps its sockets (peers' connects still succeed) but does
    /// nothing, like a long GC pause or a frozen VM.
    pub fn pause(&mut self) -> anyhow::Result<()> {
        let pid = self.pid().context("node is not running")?;
        signal(pid, libc::SIGSTOP)?;
        self.paused = true;
        Ok(())
    }

    pub fn resume(&mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.pid() {
            signal(pid, libc::SIGCONT)?;
        }
        self.paused = false;
        Ok(())
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        let _ = self.resume();
        if let Some(mut c) = self.child.take() {
            if let Some(pid) = c.id() {
                let _ = signal(pid, libc::SIGTERM);
            }
            if tokio::time::timeout(grace, c.wait()).await.is_err() {
                let _ = c.start_kill();
                let _ = c.wait().await;
            }
        }
    }

    /// Deletes the data directory (the node must be stopped): a replaced disk.
    pub fn wipe(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "wipe of a running node");
        match std::fs::remove_dir_all(&self.files.data_dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn log_path(&self) -> &PathBuf {
        &self.files.log
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        // Never leave a frozen replica behind: continue it, then kill it.
        let _ = self.resume();
        if let Some(c) = self.child.as_mut() {
            let _ = c.start_kill();
        }
    }
}
