"""A replica whose disk fills up: it exits with a clear error instead of lingering as a
replica that answers liveness probes but can neither apply nor vote; the others keep
accepting writes; once its disk has room again it restarts and catches up, every
acknowledged write included.

The full disk is a small tmpfs mounted on replica 3's data directory (needs root, as the
chaos tests do; CI runs as root)."""

import os
import subprocess
import time

import pytest
import requests

from rafthub_cluster import Cluster

BLOB = "x" * 16_000


def mount_tmpfs(path, size):
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    return res.returncode == 0, res.stderr


def write_group(replica, headers, name):
    """Creates group `name` with a 16 KB property: two acknowledged writes. True once both
    were acknowledged."""
    try:
        r = requests.post(f"{replica.api}/groups/{name}", headers=headers, timeout=10)
        if r.status_code != 201:
            return False
        r = requests.put(
            f"{replica.api}/groups/{name}/properties", headers=headers, json={"blob": BLOB}, timeout=10
        )
        return r.status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def small_disk_cluster(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    c = Cluster(tmp_path)
    r3 = c.replicas[2]
    ok, err = mount_tmpfs(r3.data, "4m")
    if not ok:
        pytest.skip(f"cannot mount a tmpfs: {err}")
    try:
        yield c
    finally:
        c.stop()
        subprocess.run(["umount", "-l", str(r3.data)], check=False)


def test_a_replica_whose_disk_fills_exits_and_catches_up_after(small_disk_cluster):
    c = small_disk_cluster
    c.start()
    h = c.headers
    r1, r2, r3 = c.replicas
    acked = []
    deadline = time.time() + 90
    i = 0
    # Write through replicas 1 and 2 (they forward to the leader, wherever it is) until
    # replica 3 has run out of room and exited.
    while time.time() < deadline and i < 4000 and r3.proc.poll() is None:
        name = f"g{i}"
        if write_group((r1, r2)[i % 2], h, name):
            acked.append(name)
        i += 1
    code = r3.proc.poll()
    if code is None:
        time.sleep(10)  # the exit itself takes a moment (connections drain)
        code = r3.proc.poll()
    log = r3.log.read_text(errors="replace")
    assert code is not None, f"replica 3 still runs on a full disk after {i} writes:\n{log[-3000:]}"
    assert code != 0, f"replica 3 exited with 0 on a full disk:\n{log[-3000:]}"
    assert "No space left on device" in log, log[-3000:]
    assert "the Raft core stopped" in log, log[-3000:]
    print(f"replica 3 exited {code} after {i} writes, {len(acked)} acknowledged")
    assert len(acked) > 20, f"only {len(acked)} writes acknowledged before the disk filled"

    # The two others still commit (after a failover if replica 3 was the leader).
    more_deadline = time.time() + 20
    more = 0
    while more < 10 and time.time() < more_deadline:
        name = f"after{more}"
        if write_group((r1, r2)[more % 2], h, name):
            acked.append(name)
            more += 1
        else:
            time.sleep(0.2)
    assert more == 10, "the two replicas left did not accept writes"

    # Room again: the replica restarts from its own disk and catches up.
    subprocess.run(["mount", "-o", "remount,size=512m", str(r3.data)], check=True)
    r3.proc = None
    r3.start()
    c.wait_ready(r3, timeout=60)
    resp = requests.get(
        f"{r3.api}/groups?limit=100000&consistency=linearizable", headers=h, timeout=30
    )
    assert resp.status_code == 200, resp.text
    present = {g["name"] for g in resp.json()}
    missing = [n for n in acked if n not in present]
    assert not missing, f"replica 3 misses acknowledged groups after its restart: {missing[:10]}"
    props = requests.get(f"{r3.api}/groups/{acked[0]}", headers=h, timeout=10).json()["properties"]
    assert props == {"blob": BLOB}
