"""Spawning under faults: the leader killed mid-spawn, a spawn storm against
`concurrent_spawn_limit`, and broken servers. The hub never restarts and keeps serving."""

import concurrent.futures
import os
import time

import requests

from conftest import fake_spawner_extra
from rafthub_cluster import Cluster, servers_under


def server_processes(user, root):
    return servers_under(root, user)


def cluster_with(tmp_path, hub="", **kw):
    c = Cluster(tmp_path, hub_extra=hub, extra=fake_spawner_extra(tmp_path, **kw))
    c.start()
    return c


def server(c, r, user):
    return requests.get(f"{r.api}/users/{user}", headers=c.headers, timeout=10).json().get("servers", {}).get("")


def wait_phase(c, user, want, timeout=40):
    deadline = time.time() + timeout
    s = None
    while time.time() < deadline:
        for r in c.replicas:
            if r.proc is None:
                continue
            try:
                s = server(c, r, user)
            except requests.RequestException:
                continue
            if want(s):
                return s
        time.sleep(0.2)
    raise AssertionError(f"{user}: {s}")


def test_leader_killed_mid_spawn_leaves_exactly_one_server(tmp_path):
    c = cluster_with(tmp_path, delay=3, spawner="slow_spawn_timeout_s = 0")
    try:
        leader = c.leader()
        via = next(r for r in c.replicas if r is not leader)
        assert requests.post(f"{via.api}/users/alice", headers=c.headers, timeout=10).status_code == 201
        r = requests.post(f"{via.api}/users/alice/server", headers=c.headers, timeout=30)
        assert r.status_code == 202, r.text
        time.sleep(1.0)  # the attempt is running: process started, not listening yet
        leader.kill()
        s = wait_phase(c, "alice", lambda s: s is not None and not s.get("pending"))
        if s.get("ready"):
            assert len(server_processes("alice", tmp_path)) == 1, server_processes("alice", tmp_path)
        else:
            assert server_processes("alice", tmp_path) == []
        # The user can stop and start again.
        assert requests.delete(f"{via.api}/users/alice/server", headers=c.headers, timeout=30).status_code in (202, 204)
        wait_phase(c, "alice", lambda s: not s)
        assert server_processes("alice", tmp_path) == []
        assert requests.post(f"{via.api}/users/alice/server", headers=c.headers, timeout=30).status_code in (201, 202)
        wait_phase(c, "alice", lambda s: s and s.get("ready"))
        assert len(server_processes("alice", tmp_path)) == 1
    finally:
        c.stop()


def test_spawn_storm_respects_concurrent_spawn_limit(tmp_path):
    c = cluster_with(tmp_path, delay=0.5, hub="concurrent_spawn_limit = 20", spawner="slow_spawn_timeout_s = 0")
    users = [f"s{i:03d}" for i in range(200)]
    try:
        api = c.replicas[0].api
        assert requests.post(f"{api}/users", headers=c.headers, json={"usernames": users}, timeout=60).status_code == 201

        def start(i):
            r = c.replicas[i % 3]
            return users[i], requests.post(f"{r.api}/users/{users[i]}/server", headers=c.headers, timeout=60)

        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            results = list(pool.map(start, range(200)))
        accepted = [u for u, r in results if r.status_code in (201, 202)]
        throttled = [r for _, r in results if r.status_code == 429]
        assert len(accepted) + len(throttled) == 200, [r.status_code for _, r in results]
        assert throttled, "200 concurrent spawns must hit a limit of 20"
        for r in throttled:
            retry = int(r.headers["Retry-After"])
            assert 30 <= retry <= 60
            assert r.json()["message"].startswith("Too many users trying to log in right now."), r.text
        for u in accepted:
            wait_phase(c, u, lambda s: s and s.get("ready"), timeout=120)
        assert all(len(server_processes(u, tmp_path)) == 1 for u in accepted)
        # Stop everything: no process may be left behind.
        for u in accepted:
            requests.delete(f"{api}/users/{u}/server", headers=c.headers, timeout=60)
        deadline = time.time() + 60
        while time.time() < deadline and any(server_processes(u, tmp_path) for u in accepted):
            time.sleep(0.5)
        assert not [u for u in accepted if server_processes(u, tmp_path)], "leaked server processes"
    finally:
        c.stop()


def check_spawn_fails(c, user, fragment):
    """A spawn that must fail: the API answers, the failure is recorded and reported."""
    r0 = c.replicas[0]
    requests.post(f"{r0.api}/users/{user}", headers=c.headers, timeout=10)
    r = requests.post(f"{r0.api}/users/{user}/server", headers=c.headers, timeout=60)
    assert r.status_code in (202, 500), r.text
    s = wait_phase(c, user, lambda s: not s, timeout=60)
    assert s is None or s == {}
    u = requests.get(f"{r0.api}/users/{user}?include_stopped_servers=1", headers=c.headers, timeout=10).json()
    assert u["servers"][""]["stopped"] is True
    # The progress stream reports the failure.
    ev = requests.get(f"{r0.api}/users/{user}/server/progress", headers=c.headers, timeout=10).text
    assert '"failed": true' in ev.replace('"failed":true', '"failed": true') and fragment in ev, ev
    assert server_processes(user, c.root) == []
    assert requests.get(f"{r0.api}/", timeout=5).status_code == 200  # still serving


def test_broken_servers_fail_cleanly(tmp_path):
    import sys

    cases = [
        ("nocmd", ["/nonexistent/jupyterhub-singleuser"], "", "was not found"),
        ("sleepy", [sys.executable, "-c", "import time; time.sleep(600)"], "http_timeout_s = 3", "didn't respond"),
        ("crashy", [sys.executable, "-c", "raise SystemExit(3)"], "", "exited before becoming ready"),
    ]
    for user, cmd, spawner, fragment in cases:
        d = tmp_path / user
        d.mkdir()
        c = Cluster(d, extra=fake_spawner_extra(d, cmd=cmd, spawner=spawner))
        c.start()
        try:
            check_spawn_fails(c, user, fragment)
            r0 = c.replicas[0]
            assert requests.post(f"{r0.api}/users/nobody/server", headers=c.headers, timeout=10).status_code == 404
        finally:
            c.stop()
