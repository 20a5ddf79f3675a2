//! One replica, wired together: storage → Raft node → cluster port, API port, public port
//! (the embedded proxy), the leader's duties and the activity flusher.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;

use rafthub_proxy::{LocalHandler, Proxy, ProxyConfig, RouteApi};
use rafthub_raft::network::serve_http;
use rafthub_raft::node::{cluster_api, Node, NodeConfig};
use rafthub_raft::store;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::hub::Hub;

/// Bound listeners of one replica. Tests bind port 0 and pass them in.
pub struct Listeners {
    pub public: TcpListener,
    pub api: TcpListener,
    pub cluster: TcpListener,
    pub proxy_api: Option<TcpListener>,
}

impl Listeners {
    /// Binds the configured addresses, failing with the address in the message.
    pub async fn bind(cfg: &Config) -> anyhow::Result<Listeners> {
        async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} ({what} port)"))
        }
        Ok(Listeners {
            public: bind(cfg.listen.public, "public").await?,
            api: bind(cfg.listen.api, "api").await?,
            cluster: bind(cfg.listen.cluster, "cluster").await?,
            proxy_api: match cfg.proxy.api {
                Some(a) => Some(bind(a, "proxy api").await?),
                None => None,
            },
        })
    }
}

/// The node configuration derived from the replica's config.
pub fn node_config(cfg: &Config) -> anyhow::Result<NodeConfig> {
    let secret = match cfg.secret()? {
        Some(s) => s,
        // A single replica with no secret: nobody else may join, so a random secret is fine.
        None => hex::encode(rand::random::<[u8; 24]>()),
    };
    let (min, max) = cfg.election_timeouts();
    let bind_ip: Option<IpAddr> = cfg.cluster.bind_outgoing.then(|| cfg.listen.cluster.ip());
    let bind_ip = bind_ip.filter(|ip| !ip.is_unspecified());
    Ok(NodeConfig {
        id: cfg.node_id,
        peers: cfg.peer_map(),
        secret,
        tls: cfg.cluster.tls.clone(),
        bind_ip,
        election_timeout_min: min,
        election_timeout_max: max,
        heartbeat: Duration::from_millis(cfg.cluster.heartbeat_ms),
        snapshot_every: cfg.cluster.snapshot_every,
        write_timeout: Duration::from_millis(cfg.cluster.write_timeout_ms),
        auto_join: cfg.cluster.auto_join,
        faults: None,
    })
}

/// How this replica reaches its own API port (the proxy's default route and error pages).
fn local_api_url(api: SocketAddr) -> String {
    let ip = if api.ip().is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        api.ip()
    };
    format!("http://{}", SocketAddr::new(ip, api.port()))
}

fn proxy_config(cfg: &Config, hub: &Hub, local: LocalHandler) -> ProxyConfig {
    let api = local_api_url(cfg.listen.api);
    ProxyConfig {
        local_hub: Some(local),
        error_target: Some(format!("{api}{}error", hub.hub_prefix())),
        request_timeout: cfg.proxy.request_timeout_ms.map(Duration::from_millis),
        upstream_max_idle_per_host: cfg
            .proxy
            .upstream_max_idle_per_host
            .unwrap_or(ProxyConfig::default().upstream_max_idle_per_host),
        tls: match (&cfg.proxy.tls_cert, &cfg.proxy.tls_key) {
            (Some(c), Some(k)) => Some(rafthub_proxy::TlsConfig::new(c, k)),
            _ => None,
        },
        upstream_ca_file: cfg.proxy.upstream_ca_file.clone(),
        io_threads: cfg.proxy.io_threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }),
        ..ProxyConfig::default()
    }
}

/// A Kubernetes client from the service account or `KUBECONFIG`, retried with backoff for
/// about five minutes (an API server that is still starting); `None` means this replica
/// cannot spawn, which is logged.
async fn kube_client() -> Option<kube::Client> {
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=10 {
        match kube::Client::try_default().await {
            Ok(c) => return Some(c),
            Err(e) if attempt < 10 => {
                tracing::error!(error = %e, "cannot build a Kubernetes client; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
            Err(e) => {
                tracing::error!(error = %e, "no Kubernetes client: this replica cannot spawn");
            }
        }
    }
    None
}

/// Starts the controller once the cluster id is known (it names this cluster's servers).
async fn start_controller(hub: Hub, cfg: Config, hub_api_url: String) {
    let mut applied = hub.node.applied();
    let cluster_id = loop {
        if let Some(c) = hub.node.state().cluster_config() {
            break c.cluster_id.clone();
        }
        if applied.changed().await.is_err() {
            return;
        }
    };
    let spawner: std::sync::Arc<dyn crate::spawner::Spawner> = if cfg.spawner.kind == "kubernetes" {
        // In-cluster (service account) or KUBECONFIG. Every replica builds the spawner, so
        // its watches are warm on followers too; only the leader's controller acts.
        let Some(client) = kube_client().await else {
            return;
        };
        std::sync::Arc::new(crate::spawner::kube::KubeSpawner::new(
            client,
            cfg.spawner.clone(),
            cluster_id,
        ))
    } else {
        std::sync::Arc::new(crate::spawner::local::LocalSpawner::new(
            cfg.spawner.clone(),
            cluster_id,
            &cfg.data_dir,
        ))
    };
    crate::controller::Controller::new(hub, spawner, cfg.spawner.clone(), hub_api_url)
        .run()
        .await;
}

/// How long a leader's step-down may delay its exit (`Node::step_down`).
const STEP_DOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs one replica until `shutdown` resolves or `POST /hub/api/shutdown` asks it to stop.
pub async fn run(
    cfg: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let node_cfg = node_config(&cfg)?;
    let store = store::open(&cfg.data_dir, cfg.node_id)
        .with_context(|| format!("cannot open data directory {}", cfg.data_dir.display()))?;
    let hub_registry = crate::hub::registry(&cfg.hub)?;
    crate::leader::validate_roles(&cfg.hub, &hub_registry)?;
    let proxy_token = cfg.proxy_token()?;
    let node = Node::start(node_cfg, store)
        .await
        .context("cannot start the Raft node")?;
    let cluster_tls = match &cfg.cluster.tls {
        Some(t) => Some(t.server_config().context("cluster TLS")?),
        None => None,
    };
    let hub = Hub::new(node.clone(), cfg.hub.clone())?
        .with_auth(cfg.auth.clone())
        .map_err(anyhow::Error::msg)
        .context("[auth]")?
        .with_spawner(cfg.spawner.clone());
    let api_url = local_api_url(cfg.listen.api);
    let hub_router: Arc<OnceLock<Router>> = Arc::new(OnceLock::new());
    let proxy = Proxy::new(
        hub.routes.clone(),
        proxy_config(
            &cfg,
            &hub,
            crate::local_hub::local_hub(&api_url, hub.hub_prefix(), hub_router.clone()),
        ),
    )
    .context("proxy configuration")?;
    let hub = hub.with_proxy(proxy.clone());
    let router = crate::web::router(hub.clone()).merge(crate::api::router(hub.clone()));
    let _ = hub_router.set(router.clone());

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    // The table is complete before the listeners serve; later changes follow incrementally.
    let routes_seen = hub.node.applied().borrow().routes_version;
    let mirror = crate::proxy_glue::sync_table(&hub.routes, &hub, &api_url);
    let mut tasks = vec![
        tokio::spawn(crate::proxy_glue::follow_routes(
            hub.clone(),
            mirror,
            routes_seen,
        )),
        tokio::spawn(crate::leader::run(hub.clone())),
        tokio::spawn({
            let h = hub.clone();
            crate::activity::flusher(
                node.clone(),
                hub.activity.clone(),
                Duration::from_millis(cfg.hub.activity_flush_ms),
                {
                    // The replicated activity flows back into the CHP API's listing every
                    // few flushes: O(active servers), and no client polls it more often.
                    let ticks = std::sync::atomic::AtomicU32::new(0);
                    move || {
                        crate::proxy_glue::drain_activity(&h);
                        if ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 5 == 4 {
                            crate::proxy_glue::merge_cluster_activity(&h);
                        }
                    }
                },
            )
        }),
    ];
    let servers = vec![
        tokio::spawn({
            let s = stopped();
            let r = cluster_api::router(node.clone());
            async move {
                let _ = serve_http(listeners.cluster, r, cluster_tls, s).await;
            }
        }),
        tokio::spawn({
            let s = stopped();
            let r = router;
            async move {
                let _ = serve_http(listeners.api, r, None, s).await;
            }
        }),
        tokio::spawn(rafthub_proxy::serve(
            listeners.public,
            proxy.clone(),
            stopped(),
        )),
    ];
    let hub_api_url = format!(
        "{}{}api",
        cfg.hub
            .hub_connect_url
            .clone()
            .unwrap_or_else(|| local_api_url(cfg.listen.api))
            .trim_end_matches('/'),
        hub.hub_prefix()
    );
    tasks.extend(crate::managed_services::start(&hub, &hub_api_url));
    tasks.push(tokio::spawn(start_controller(
        hub.clone(),
        cfg.clone(),
        hub_api_url,
    )));
    if let Some(l) = listeners.proxy_api {
        let writer = crate::proxy_glue::RaftRouteWriter { hub: hub.clone() };
        let api = RouteApi::new(hub.routes.clone(), writer, proxy_token)
            .with_metrics(proxy.metrics().clone());
        tasks.push(tokio::spawn(rafthub_proxy::serve_api(l, api, stopped())));
    }
    tracing::info!(
        node = cfg.node_id,
        api = %cfg.listen.api,
        public = %cfg.listen.public,
        cluster = %cfg.listen.cluster,
        "replica started"
    );
    let mut api_stop = hub.shutdown.subscribe();
    let core_failure = tokio::select! {
        _ = shutdown => None,
        _ = api_stop.wait_for(|s| *s) => None,
        reason = hub.node.core_stopped() => Some(reason),
    };
    match &core_failure {
        // Its durable state is intact up to what it acknowledged; a restart (the pod's, or
        // the operator's once the disk is fixed) recovers from there, and the other
        // replicas serve meanwhile. Staying up would leave a replica that answers liveness
        // probes but can neither apply nor vote, behind a route table that no longer moves.
        Some(reason) => tracing::error!(%reason, "the Raft core stopped; exiting"),
        None => {
            tracing::info!("shutting down");
            // A leader hands over first, while this replica still serves: requests in
            // flight here wait for the successor instead of failing, and the cluster skips
            // a crash failover.
            hub.node.step_down(STEP_DOWN_TIMEOUT).await;
        }
    }
    hub.shutdown.send_replace(true);
    stop_tx.send_replace(true);
    let node = hub.node.clone();
    let _ = tokio::time::timeout(Duration::from_secs(5), node.shutdown()).await;
    for h in servers {
        let _ = tokio::time::timeout(Duration::from_secs(5), h).await;
    }
    for t in tasks {
        t.abort();
    }
    match core_failure {
        Some(reason) => Err(anyhow::anyhow!(
            "the Raft core stopped ({reason}); restart the replica once its data directory is writable"
        )),
        None => Ok(()),
    }
}
