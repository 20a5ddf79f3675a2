//! `rafthub up`: a local cluster of replicas on 127.0.0.1, one child process per replica.
//!
//! Replica `i` (from 1) listens on ports `8000 + 100i` (public), `8081 + 100i` (API) and
//! `8082 + 100i` (cluster). In front of them this process balances `127.0.0.1:8000` (public)
//! and `127.0.0.1:8081` (API) over the live replicas, like a Kubernetes Service: browsers and
//! single-user servers keep working when a replica dies. Each replica's config is written to
//! `<data>/node-<i>.toml`, so it can be run by hand with `rafthub serve --config ...`. The
//! cluster secret and an admin API token are created once in `<data>/` and reused.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::cli::UpArgs;
use crate::config::{Config, Peer};
use crate::hub_config::ServiceConfig;

/// Front ports the supervisor balances: public and API.
pub const FRONT: (u16, u16) = (8000, 8081);

pub fn ports(i: u64) -> (u16, u16, u16) {
    let off = (100 * i) as u16;
    (8000 + off, 8081 + off, 8082 + off)
}

/// Round-robin TCP balancer over `backends`, skipping the ones that refuse connections.
async fn balance(listener: tokio::net::TcpListener, backends: Vec<std::net::SocketAddr>) {
    let mut next = 0usize;
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            continue;
        };
        let start = next;
        next = next.wrapping_add(1);
        let backends = backends.clone();
        tokio::spawn(async move {
            for k in 0..backends.len() {
                let b = backends[(start + k) % backends.len()];
                let conn = tokio::time::timeout(
                    std::time::Duration::from_millis(300),
                    tokio::net::TcpStream::connect(b),
                )
                .await;
                if let Ok(Ok(mut up)) = conn {
                    let _ = up.set_nodelay(true);
                    let _ = client.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut up).await;
                    return;
                }
            }
        });
    }
}

/// Reads a secret file, creating it with a fresh random value (mode 0600) if missing.
fn secret_file(path: &Path, bytes: usize) -> anyhow::Result<String> {
    if let Ok(s) = std::fs::read_to_string(path) {
        return Ok(s.trim().to_string());
    }
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    let s = hex::encode(v);
    std::fs::write(path, format!("{s}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(s)
}

/// Writes the per-replica config files and returns their paths.
pub fn write_configs(root: &Path, n: u64) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let root = root.canonicalize()?;
    secret_file(&root.join("cluster.secret"), 32)?;
    secret_file(&root.join("admin.token"), 16)?;
    let peers: Vec<Peer> = (1..=n)
        .map(|i| {
            let (_, api, cluster) = ports(i);
            Peer {
                id: i,
                cluster: format!("127.0.0.1:{cluster}"),
                api: format!("127.0.0.1:{api}"),
            }
        })
        .collect();
    let mut paths = Vec::new();
    for i in 1..=n {
        let (public, api, cluster) = ports(i);
        let mut c = Config {
            node_id: i,
            data_dir: root.join(format!("node-{i}")),
            ..Config::default()
        };
        c.listen.public = ([127, 0, 0, 1], public).into();
        c.listen.api = ([127, 0, 0, 1], api).into();
        c.listen.cluster = ([127, 0, 0, 1], cluster).into();
        c.cluster.peers = peers.clone();
        c.cluster.secret_file = Some(root.join("cluster.secret"));
        // Servers reach the hub through the supervisor's balanced API port.
        c.hub.hub_connect_url = Some(format!("http://127.0.0.1:{}", FRONT.1));
        // A development cluster: log in with any username (never enable this in production).
        c.auth.kind = "dummy".into();
        c.spawner.local.working_dir =
            Some(root.join("home").join("{username}").display().to_string());
        c.hub.admin_users = vec!["admin".into()];
        c.hub.services = vec![ServiceConfig {
            name: "admin".into(),
            api_token: None,
            api_token_file: Some(root.join("admin.token")),
            admin: true,
            url: None,
            display: false,
            command: Vec::new(),
            environment: Default::default(),
            oauth_no_confirm: false,
        }];
        c.validate()?;
        let p = root.join(format!("node-{i}.toml"));
        std::fs::write(&p, toml::to_string_pretty(&c)?)
            .with_context(|| format!("writing {}", p.display()))?;
        paths.push(p);
    }
    Ok(paths)
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        (1..=9).contains(&args.nodes),
        "--nodes must be between 1 and 9"
    );
    let configs = write_configs(&args.data_dir, args.nodes)?;
    let exe = std::env::current_exe().context("locating the rafthub binary")?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut supervisors = Vec::new();
    for (i, cfg) in configs.iter().enumerate() {
        let id = i as u64 + 1;
        // Fail fast on a replica that cannot even be started (binary gone, ...).
        let child = start_replica(&exe, cfg, id)?;
        supervisors.push(tokio::spawn(supervise(
            exe.clone(),
            cfg.clone(),
            id,
            child,
            stop_rx.clone(),
        )));
    }
    let root = args.data_dir.canonicalize()?;
    let (public, api) = FRONT;
    let backends = |f: fn(u64) -> u16| {
        (1..=args.nodes)
            .map(|i| std::net::SocketAddr::from(([127, 0, 0, 1], f(i))))
            .collect::<Vec<_>>()
    };
    for (port, b) in [
        (public, backends(|i| ports(i).0)),
        (api, backends(|i| ports(i).1)),
    ] {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
        tokio::spawn(balance(l, b));
    }
    println!(
        "rafthub: {} replicas starting (development mode: any username logs in).\n  hub:         http://127.0.0.1:{public}/hub/ (balanced over the replicas)\n  API:         http://127.0.0.1:{api}/hub/api\n  admin token: {}\n  status:      rafthub cluster status --config {}\nCtrl-C stops the cluster.",
        args.nodes,
        root.join("admin.token").display(),
        configs[0].display()
    );
    wait_for_signal().await;
    println!("rafthub: stopping replicas");
    stop_tx.send_replace(true);
    for s in supervisors {
        let _ = s.await;
    }
    Ok(())
}

/// Starts replica `id` with its output prefixed by `[node-<id>]`.
fn start_replica(exe: &Path, cfg: &Path, id: u64) -> anyhow::Result<Child> {
    let mut child = Command::new(exe)
        .arg("serve")
        .arg("--config")
        .arg(cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting replica {id}"))?;
    for out in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                println!("[node-{id}] {l}");
            }
        });
    }
    Ok(child)
}

/// Keeps replica `id` running as a StatefulSet would: one that exits on its own (a storage
/// error, a crash) is started again after a back-off that doubles up to 30 s and resets
/// once a run lasted a minute. On stop: SIGTERM, then SIGKILL after 10 s.
async fn supervise(
    exe: PathBuf,
    cfg: PathBuf,
    id: u64,
    mut child: Child,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    const MAX_BACKOFF: Duration = Duration::from_secs(30);
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = tokio::time::Instant::now();
        let status = tokio::select! {
            status = child.wait() => status,
            _ = stopped(&mut stop) => {
                if let Some(pid) = child.id() {
                    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
                }
                if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
                    eprintln!("rafthub: replica {id} did not stop in time; killing it");
                    let _ = child.kill().await;
                }
                return;
            }
        };
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        let how = match status {
            Ok(s) => s.to_string(),
            Err(e) => e.to_string(),
        };
        println!(
            "rafthub: replica {id} exited ({how}); restarting it in {}s",
            backoff.as_secs()
        );
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped(&mut stop) => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        match start_replica(&exe, &cfg, id) {
            Ok(c) => child = c,
            Err(e) => {
                eprintln!("rafthub: {e:#}");
                return;
            }
        }
    }
}

/// Resolves once the supervisor is told to stop.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
