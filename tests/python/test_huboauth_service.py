"""Logging in to a HubOAuth service (upstream's `HubOAuthenticated` handlers, a real
process) through another replica's proxy: the service sends the browser to the hub's
authorize endpoint, the user logs in, confirms (or not, with `oauth_no_confirm`), and the
service's code exchange identifies the user."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from browser import login
from rafthub_cluster import Cluster, free_port

SVC_TOKEN = "whoami-service-token-0123456789"


def service_toml(name, port, no_confirm):
    return f"""
[[hub.services]]
name = "{name}"
api_token = "{SVC_TOKEN}-{name}"
url = "http://127.0.0.1:{port}"
oauth_no_confirm = {str(no_confirm).lower()}
"""


@pytest.fixture
def oauth_cluster(tmp_path):
    ports = {"asks": free_port("127.0.0.1"), "quiet": free_port("127.0.0.1")}
    extra = (
        service_toml("asks", ports["asks"], False)
        + service_toml("quiet", ports["quiet"], True)
        + """
[[hub.roles]]
name = "service-users"
scopes = ["access:services"]
users = ["alice"]
[auth]
kind = "dummy"
"""
    )
    c = Cluster(tmp_path, extra=extra)
    c.start()
    procs = []
    for name, port in ports.items():
        env = dict(
            os.environ,
            JUPYTERHUB_API_TOKEN=f"{SVC_TOKEN}-{name}",
            JUPYTERHUB_API_URL=c.replicas[0].api,
            JUPYTERHUB_CLIENT_ID=f"service-{name}",
            JUPYTERHUB_SERVICE_NAME=name,
            JUPYTERHUB_SERVICE_PREFIX=f"/services/{name}/",
            JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{port}",
            JUPYTERHUB_OAUTH_CALLBACK_URL=f"/services/{name}/oauth_callback",
            JUPYTERHUB_BASE_URL="/",
            JUPYTERHUB_HOST="",
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("whoami_oauth.py"))],
                env=env,
                stdout=open(tmp_path / f"{name}.log", "ab"),
                stderr=subprocess.STDOUT,
            )
        )
    yield c
    for p in procs:
        p.kill()
        p.wait()
    c.stop()


def through_proxy(session, base, name, deadline_s=30):
    """GET the service's page through the proxy until its route and client exist."""
    deadline = time.time() + deadline_s
    while True:
        r = session.get(f"{base}/services/{name}/", timeout=30)
        if r.status_code == 200 or time.time() > deadline:
            return r
        time.sleep(0.3)


def test_users_log_in_to_a_huboauth_service_through_another_replica(oauth_cluster):
    base = oauth_cluster.replicas[1].public
    alice = login(base, "alice")

    # Upstream asks by default: the confirmation page, then the service knows alice.
    r = through_proxy(alice, base, "asks")
    assert r.status_code == 200 and 'id="authorize"' in r.text, (r.status_code, r.url, r.text[:500])
    assert "/hub/api/oauth2/authorize" in r.url, r.url
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', r.text).group(1)
    r = alice.post(r.url, data={"_xsrf": xsrf}, timeout=30)
    assert r.status_code == 200, (r.status_code, r.url, r.text[:500])
    assert r.json()["name"] == "alice", r.text
    assert r.url.endswith("/services/asks/"), r.url

    # oauth_no_confirm: no page in between.
    r = through_proxy(alice, base, "quiet")
    assert r.status_code == 200, (r.status_code, r.url, r.text[:500])
    assert r.json()["name"] == "alice", r.text
    assert not any("authorize" in h.url and h.status_code == 200 for h in r.history)

    # bob has no access:services: the hub refuses him.
    bob = login(base, "bob")
    r = through_proxy(bob, base, "quiet", deadline_s=0)
    assert r.status_code == 403, (r.status_code, r.url, r.text[:300])
