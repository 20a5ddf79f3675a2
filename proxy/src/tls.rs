//! TLS termination with rustls (ring provider). The server config lives in
//! an `ArcSwap`: new connections pick up the current one, and a watcher
//! swaps it when the PEM files' mtimes change (cert-manager renewals),
//! without dropping established connections. A bad new file pair is logged
//! and the previous config stays in use.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use rustls::pki_types::CertificateDer;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::TlsConfig;

/// Why the TLS files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no certificate found in {0}")]
    NoCertificate(PathBuf),
    #[error("no private key found in {0}")]
    NoKey(PathBuf),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

pub(crate) struct TlsReloader {
    cfg: TlsConfig,
    current: ArcSwap<ServerConfig>,
    stamps: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The certificates of a PEM file (at least one).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Io {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

fn build(cfg: &TlsConfig) -> Result<ServerConfig, TlsError> {
    let io_err = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Io { path, source }
    };
    let certs = read_certs(&cfg.cert_path)?;
    let key_pem = read(&cfg.key_path)?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .map_err(io_err(&cfg.key_path))?
        .ok_or_else(|| TlsError::NoKey(cfg.key_path.clone()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut sc = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    sc.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(sc)
}

impl TlsReloader {
    pub fn load(cfg: TlsConfig) -> Result<Self, TlsError> {
        let stamps = (mtime(&cfg.cert_path), mtime(&cfg.key_path));
        let sc = build(&cfg)?;
        Ok(TlsReloader {
            cfg,
            current: ArcSwap::from_pointee(sc),
            stamps: Mutex::new(stamps),
        })
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.load_full())
    }

    /// Rebuild if either file's mtime moved. On error the old config stays
    /// and the stamps are not advanced, so the next check retries.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = (mtime(&self.cfg.cert_path), mtime(&self.cfg.key_path));
        let mut stamps = self.stamps.lock();
        if *stamps == now {
            return Ok(false);
        }
        let sc = build(&self.cfg)?;
        self.current.store(Arc::new(sc));
        *stamps = now;
        tracing::info!(cert = %self.cfg.cert_path.display(), "reloaded TLS certificate");
        Ok(true)
    }
}

/// Poll the files every `reload_interval` until `stop` fires.
pub(crate) async fn watch(reloader: Arc<TlsReloader>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(reloader.cfg.reload_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        if let Err(e) = reloader.reload_if_changed() {
            tracing::warn!(error = %e, "TLS reload failed; keeping the previous certificate");
        }
    }
}
