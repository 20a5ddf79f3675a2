#!/usr/bin/env python3
"""A/B of write throughput between rafthub binaries, alternating, a fresh 3-replica cluster
per run: `wrk -t1 -c64 -d<DUR> bench/create_users.lua` against the leader (every request
creates one user: one acknowledged Raft write).

  bench/ab_writes.py BIN_A,BIN_B[,...] [ROUNDS]      (env DUR, default 10s)

A binary may carry environment for its run: "path|KEY=value;KEY2=value". Alternating binaries
round by round spreads the machine's drift over all of them; the medians are what to compare.
Bounded: ROUNDS × binaries runs of DUR each. Prints one JSON line per run, then the medians.
"""

import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
from rafthub_cluster import TOKEN, Cluster  # noqa: E402


def main():
    bins = sys.argv[1].split(",")
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    dur = os.environ.get("DUR", "10s")
    base_env = dict(os.environ)
    res = {b: [] for b in bins}
    for r in range(rounds):
        for b in bins:
            path, _, envs = b.partition("|")
            os.environ.clear()
            os.environ.update(base_env)
            os.environ["RAFTHUB_BIN"] = path
            for kv in filter(None, envs.split(";")):
                k, v = kv.split("=", 1)
                os.environ[k] = v
            tmp = pathlib.Path(tempfile.mkdtemp(prefix="ab-writes"))
            c = Cluster(tmp)
            c.start()
            try:
                leader = c.leader()
                env = dict(os.environ, API_TOKEN=TOKEN, NAME_PREFIX=f"ab{r}")
                out = subprocess.run(
                    ["wrk", "-t1", "-c64", f"-d{dur}", "-s", str(HERE / "create_users.lua"),
                     f"http://{leader.ip}:{leader.api_port}"],
                    env=env, capture_output=True, text=True, timeout=300,
                ).stdout
                j = json.loads(out.strip().splitlines()[-1])
                res[b].append(j)
                print(json.dumps({"bin": b, "round": r, **j}), flush=True)
            finally:
                c.stop()
                shutil.rmtree(tmp, ignore_errors=True)
    for b in bins:
        xs = res[b]
        print(json.dumps({
            "bin": b,
            "rps_median": statistics.median(x["rps"] for x in xs),
            "p99_ms_median": statistics.median(x["p99_ms"] for x in xs),
            "rps": [round(x["rps"]) for x in xs],
        }))


if __name__ == "__main__":
    main()
