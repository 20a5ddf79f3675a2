//! Proxy availability: a tiny backend on 127.0.0.1, one route to it that exists before the
//! load starts, then continuous GETs through every replica's public port. Enabled only when
//! the proxy answers `GET /_chp_healthz` with 200.
//!
//! The route is the admin service's (`/services/jepsen/`, from its `url` in the config), so
//! the hub itself maintains it; the harness also (re)adds it through the CHP-compatible
//! route API. A route that belongs to no server or service would be deleted by the leader's
//! route reconciliation (upstream `check_routes`), which is correct hub behaviour.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::sleep;

use super::client::{Ctx, Pending, Reply};
use crate::cluster::config::NodeAddr;
use crate::history::Outcome;

/// The route prefix the workload proxies through.
pub const ROUTE: &str = "/services/jepsen";
const BODY: &str = "jepsen-backend-ok";

#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// Port of the CHP route API on each replica's address.
    pub api_port: u16,
    /// Token for the route API (`Authorization: token ...`); default: the admin token.
    pub token: Option<String>,
    /// Backend port on 127.0.0.1; 0 picks a free one.
    pub backend_port: u16,
}

/// Whether every replica's proxy is wired up (`/_chp_healthz` answers 200).
pub async fn available(nodes: &[NodeAddr]) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    for n in nodes {
        let url = format!("http://{}/_chp_healthz", n.public());
        match http.get(&url).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => return Err(format!("{url} answered {}", r.status())),
            Err(e) => return Err(format!("{url}: {e}")),
        }
    }
    Ok(())
}

/// Binds the backend's port (0 = any free one), so the configs can name it.
pub async fn bind_backend(port: u16) -> anyhow::Result<(TcpListener, u16)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    Ok((listener, port))
}

/// Serves `200 jepsen-backend-ok` to anything, one request per connection.
pub fn start_backend(listener: TcpListener) {
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                // Read the request head (bounded); the body, if any, is ignored.
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 65536 {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
                    BODY.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
}

/// Adds the route through the first replica's route API and waits until every replica
/// proxies it.
pub async fn add_route(
    nodes: &[NodeAddr],
    opts: &ProxyOptions,
    admin_token: &str,
    backend: u16,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let token = opts.token.as_deref().unwrap_or(admin_token);
    let url = format!("http://{}:{}/api/routes{ROUTE}", nodes[0].ip, opts.api_port);
    let body = json!({"target": format!("http://127.0.0.1:{backend}")});
    let r = http
        .post(&url)
        .header("Authorization", format!("token {token}"))
        .json(&body)
        .send()
        .await?;
    anyhow::ensure!(
        r.status().is_success(),
        "adding the route at {url}: {}",
        r.status()
    );
    for n in nodes {
        let url = format!("http://{}{ROUTE}/probe", n.public());
        let mut ok = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(&url).send().await {
                if r.status().is_success() && r.text().await.map(|t| t == BODY).unwrap_or(false) {
                    ok = true;
                    break;
                }
            }
            sleep(Duration::from_millis(100)).await;
        }
        anyhow::ensure!(ok, "the route does not work through node {}", n.id);
    }
    Ok(())
}

/// One client per replica: GET through its proxy every `delay` until the deadline.
pub async fn client(ctx: Ctx, node: NodeAddr, delay: Duration, max_ops: usize) {
    let http = match reqwest::Client::builder()
        .local_address(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
        .connect_timeout(Duration::from_secs(1))
        // Generous: a proxy that is really down refuses or errors; a short timeout would
        // count machine-wide scheduling stalls on a shared CI box as outages.
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(h) => h,
        Err(_) => return,
    };
    let process = ctx.new_process();
    for seq in 0..max_ops {
        if !ctx.running() {
            break;
        }
        let p = Pending::start(&ctx.rec, process, "proxy-get", None, Value::Null, node.id);
        let url = format!("http://{}{ROUTE}/{seq}", node.public());
        let reply = match http.get(&url).send().await {
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                let good = status.is_success() && body == BODY;
                Reply {
                    outcome: if good { Outcome::Ok } else { Outcome::Fail },
                    status: Some(status.as_u16()),
                    body: Value::Null,
                    error: (!good).then(|| {
                        format!("{status}: {}", body.chars().take(100).collect::<String>())
                    }),
                }
            }
            Err(e) => Reply {
                outcome: Outcome::Fail,
                status: None,
                body: Value::Null,
                error: Some(super::client::describe_error(&e)),
            },
        };
        p.finish(&ctx.rec, &reply, None);
        sleep(delay).await;
    }
}
