//! The TCP transport: plain HTTP/1.1 on a listener the caller bound
//! (mini-redis style `serve(listener, fake, shutdown)`), plus kubeconfig
//! files pointing at it, for tests that run real hub processes.
//!
//! Any bearer token is accepted; the token is taken as the client's name in
//! the request log, so each hub process gets its own kubeconfig and the log
//! tells them apart.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tower_service::Service as _;

use crate::fake::FakeKube;

/// Serves `fake` on `listener` until `shutdown` completes, then drops every
/// open connection (watch streams included) and returns.
pub async fn serve(
    listener: TcpListener,
    fake: FakeKube,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = accepted?;
                let svc = fake.service_at(peer);
                conns.spawn(async move {
                    let handler = hyper::service::service_fn(move |req| svc.clone().call(req));
                    // A client hanging up mid-watch is normal; nothing to report.
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), handler).await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.shutdown().await;
    Ok(())
}

/// A kubeconfig (YAML) for `server`, authenticating with `client` as bearer token.
pub fn kubeconfig_yaml(server: &str, client: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-fake\n  cluster:\n    server: {server}\n\
         contexts:\n- name: kube-fake\n  context:\n    cluster: kube-fake\n    user: {client}\n    namespace: {namespace}\n\
         current-context: kube-fake\nusers:\n- name: {client}\n  user:\n    token: {client}\n"
    )
}

/// A fake served on 127.0.0.1; stops when dropped or shut down.
#[derive(Debug)]
pub struct FakeServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    namespace: String,
}

impl FakeServer {
    /// Binds `127.0.0.1:0` and serves `fake` in a task.
    pub async fn start(fake: FakeKube) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let namespace = fake.default_namespace().to_string();
        let task = tokio::spawn(serve(listener, fake, async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            addr,
            stop: Some(stop),
            task: Some(task),
            namespace,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kubeconfig YAML for one client.
    pub fn kubeconfig(&self, client: &str) -> String {
        kubeconfig_yaml(&self.url(), client, &self.namespace)
    }

    /// Writes the kubeconfig for `client` to `path` (for `KUBECONFIG=path`).
    pub fn write_kubeconfig(&self, path: &Path, client: &str) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig(client))
    }

    /// A `kube::Client` for `client` that talks to this server over TCP.
    pub async fn client(&self, client: &str) -> Result<kube::Client, kube::Error> {
        let kc = kube::config::Kubeconfig::from_yaml(&self.kubeconfig(client))
            .map_err(kube::Error::InferKubeconfig)?;
        let cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(kube::Error::InferKubeconfig)?;
        kube::Client::try_from(cfg)
    }

    /// Stops accepting, drops open connections and waits for the server task.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
