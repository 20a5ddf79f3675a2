"""Fixtures for the end-to-end tests: a real 3-replica cluster per test."""

import pytest

from rafthub_cluster import Cluster, TOKEN  # noqa: F401


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    c.start()
    yield c
    c.stop()


def spawner_extra(tmp_path, **spawner):
    """Config sections for a cluster that spawns the real jupyterhub-singleuser from this venv."""
    import pathlib
    import sys

    venv_bin = pathlib.Path(sys.executable).parent
    extra_spawner = "".join(f"{k} = {v}\n" for k, v in spawner.items())
    return f"""
[auth]
kind = "dummy"
[spawner]
cmd = ["{venv_bin}/jupyterhub-singleuser"]
environment = {{ PATH = "{venv_bin}:/usr/bin:/bin", JUPYTERHUB_ACTIVITY_INTERVAL = "1" }}
{extra_spawner}
[spawner.local]
working_dir = "{tmp_path}/home/{{username}}"
"""


@pytest.fixture
def spawn_cluster(tmp_path):
    """A 3-replica cluster with the dummy authenticator and the local-process spawner; servers
    reach the hub API through replica 1 (a Kubernetes Service would balance it)."""
    c = Cluster(tmp_path, hub_extra="", extra=spawner_extra(tmp_path))
    connect = f'hub_connect_url = "http://{c.replicas[0].ip}:{c.replicas[0].api_port}"'
    for r in c.replicas:
        r.config.write_text(r.config.read_text().replace("[hub]\n", f"[hub]\n{connect}\n", 1))
    c.start()
    yield c
    c.stop()


def fake_spawner_extra(tmp_path, delay=0, spawner="", cmd=None):
    """Config for servers that are cheap stand-ins (fake_singleuser.py)."""
    import pathlib
    import sys

    fake = pathlib.Path(__file__).with_name("fake_singleuser.py")
    cmd = cmd or [sys.executable, str(fake)]
    cmd_toml = "[" + ", ".join(f'"{x}"' for x in cmd) + "]"
    return f"""
[spawner]
cmd = {cmd_toml}
start_timeout_s = 30
{"" if "http_timeout_s" in spawner else "http_timeout_s = 15"}
environment = {{ FAKE_SINGLEUSER_DELAY = "{delay}" }}
{spawner}
[spawner.local]
working_dir = "{tmp_path}/home/{{username}}"
"""


@pytest.fixture
def fake_spawn_cluster(tmp_path):
    """A 3-replica cluster whose servers are fake_singleuser.py processes."""
    c = Cluster(tmp_path, extra=fake_spawner_extra(tmp_path))
    c.start()
    yield c
    c.stop()
