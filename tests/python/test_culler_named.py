"""jupyterhub-idle-culler with `--remove-named-servers`: each idle named server is stopped and
removed at once (204), so one cull pass does not wait `slow_stop_timeout` per server."""

import sys
import time

import requests

from conftest import fake_spawner_extra
from rafthub_cluster import Cluster


def test_culler_removes_idle_named_servers_without_waiting(tmp_path):
    culler = f"""
[[hub.services]]
name = "cull-idle"
command = ["{sys.executable}", "-m", "jupyterhub_idle_culler", "--timeout=4", "--cull-every=2", "--remove-named-servers=true"]
[[hub.roles]]
name = "culler"
scopes = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
services = ["cull-idle"]
"""
    hub = "allow_named_servers = true\nnamed_server_limit_per_user = 5"
    c = Cluster(tmp_path, hub_extra=hub, extra=fake_spawner_extra(tmp_path) + culler)
    c.start()
    try:
        api = c.replicas[0].api
        assert requests.post(f"{api}/users/idle", headers=c.headers, timeout=10).status_code == 201
        names = ["a", "b", "c"]
        for n in names:
            r = requests.post(f"{api}/users/idle/servers/{n}", headers=c.headers, timeout=30)
            assert r.status_code in (201, 202), r.text
        deadline = time.time() + 30
        while time.time() < deadline:
            servers = requests.get(f"{api}/users/idle", headers=c.headers, timeout=10).json()["servers"]
            if all(servers.get(n, {}).get("ready") for n in names):
                break
            time.sleep(0.3)
        assert all(servers.get(n, {}).get("ready") for n in names), servers
        ready_at = time.time()
        # Idle after 4 s, seen within one 2 s pass: all three removed well before three
        # 10 s stop timeouts would have passed.
        while time.time() < ready_at + 25:
            u = requests.get(f"{api}/users/idle?include_stopped_servers=1", headers=c.headers, timeout=10).json()
            if not any(n in u["servers"] for n in names):
                break
            time.sleep(0.5)
        took = time.time() - ready_at
        assert not any(n in u["servers"] for n in names), u["servers"]
        assert took < 12, f"culling three servers took {took:.1f} s"
        for n in names:
            r = requests.get(f"{api}/users/idle/servers/{n}", headers=c.headers, timeout=10)
            assert r.status_code == 404, (n, r.status_code, r.text)
        logs = "".join(r.log.read_text() for r in c.replicas)
        assert "slow to stop" not in logs
    finally:
        c.stop()
