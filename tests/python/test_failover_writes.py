"""Kill -9 the leader in the middle of a batch of concurrent creates: every acknowledged
create must be present afterwards, on every replica."""

import concurrent.futures
import threading
import time

import requests


def test_no_acknowledged_create_is_lost_when_the_leader_dies(cluster):
    h = cluster.headers
    acked, lock = [], threading.Lock()
    stop = time.time() + 6

    def client(k):
        i = 0
        while time.time() < stop and i < 400:
            name = f"c{k}-{i}"
            r = cluster.replicas[(k + i) % 3]
            try:
                resp = requests.post(f"{r.api}/users/{name}", headers=h, timeout=5)
                if resp.status_code == 201:
                    with lock:
                        acked.append(name)
            except requests.RequestException:
                pass  # the replica we talked to may be the one that died: outcome unknown
            i += 1

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        futs = [pool.submit(client, k) for k in range(6)]
        time.sleep(1.5)
        leader = cluster.leader()
        leader.kill()
        for f in futs:
            f.result()
    assert len(acked) > 50
    leader.start()
    cluster.wait_ready(leader)
    for r in cluster.replicas:
        resp = requests.get(f"{r.api}/users?consistency=linearizable", headers=h, timeout=10)
        present = {u["name"] for u in resp.json()}
        missing = [n for n in acked if n not in present]
        assert not missing, f"replica {r.id} lost acknowledged creates: {missing[:10]}"
