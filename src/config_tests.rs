//! Config parsing and validation: bad input gives a clear error naming the key.

use super::*;

#[track_caller]
fn check_err(toml_text: &str, expect: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("c.toml");
    std::fs::write(&p, toml_text).expect("write");
    let err = Config::from_file(&p)
        .and_then(|c| c.validate().map(|_| c))
        .expect_err("must fail");
    let msg = err.to_string();
    assert!(
        msg.contains(expect),
        "error {msg:?} should mention {expect:?}"
    );
}

#[test]
fn defaults_are_valid() {
    Config::default().validate().expect("defaults validate");
}

#[test]
fn bad_configs_are_rejected_with_the_key_named() {
    check_err("node_id = \"one\"", "node_id");
    check_err("nodeid = 1", "unknown field");
    check_err("[cluster]\nheartbeat_ms = 700", "cluster.heartbeat_ms");
    check_err(
        "node_id = 4\n[cluster]\nsecret = \"0123456789abcdef\"\npeers = [{id = 1, cluster = \"a:1\"}, {id = 2, cluster = \"b:1\"}]",
        "node 4 is not in cluster.peers",
    );
    check_err(
        "[cluster]\npeers = [{id = 1, cluster = \"a:1\"}, {id = 2, cluster = \"b:1\"}]",
        "needs a shared secret",
    );
    check_err(
        "[cluster]\nsecret = \"short\"\npeers = [{id = 1, cluster = \"a:1\"}, {id = 2, cluster = \"b:1\"}]",
        "at least 16",
    );
    check_err("[hub]\nbase_url = \"hub\"", "hub.base_url");
    check_err("[proxy]\nio_threads = -1", "io_threads");
    check_err("[proxy]\nio_threads = 100000", "proxy.io_threads");
    check_err(
        "[cluster]\npeers = [{id = 1, cluster = \"nohost\"}]",
        "has no port",
    );
    check_err(
        "[[hub.services]]\nname = \"x\"\napi_token = \"short\"",
        "shorter than 8",
    );
    check_err(
        "[proxy]\nupstream_ca_file = \"/nonexistent/ca.pem\"",
        "proxy.upstream_ca_file",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").expect("write");
    check_err(
        &format!(
            "[proxy]\nupstream_ca_file = {:?}",
            not_pem.display().to_string()
        ),
        "no certificate found",
    );
}

#[test]
fn peer_specs_parse() {
    assert_eq!(
        parse_peer("2=127.0.0.2:8082/127.0.0.2:8081").expect("parse"),
        Peer {
            id: 2,
            cluster: "127.0.0.2:8082".into(),
            api: "127.0.0.2:8081".into()
        }
    );
    assert_eq!(
        parse_peer("3=hub-2.peers:8082").expect("parse").cluster,
        "hub-2.peers:8082"
    );
    for bad in ["x=1:2", "2", "2=", "2=nohostport"] {
        assert!(parse_peer(bad).is_err(), "{bad}");
    }
}

#[test]
fn written_local_cluster_configs_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let paths = crate::local_cluster::write_configs(dir.path(), 3).expect("write");
    for (i, p) in paths.iter().enumerate() {
        let c = Config::from_file(p).expect("read back");
        c.validate().expect("valid");
        assert_eq!(c.node_id, i as u64 + 1);
        assert_eq!(c.cluster.peers.len(), 3);
    }
}
