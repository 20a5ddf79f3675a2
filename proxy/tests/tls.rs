//! TLS termination: HTTP/1.1 and HTTP/2 (ALPN) over TLS, forwarded proto,
//! and certificate reload when the PEM files change.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper::{Method, StatusCode};
use rafthub_proxy::{Proxy, ProxyConfig, RouteTable, TlsConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use serde_json::json;
use support::backend::http_echo;
use support::client::{send_h2, send_on};
use support::ws::{read_frame, read_head, write_frame, ws_echo, BINARY};
use support::{route, start_proxy, target};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Accepts any certificate (the tests compare the presented one instead).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        msg: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(msg, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        msg: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(msg, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

async fn tls_connect(addr: std::net::SocketAddr, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let provider = Arc::new(ring::default_provider());
    let mut cfg = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    support::bounded(
        "tls handshake",
        TlsConnector::from(Arc::new(cfg)).connect(name, tcp),
    )
    .await
    .expect("handshake")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture_cert(name: &str) -> Vec<u8> {
    let pem = std::fs::read(fixture(name)).expect("fixture");
    let cert = rustls_pemfile::certs(&mut pem.as_slice())
        .next()
        .expect("one cert")
        .expect("pem");
    cert.to_vec()
}

fn presented(s: &TlsStream<TcpStream>) -> Vec<u8> {
    s.get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default()
}

/// Install cert/key pair `n` at the given paths, with a fresh mtime.
fn install(n: u8, cert: &Path, key: &Path, bump: Duration) {
    for (src, dst) in [(format!("cert{n}.pem"), cert), (format!("key{n}.pem"), key)] {
        std::fs::copy(fixture(&src), dst).expect("copy fixture");
        let f = std::fs::File::options()
            .write(true)
            .open(dst)
            .expect("open");
        f.set_modified(SystemTime::now() + bump).expect("set mtime");
    }
}

/// A TLS proxy with certificate pair 1 in a fresh directory (kept alive by the returned
/// guard) and one route `/` to `backend`.
async fn tls_proxy(
    backend: std::net::SocketAddr,
    reload_interval: Duration,
) -> (tempfile::TempDir, support::TestProxy) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    install(1, &cert, &key, Duration::ZERO);
    let table = RouteTable::new(false);
    table.upsert(route("/", &target(backend), json!({})));
    let mut tls = TlsConfig::new(&cert, &key);
    tls.reload_interval = reload_interval;
    let p = start_proxy(
        table,
        ProxyConfig {
            tls: Some(tls),
            ..Default::default()
        },
    )
    .await;
    (dir, p)
}

#[tokio::test]
async fn tls_http1_h2_and_reload() {
    let backend = http_echo().await;
    let (dir, p) = tls_proxy(backend.addr, Duration::from_millis(100)).await;
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));

    let s = tls_connect(p.addr, &[b"http/1.1"]).await;
    assert_eq!(presented(&s), fixture_cert("cert1.pem"));
    let r = send_on(s, Method::GET, "/secure", &[], bytes::Bytes::new()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.echoed("x-forwarded-proto").as_deref(), Some("https"));
    assert_eq!(r.echoed("x-forwarded-port").as_deref(), Some("443"));

    let s = tls_connect(p.addr, &[b"h2"]).await;
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let r = send_h2(s, "/over-h2").await;
    assert_eq!(
        (r.status, r.json()["uri"].as_str()),
        (StatusCode::OK, Some("/over-h2"))
    );

    // The watcher swaps in the new pair for new connections.
    install(2, &cert, &key, Duration::from_secs(5));
    let want = fixture_cert("cert2.pem");
    let mut seen = Vec::new();
    for _ in 0..25 {
        seen = presented(&tls_connect(p.addr, &[]).await);
        if seen == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, want, "reloaded certificate served");

    // A broken replacement is rejected and the current one stays.
    std::fs::write(&key, "not a key").expect("write");
    let f = std::fs::File::options()
        .write(true)
        .open(&key)
        .expect("open");
    f.set_modified(SystemTime::now() + Duration::from_secs(10))
        .expect("mtime");
    assert!(p.proxy.reload_tls().is_err());
    assert_eq!(presented(&tls_connect(p.addr, &[]).await), want);
}

/// A TLS client side cannot use the socket relay; its tunnel is copied through TLS.
#[tokio::test]
async fn websocket_over_tls() {
    let backend = ws_echo().await;
    let (_dir, p) = tls_proxy(backend.addr, Duration::from_secs(5)).await;
    let mut s = tls_connect(p.addr, &[b"http/1.1"]).await;
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: proxy.test\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .expect("handshake");
    let head = support::bounded("ws head", read_head(&mut s))
        .await
        .unwrap_or_default();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let big: Vec<u8> = (0..300_000).map(|i| (i % 251) as u8).collect();
    for msg in [&b"hello"[..], &big] {
        write_frame(&mut s, BINARY, msg, true).await.expect("send");
        let (op, got) = support::bounded("echo", read_frame(&mut s))
            .await
            .expect("echo frame");
        assert!(op == BINARY && got == msg, "echo of {} bytes", msg.len());
    }
    assert_eq!(p.proxy.metrics().active_websockets(), 1);
    drop(s);
    let m = p.proxy.metrics().clone();
    assert!(
        support::eventually(support::WAIT, || m.active_websockets() == 0).await,
        "tunnel ended after the client left"
    );
}

#[tokio::test]
async fn bad_tls_files_fail_at_startup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = TlsConfig::new(dir.path().join("nope.crt"), dir.path().join("nope.key"));
    let cfg = ProxyConfig {
        tls: Some(missing),
        ..Default::default()
    };
    assert!(Proxy::new(RouteTable::new(false), cfg).is_err());
    let swapped = TlsConfig::new(fixture("key1.pem"), fixture("cert1.pem"));
    let cfg = ProxyConfig {
        tls: Some(swapped),
        ..Default::default()
    };
    assert!(Proxy::new(RouteTable::new(false), cfg).is_err());
    let mismatched = TlsConfig::new(fixture("cert1.pem"), fixture("key2.pem"));
    let cfg = ProxyConfig {
        tls: Some(mismatched),
        ..Default::default()
    };
    assert!(
        Proxy::new(RouteTable::new(false), cfg).is_err(),
        "key must match the certificate"
    );
}

/// A CA (`ca.pem`) and a certificate for 127.0.0.1 it signed (`leaf.pem`, `leaf.key`): webpki
/// refuses a CA certificate as a server's own, so the fixtures cannot play both parts.
fn pki(dir: &Path) -> TlsConfig {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca_params, &ca_key);
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("leaf");
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("write");
    std::fs::write(dir.join("leaf.pem"), leaf.pem()).expect("write");
    std::fs::write(dir.join("leaf.key"), key.serialize_pem()).expect("write");
    TlsConfig::new(dir.join("leaf.pem"), dir.join("leaf.key"))
}

/// `https://` targets: a plain proxy in front of TLS-terminating ones whose certificate an
/// internal CA signed. With `upstream_ca_file` naming that CA, requests and websockets pass;
/// with only the system's roots the handshake fails and the client gets the dead-upstream 503.
#[tokio::test]
async fn https_targets_are_verified_against_the_configured_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = pki(dir.path());
    let tls_backend = |backend: std::net::SocketAddr| {
        let table = RouteTable::new(false);
        table.upsert(route("/", &target(backend), json!({})));
        start_proxy(
            table,
            ProxyConfig {
                tls: Some(tls.clone()),
                ..Default::default()
            },
        )
    };
    let echo = http_echo().await;
    let tls_http = tls_backend(echo.addr).await;
    let ws = ws_echo().await;
    let tls_ws = tls_backend(ws.addr).await;
    let table = RouteTable::new(false);
    let https = |a: std::net::SocketAddr| format!("https://127.0.0.1:{}", a.port());
    table.upsert(route("/", &https(tls_http.addr), json!({})));
    table.upsert(route("/ws", &https(tls_ws.addr), json!({})));
    let front = start_proxy(
        table.clone(),
        ProxyConfig {
            upstream_ca_file: Some(dir.path().join("ca.pem")),
            ..Default::default()
        },
    )
    .await;
    for path in ["/a", "/b?q=1", "/a"] {
        let r = support::client::get(front.addr, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.json()["uri"].as_str(), Some(path));
        assert_eq!(r.echoed("x-forwarded-proto").as_deref(), Some("http,https"));
    }
    let mut c = support::ws::WsClient::connect(front.addr, "/ws").await;
    assert!(c.upgraded(), "{}", c.head);
    c.echo(b"over an https target").await;
    c.echo(&[7u8; 200_000]).await;

    let untrusting = start_proxy(table, ProxyConfig::default()).await;
    let r = support::client::get(untrusting.addr, "/a").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
}
