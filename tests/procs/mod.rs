//! Real `rafthub serve` processes on 127.0.0.1-127.0.0.N for process-level tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "process-admin-token-0123456789";
pub const SECRET: &str = "process-cluster-secret-0123456789";
pub const PROXY_TOKEN: &str = "process-proxy-token-0123456789";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rafthub")
}

/// A free port on `ip` for a replica to bind later, below Linux's ephemeral range (32768+)
/// and the local spawner's default range (20000+): a port the kernel handed out for `bind 0`
/// is one an outgoing connection can take before the replica binds it, and then the replica
/// exits at start (a "never became ready" flake).
/// A port is never handed out twice in one test process: the four ports of a replica are
/// picked before any is bound, so a check-and-release alone could pick one twice.
pub fn free_port(ip: &str) -> u16 {
    use rand::Rng;
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut rng = rand::thread_rng();
    for _ in 0..1000 {
        let port = rng.gen_range(10_000..20_000);
        let mut given = GIVEN.lock().unwrap();
        if !given.contains(&port) && std::net::TcpListener::bind((ip, port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    panic!("no free port on {ip} in 10000-19999");
}

pub struct Proc {
    pub ip: String,
    pub api: u16,
    pub cluster: u16,
    pub public: u16,
    pub proxy_api: u16,
    pub config: PathBuf,
    pub child: Option<Child>,
    /// Extra environment of the process (e.g. its own `KUBECONFIG`).
    pub env: Vec<(String, String)>,
}

/// Additions to the generated configuration and environment (`Cluster::start_with`).
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// Lines added to the `[hub]` table.
    pub hub: String,
    /// Tables appended at the end (e.g. `[spawner]`).
    pub tail: String,
    /// Environment per replica (index 0 is node 1); missing entries mean none.
    pub env: Vec<Vec<(String, String)>>,
}

pub struct Cluster {
    pub procs: Vec<Proc>,
    pub http: reqwest::blocking::Client,
    pub _dir: tempfile::TempDir,
}

fn write_config(p: &Proc, id: usize, peers: &str, dir: &Path, secret: &str, extra: &Extra) {
    let text = format!(
        r#"node_id = {id}
data_dir = "{data}"
[listen]
public = "{ip}:{public}"
api = "{ip}:{api}"
cluster = "{ip}:{cluster}"
[cluster]
secret = "{secret}"
peers = [{peers}]
election_timeout_min_ms = 300
election_timeout_max_ms = 600
heartbeat_ms = 75
[hub]
admin_users = ["admin"]
{hub_extra}
[[hub.services]]
name = "ops"
api_token = "{TOKEN}"
admin = true
[proxy]
api = "{ip}:{proxy_api}"
auth_token = "{PROXY_TOKEN}"
{tail}
"#,
        hub_extra = extra.hub,
        tail = extra.tail,
        data = dir.join(format!("node-{id}")).display(),
        ip = p.ip,
        public = p.public,
        api = p.api,
        cluster = p.cluster,
        proxy_api = p.proxy_api,
    );
    std::fs::write(&p.config, text).unwrap();
}

impl Cluster {
    pub fn start(n: usize, secrets: &[&str]) -> Cluster {
        Cluster::start_with(n, secrets, &Extra::default())
    }

    /// Like `start`, with configuration and environment added per `extra`.
    pub fn start_with(n: usize, secrets: &[&str], extra: &Extra) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let mut procs: Vec<Proc> = (1..=n)
            .map(|i| {
                let ip = format!("127.0.0.{i}");
                Proc {
                    api: free_port(&ip),
                    cluster: free_port(&ip),
                    public: free_port(&ip),
                    proxy_api: free_port(&ip),
                    config: dir.path().join(format!("node-{i}.toml")),
                    ip,
                    child: None,
                    env: extra.env.get(i - 1).cloned().unwrap_or_default(),
                }
            })
            .collect();
        let peers: Vec<String> = procs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!(
                    "{{id = {}, cluster = \"{}:{}\", api = \"{}:{}\"}}",
                    i + 1,
                    p.ip,
                    p.cluster,
                    p.ip,
                    p.api
                )
            })
            .collect();
        for (i, p) in procs.iter().enumerate() {
            write_config(
                p,
                i + 1,
                &peers.join(", "),
                dir.path(),
                secrets.get(i).copied().unwrap_or(SECRET),
                extra,
            );
        }
        let mut c = Cluster {
            procs: Vec::new(),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
            _dir: dir,
        };
        for p in procs.iter_mut() {
            spawn(p);
        }
        c.procs = procs;
        c
    }

    pub fn url(&self, i: usize, path: &str) -> String {
        format!(
            "http://{}:{}/hub{}",
            self.procs[i].ip, self.procs[i].api, path
        )
    }

    pub fn get(&self, i: usize, path: &str) -> Option<(u16, String)> {
        let r = self
            .http
            .get(self.url(i, path))
            .header("Authorization", format!("token {TOKEN}"))
            .send()
            .ok()?;
        Some((r.status().as_u16(), r.text().unwrap_or_default()))
    }

    pub fn post(&self, i: usize, path: &str) -> Option<u16> {
        let r = self
            .http
            .post(self.url(i, path))
            .header("Authorization", format!("token {TOKEN}"))
            .send()
            .ok()?;
        Some(r.status().as_u16())
    }

    pub fn post_json(
        &self,
        i: usize,
        path: &str,
        body: &serde_json::Value,
    ) -> Option<(u16, String)> {
        let r = self
            .http
            .post(self.url(i, path))
            .header("Authorization", format!("token {TOKEN}"))
            .json(body)
            .send()
            .ok()?;
        Some((r.status().as_u16(), r.text().unwrap_or_default()))
    }

    /// The process id of a running replica.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.procs[i].child.as_ref().map(Child::id)
    }

    /// Waits until replica `i` answers `GET /api/user` with 200. A replica that exited because
    /// one of its ports was taken between `free_port` and its bind (an outgoing connection of
    /// another process can take any port) is started again on the same ports; any other exit,
    /// or the deadline, fails the test with the replica's last answer and log.
    pub fn wait_ready(&mut self, i: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        let mut restarts = 0;
        while Instant::now() < deadline {
            match self.get(i, "/api/user") {
                Some((200, _)) => return,
                other => last = other,
            }
            if let Some(status) = self.procs[i]
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok()?)
            {
                let log = self.log_tail(i);
                if log.contains("Address already in use") && restarts < 5 {
                    restarts += 1;
                    std::thread::sleep(Duration::from_millis(200));
                    spawn(&mut self.procs[i]);
                    continue;
                }
                panic!(
                    "node {} exited ({status}) before it was ready:\n{log}",
                    i + 1
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "node {} never became ready; last answer {last:?}; log:\n{}",
            i + 1,
            self.log_tail(i)
        );
    }

    /// The last 60 lines of replica `i`'s log (stdout and stderr).
    pub fn log_tail(&self, i: usize) -> String {
        let text =
            std::fs::read_to_string(self.procs[i].config.with_extension("log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// Index of the leader, from a replica's readiness report.
    pub fn leader(&self) -> usize {
        for i in 0..self.procs.len() {
            if self.procs[i].child.is_none() {
                continue;
            }
            if let Some((200, text)) = self.get(i, "/readyz") {
                let id: usize = text
                    .split("(node ")
                    .nth(1)
                    .and_then(|s| s.split(',').next())
                    .unwrap()
                    .parse()
                    .unwrap();
                return id - 1;
            }
        }
        panic!("no replica knows a leader");
    }

    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.procs[i].child.take() {
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
        }
    }
}

pub fn spawn(p: &mut Proc) {
    let log = std::fs::File::create(p.config.with_extension("log")).unwrap();
    p.child = Some(
        Command::new(bin())
            .args(["serve", "--config"])
            .arg(&p.config)
            .envs(p.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill9(i);
        }
    }
}
