"""The real jupyterhub-singleuser, spawned by the cluster and reached through the proxy of
another replica: OAuth login, API and JupyterLab, activity reported back."""

import time

import requests

from browser import login


def wait_ready(s, base, user, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = s.get(f"{base}/hub/spawn-pending/{user}", allow_redirects=False, timeout=10)
        if r.status_code == 302:
            return r.headers["location"]
        time.sleep(0.3)
    raise AssertionError(f"server of {user} never became ready: {r.status_code} {r.text[:300]}")


def test_spawn_oauth_and_activity_through_another_replica(spawn_cluster):
    c = spawn_cluster
    base = c.replicas[1].public
    s = login(base, "alice")
    r = s.get(f"{base}/hub/spawn", allow_redirects=False, timeout=30)
    assert r.status_code == 302 and "spawn-pending" in r.headers["location"]
    assert wait_ready(s, base, "alice") == "/user/alice/"
    # Running now: {hub}spawn goes straight to the server (or `next`), as upstream's handler.
    r = s.get(f"{base}/hub/spawn", allow_redirects=False, timeout=30)
    assert (r.status_code, r.headers.get("location")) == (302, "/user/alice/"), r.text[:300]
    r = s.get(f"{base}/hub/spawn?next=%2Fuser%2Falice%2Flab", allow_redirects=False, timeout=30)
    assert r.headers.get("location") == "/user/alice/lab", r.headers
    # A page request starts the OAuth dance: singleuser -> hub authorize -> callback -> page.
    r = s.get(f"{base}/user/alice/api/status", timeout=30)
    assert r.status_code == 403  # API requests without the server's cookie are refused
    r = s.get(f"{base}/user/alice/lab", timeout=60)
    hops = [h.headers.get("location", "") for h in r.history]
    assert any("/hub/api/oauth2/authorize" in h for h in hops), hops
    assert any("/user/alice/oauth_callback" in h for h in hops), hops
    assert r.status_code == 200 and "JupyterLab" in r.text, r.text[:300]
    status = s.get(f"{base}/user/alice/api/status", timeout=10)
    assert status.status_code == 200 and "connections" in status.json()
    # Through a third replica's proxy too: behind one hostname a browser would send the same
    # cookies to every replica; here the replicas have their own addresses, so pass them on.
    other = c.replicas[2].public
    jar = {k.name: k.value for k in s.cookies if k.path.startswith("/user/alice")}
    assert requests.get(f"{other}/user/alice/api/status", cookies=jar, timeout=10).status_code == 200
    # singleuser posts its activity; it shows up in the user model on every replica.
    deadline = time.time() + 30
    while time.time() < deadline:
        u = requests.get(f"{c.replicas[2].api}/users/alice", headers=c.headers, timeout=10).json()
        if u.get("servers", {}).get("", {}).get("last_activity"):
            break
        time.sleep(0.5)
    assert u["servers"][""]["ready"] is True, u
    assert u["servers"][""]["last_activity"], u
