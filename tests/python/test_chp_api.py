"""The CHP-compatible route API across replicas, with running servers: a route's
last_activity counts traffic through any replica's proxy, as a single CHP would."""

import datetime
import time

import requests

from conftest import fake_spawner_extra
from rafthub_cluster import Cluster, free_port

PROXY_TOKEN = "pytest-proxy-token-0123456789abcdef"


def chp_cluster(tmp_path):
    c = Cluster(tmp_path, extra=fake_spawner_extra(tmp_path))
    for r in c.replicas:
        r.proxy_api = f"http://{r.ip}:{free_port(r.ip)}"
        addr = r.proxy_api.removeprefix("http://")
        with open(r.config, "a") as f:
            f.write(f'\n[proxy]\napi = "{addr}"\nauth_token = "{PROXY_TOKEN}"\n')
    c.start()
    return c


def route_activity(r, spec):
    resp = requests.get(
        f"{r.proxy_api}/api/routes{spec}",
        headers={"Authorization": f"token {PROXY_TOKEN}"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return datetime.datetime.fromisoformat(resp.json()["last_activity"].replace("Z", "+00:00"))


def test_route_last_activity_is_cluster_wide(tmp_path):
    c = chp_cluster(tmp_path)
    try:
        assert requests.post(f"{c.replicas[0].api}/users/alice", headers=c.headers, timeout=10).status_code == 201
        r = requests.post(f"{c.replicas[0].api}/users/alice/server", headers=c.headers, timeout=30)
        assert r.status_code in (201, 202), r.text
        deadline = time.time() + 40
        while time.time() < deadline:
            u = requests.get(f"{c.replicas[2].api}/users/alice", headers=c.headers, timeout=10).json()
            if u["servers"].get("", {}).get("ready"):
                break
            time.sleep(0.3)
        assert u["servers"][""]["ready"], u
        # The route's activity starts at its creation on every replica.
        time.sleep(2.5)
        since = datetime.datetime.now(datetime.timezone.utc)
        time.sleep(1.1)
        for _ in range(5):
            assert requests.get(f"{c.replicas[0].public}/user/alice/api/status", timeout=10).status_code == 200
        # Traffic through replica 1 only: replica 3's listing follows within a few flushes
        # (activity_flush_ms = 500 in these clusters, merged back every fifth flush).
        deadline = time.time() + 20
        while time.time() < deadline:
            if all(route_activity(r, "/user/alice") >= since for r in c.replicas):
                break
            time.sleep(0.5)
        for r in c.replicas:
            assert route_activity(r, "/user/alice") >= since, f"replica {r.id} never saw replica 1's traffic"
        # inactive_since filters by the same merged time on every replica.
        for r in c.replicas:
            listed = requests.get(
                f"{r.proxy_api}/api/routes",
                params={"inactive_since": since.isoformat()},
                headers={"Authorization": f"token {PROXY_TOKEN}"},
                timeout=10,
            ).json()
            assert "/user/alice" not in listed, (r.id, listed)
    finally:
        c.stop()
