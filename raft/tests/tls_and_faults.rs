//! Mutual TLS on the cluster port, and a lossy network.

mod support;

use std::time::Duration;

use rafthub_raft::network::{ClusterClient, TlsConfig};
use rafthub_raft::node::NodeStatus;
use support::{assert_created, create_user, TestCluster};

const T: Duration = Duration::from_secs(15);

/// A CA and one certificate for 127.0.0.1 (all in-process nodes share the address).
fn pki(dir: &std::path::Path) -> TlsConfig {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, &ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("node.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("node.key"), key.serialize_pem()).unwrap();
    TlsConfig {
        cert: dir.join("node.pem"),
        key: dir.join("node.key"),
        ca: dir.join("ca.pem"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t10_cluster_over_mutual_tls() {
    let certs = tempfile::tempdir().unwrap();
    let tls = pki(certs.path());
    let mut c = TestCluster::start_full(3, 5000, Some(tls.clone())).await;
    let leader = c.wait_leader(&[0, 1, 2], T).await;
    for i in 0..3 {
        assert_created(
            &c.node(i)
                .write(create_user(&format!("tls{i}")))
                .await
                .expect("write"),
        );
    }
    // A client with the secret but without a client certificate is refused at the handshake.
    let plain = ClusterClient::new("test-secret", None, None).unwrap();
    let r = plain
        .post::<_, NodeStatus>(
            &c.nodes[leader].addr,
            "/cluster/info",
            &(),
            Duration::from_secs(2),
        )
        .await;
    assert!(r.is_err(), "plain HTTP must not reach a TLS cluster port");
    // With the certificate it works.
    let good = ClusterClient::new("test-secret", None, Some(&tls)).unwrap();
    let st = good
        .post::<_, NodeStatus>(
            &c.nodes[leader].addr,
            "/cluster/info",
            &(),
            Duration::from_secs(2),
        )
        .await
        .expect("mTLS client");
    assert_eq!(st.voters.len(), 3);
    // Failover works over TLS too.
    c.kill(leader).await;
    let rest: Vec<usize> = (0..3).filter(|i| *i != leader).collect();
    c.wait_leader(&rest, T).await;
    assert_created(
        &c.node(rest[0])
            .write(create_user("after"))
            .await
            .expect("write after failover"),
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t20_writes_succeed_and_converge_with_20_percent_request_loss() {
    let c = TestCluster::start(3).await;
    c.wait_leader(&[0, 1, 2], T).await;
    c.faults.set_drop_probability(0.2);
    let mut acked = Vec::new();
    for i in 0..60 {
        let name = format!("lossy{i}");
        if let Ok(o) = c.node(i % 3).write(create_user(&name)).await {
            assert_created(&o);
            acked.push(name);
        }
    }
    assert!(
        acked.len() >= 55,
        "most writes must succeed through 20% loss, got {}",
        acked.len()
    );
    c.faults.heal();
    // The loss may have left an election under way (a node then answers NoLeader at once,
    // by design): the barriers are for after a leader is back.
    c.wait_leader(&[0, 1, 2], T).await;
    for i in 0..3 {
        c.node(i).linearizable_barrier(T).await.expect("barrier");
        let st = c.node(i).state();
        for n in &acked {
            assert!(st.user(n).is_some(), "node {} misses {n}", i + 1);
        }
    }
    c.shutdown().await;
}
