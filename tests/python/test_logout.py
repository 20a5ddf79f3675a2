"""Logout (`{hub}logout`): the session's tokens are revoked, and with `shutdown_on_logout`
(upstream's `JupyterHub.shutdown_on_logout`) every server of the user stops, nobody else's."""

import time

import pytest
import requests

from conftest import fake_spawner_extra
from rafthub_cluster import Cluster


def api(c, method, path, expect, i=0):
    r = requests.request(method, c.replicas[i].api + path, headers=c.headers, timeout=30)
    assert r.status_code in expect, (method, path, r.status_code, r.text)
    return r


def servers(c, user, i=0):
    return api(c, "GET", f"/users/{user}", (200,), i).json()["servers"]


def wait_for(pred, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def login(c, name, i=0):
    s = requests.Session()
    s.get(c.replicas[i].public + "/hub/login")
    r = s.post(
        c.replicas[i].public + "/hub/login",
        data={"username": name, "password": "x", "_xsrf": s.cookies.get("_xsrf")},
        allow_redirects=False,
    )
    assert r.status_code == 302, r.text
    return s


@pytest.mark.parametrize("shutdown", [True, False])
def test_logout_stops_the_users_servers_only_with_shutdown_on_logout(tmp_path, shutdown):
    hub = f"allow_named_servers = true\nshutdown_on_logout = {str(shutdown).lower()}"
    extra = '[auth]\nkind = "dummy"\n' + fake_spawner_extra(tmp_path)
    c = Cluster(tmp_path, hub_extra=hub, extra=extra)
    c.start()
    try:
        alice = login(c, "alice")
        login(c, "bob")
        for path in ["/users/alice/server", "/users/alice/servers/lab", "/users/bob/server"]:
            api(c, "POST", path, (201, 202))
        wait_for(
            lambda: all(s.get("ready") for u in ["alice", "bob"] for s in servers(c, u).values())
            and len(servers(c, "alice")) == 2,
            "servers ready",
        )
        assert alice.get(c.replicas[0].public + "/hub/home", allow_redirects=False).status_code == 200
        out = alice.get(c.replicas[0].public + "/hub/logout", allow_redirects=False)
        assert out.status_code == 302
        assert alice.get(c.replicas[0].public + "/hub/home", allow_redirects=False).status_code == 302
        if shutdown:
            wait_for(lambda: not servers(c, "alice", 1), "alice's servers stopped")
        else:
            time.sleep(2)
            assert len(servers(c, "alice", 1)) == 2
        assert servers(c, "bob", 2)[""]["ready"]
    finally:
        c.stop()
