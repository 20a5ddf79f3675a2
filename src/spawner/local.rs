//! The local-process spawner: runs `jupyterhub-singleuser` (or any `cmd`) on this host.
//!
//! Each process carries a marker in its environment naming (cluster, user, server,
//! generation), and runs in its own process group so it outlives the replica that started
//! it. A new leader on the same host finds the processes by scanning `/proc` and adopts them;
//! across hosts (Kubernetes) the pod spawner plays the same role with pod names.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ports::PortBook;
use super::{BoxFuture, Found, Poll, SpawnError, SpawnSpec, Spawner, SpawnerConfig, Started};

pub use super::proc_scan::MARKER;
use super::proc_scan::{alive, marker_of, stat, Marker, Scanner};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LocalConfig {
    /// Address servers bind to.
    pub ip: String,
    /// Ports handed out to servers (inclusive). The default stays below Linux's ephemeral
    /// range (32768-60999): a port chosen there can be taken by an outgoing connection
    /// between the choice and the server's bind, and the server then dies at startup.
    pub port_range: [u16; 2],
    /// Working directory; `{username}` is replaced. Default: `<data_dir>/home/<username>`.
    pub working_dir: Option<String>,
    /// When the hub runs as root, run servers as the system user of the same name.
    pub run_as_user: bool,
    /// When the hub runs as root and `run_as_user` is off, pass `--allow-root` (singleuser
    /// refuses to run as root without it).
    pub allow_root: bool,
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            ip: "127.0.0.1".into(),
            port_range: [20000, 32767],
            working_dir: None,
            run_as_user: false,
            allow_root: true,
        }
    }
}

impl LocalConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.port_range[0] == 0 || self.port_range[0] > self.port_range[1] {
            return Err("spawner.local.port_range must be [low, high] with 0 < low <= high".into());
        }
        Ok(())
    }
}

pub struct LocalSpawner {
    cfg: SpawnerConfig,
    cluster_id: String,
    home_root: PathBuf,
    log_dir: PathBuf,
    ports: Mutex<PortBook>,
    scanner: Scanner,
}

fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

impl LocalSpawner {
    pub fn new(cfg: SpawnerConfig, cluster_id: String, data_dir: &std::path::Path) -> LocalSpawner {
        LocalSpawner {
            cfg,
            cluster_id,
            home_root: data_dir.join("home"),
            log_dir: data_dir.join("server-logs"),
            ports: Mutex::new(PortBook::default()),
            scanner: Scanner::default(),
        }
    }

    /// A free port not handed out to another pending spawn (see `PortBook`).
    fn pick_port(&self) -> u16 {
        let ttl = Duration::from_secs(self.cfg.start_timeout_s + self.cfg.http_timeout_s);
        let ip = self.cfg.local.ip.as_str();
        self.ports.lock().unwrap_or_else(|e| e.into_inner()).pick(
            Instant::now(),
            self.cfg.local.port_range,
            ttl,
            rand::random::<u32>,
            |p| std::net::TcpListener::bind((ip, p)).is_ok(),
        )
    }

    /// Whether `pid` is still the process `state` recorded: same start time (states
    /// written before start times were recorded: our cluster's marker).
    fn ours(&self, pid: i32, state: &Value) -> bool {
        match state.get("start").and_then(Value::as_u64) {
            Some(t) => stat(pid).is_some_and(|s| s.start == t),
            None => marker_of(pid).is_some_and(|m| m.c == self.cluster_id),
        }
    }

    fn find(&self, user: &str, server: &str, generation: u64) -> Option<Found> {
        self.scan()
            .into_iter()
            .find(|f| f.user == user && f.server == server && f.generation == generation)
    }

    fn scan(&self) -> Vec<Found> {
        let ip = &self.cfg.local.ip;
        self.scanner
            .scan(&self.cluster_id)
            .into_iter()
            .map(|p| Found {
                user: p.marker.u,
                server: p.marker.s,
                generation: p.marker.g,
                state: json!({"pid": p.pid, "start": p.start, "port": p.port, "ip": ip}),
                target: p.port.map(|port| format!("http://{ip}:{port}")),
            })
            .collect()
    }

    async fn spawn_process(&self, spec: &SpawnSpec, port: u16) -> Result<Started, SpawnError> {
        let mut argv = self.cfg.cmd.clone();
        argv.extend(self.cfg.args.iter().cloned());
        let as_user = self.cfg.local.run_as_user && running_as_root();
        if running_as_root()
            && !as_user
            && self.cfg.local.allow_root
            && !argv.iter().any(|a| a == "--allow-root")
        {
            argv.push("--allow-root".into());
        }
        let dir = match &self.cfg.local.working_dir {
            Some(t) => PathBuf::from(t.replace("{username}", &spec.user)),
            None => self.home_root.join(&spec.user),
        };
        std::fs::create_dir_all(&dir)
            .map_err(|e| SpawnError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        std::fs::create_dir_all(&self.log_dir).map_err(|e| SpawnError::Failed(e.to_string()))?;
        let log_path = self.log_dir.join(format!(
            "{}-{}-{}.log",
            spec.user,
            if spec.server.is_empty() {
                "default"
            } else {
                &spec.server
            },
            spec.generation
        ));
        let log =
            std::fs::File::create(&log_path).map_err(|e| SpawnError::Failed(e.to_string()))?;
        let log2 = log
            .try_clone()
            .map_err(|e| SpawnError::Failed(e.to_string()))?;
        let marker = serde_json::to_string(&Marker {
            c: self.cluster_id.clone(),
            g: spec.generation,
            u: spec.user.clone(),
            s: spec.server.clone(),
        })
        .unwrap_or_default();
        let ip = &self.cfg.local.ip;
        let mut cmd = tokio::process::Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .env_clear()
            .envs(&spec.env)
            .env(
                "JUPYTERHUB_SERVICE_URL",
                format!("http://{ip}:{port}{}", spec.prefix),
            )
            .env(MARKER, marker)
            .env("RAFTHUB_PORT", port.to_string())
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            // Its own process group: it outlives this replica and is stopped as a group.
            .process_group(0)
            .kill_on_drop(false);
        if as_user {
            let u = nix::unistd::User::from_name(&spec.user)
                .ok()
                .flatten()
                .ok_or_else(|| SpawnError::Failed(format!("no system user named {}", spec.user)))?;
            cmd.uid(u.uid.as_raw())
                .gid(u.gid.as_raw())
                .env("HOME", &u.dir);
        }
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SpawnError::CommandNotFound(argv[0].clone())
            } else {
                SpawnError::Failed(format!("cannot start {}: {e}", argv[0]))
            }
        })?;
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        // Read before the reaper runs: until then the pid cannot be reused.
        let start = stat(pid).map(|s| s.start);
        // Reap the child when it exits, so it never lingers as a zombie.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        Ok(Started {
            target: format!("http://{ip}:{port}"),
            state: json!({"pid": pid, "start": start, "port": port, "ip": ip}),
        })
    }
}

fn pid_of(state: &Value) -> Option<i32> {
    state
        .get("pid")
        .and_then(Value::as_i64)
        .map(|p| p as i32)
        .filter(|p| *p > 1)
}

impl Spawner for LocalSpawner {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn reserve(&self, _user: &str, _server: &str, _generation: u64) -> Value {
        json!({"port": self.pick_port(), "ip": self.cfg.local.ip})
    }

    fn start(&self, spec: SpawnSpec) -> BoxFuture<'_, Result<Started, SpawnError>> {
        Box::pin(async move {
            // Adoption: the attempt may already run (started by a leader that then died).
            let found = match spec.resumed {
                true => self.find(&spec.user, &spec.server, spec.generation),
                false => None,
            };
            if let Some(f) = found {
                if let Some(target) = f.target {
                    return Ok(Started {
                        target,
                        state: f.state,
                    });
                }
            }
            let port = spec
                .reserved
                .get("port")
                .and_then(Value::as_u64)
                .map(|p| p as u16)
                .unwrap_or_else(|| self.pick_port());
            self.spawn_process(&spec, port).await
        })
    }

    fn poll<'a>(&'a self, state: &'a Value) -> BoxFuture<'a, Poll> {
        Box::pin(async move {
            match pid_of(state) {
                Some(pid) if alive(pid) && self.ours(pid, state) => Poll::Running,
                _ => Poll::Exited(None),
            }
        })
    }

    fn stop<'a>(
        &'a self,
        state: &'a Value,
        grace: Duration,
    ) -> BoxFuture<'a, Result<(), SpawnError>> {
        Box::pin(async move {
            let Some(pid) = pid_of(state) else {
                return Ok(());
            };
            // Never signal a process that is not ours (the pid may have been reused).
            if !alive(pid) || !self.ours(pid, state) {
                return Ok(());
            }
            let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
            let deadline = tokio::time::Instant::now() + grace;
            while tokio::time::Instant::now() < deadline {
                if !alive(pid) {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            for _ in 0..40 {
                if !alive(pid) {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(SpawnError::Failed(format!(
                "process {pid} did not exit after SIGKILL"
            )))
        })
    }

    fn list(&self) -> BoxFuture<'_, Vec<Found>> {
        Box::pin(async move { self.scan() })
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
