"""The real jupyterhub-idle-culler, run by the leader as a hub-managed service, culls an idle
server and spares an active one."""

import os
import sys
import time

import requests

from browser import login
from conftest import spawner_extra
from rafthub_cluster import Cluster
from test_singleuser import wait_ready


def test_idle_culler_culls_idle_and_spares_active(tmp_path):
    culler = f"""
[[hub.services]]
name = "cull-idle"
command = ["{sys.executable}", "-m", "jupyterhub_idle_culler", "--timeout=8", "--cull-every=2"]
[[hub.roles]]
name = "culler"
scopes = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
services = ["cull-idle"]
"""
    c = Cluster(tmp_path, extra=spawner_extra(tmp_path) + culler)
    connect = f'hub_connect_url = "http://{c.replicas[0].ip}:{c.replicas[0].api_port}"'
    for r in c.replicas:
        r.config.write_text(r.config.read_text().replace("[hub]\n", f"[hub]\n{connect}\n", 1))
    c.start()
    try:
        base = c.replicas[0].public
        for user in ("idle", "busy"):
            s = login(base, user)
            s.get(f"{base}/hub/spawn", allow_redirects=False, timeout=30)
            wait_ready(s, base, user)
        api = c.replicas[1].api
        deadline = time.time() + 60
        culled = False
        while time.time() < deadline:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            body = {"last_activity": now, "servers": {"": {"last_activity": now}}}
            assert requests.post(f"{api}/users/busy/activity", headers=c.headers, json=body, timeout=10).ok
            idle = requests.get(f"{api}/users/idle", headers=c.headers, timeout=10).json()
            if not idle["servers"]:
                culled = True
                break
            time.sleep(1)
        assert culled, "the idle server was never culled"
        busy = requests.get(f"{api}/users/busy", headers=c.headers, timeout=10).json()
        assert busy["servers"][""]["ready"] is True, busy
        # Exactly one culler acts: only the leader runs it.
        logs = [r.log.read_text() for r in c.replicas]
        assert sum("managed service started" in log for log in logs) == 1, "only the leader runs it"

        # A leader killed with SIGKILL takes its culler with it; the new leader starts one.
        leader = c.leader()
        old = children_running(leader.proc.pid, "jupyterhub_idle_culler")
        assert len(old) == 1, old
        leader.kill()
        assert wait_for(lambda: not any(os.path.exists(f"/proc/{p}") and not zombie(p) for p in old), 10), \
            "the culler outlived its replica"
        new_leader = wait_for(lambda: leader_or_none(c), 15)
        assert new_leader, "no new leader"
        assert wait_for(lambda: children_running(new_leader.proc.pid, "jupyterhub_idle_culler"), 20), \
            "the new leader did not start the culler"
    finally:
        c.stop()


def zombie(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1][0] == "Z"
    except OSError:
        return True


def children_running(ppid, needle):
    """Live children of `ppid` whose command line contains `needle`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{pid}/stat").read().rsplit(") ", 1)[1].split()
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if int(stat[1]) == ppid and stat[0] != "Z" and needle.encode() in cmd:
            found.append(int(pid))
    return found


def leader_or_none(c):
    """The leader if it is a live replica (survivors name the dead one for a while)."""
    try:
        leader = c.leader()
    except AssertionError:
        return None
    return leader if leader.proc is not None else None


def wait_for(check, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = check()
        if v:
            return v
        time.sleep(0.25)
    return None
