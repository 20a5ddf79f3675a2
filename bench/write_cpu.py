#!/usr/bin/env python3
"""CPU per acknowledged write, per replica and per thread: where a 64-client write load
spends the machine (`wrk -t1 -c64 bench/create_users.lua` against the leader of a fresh
3-replica cluster).

  bench/write_cpu.py [ROUNDS]     (env RAFTHUB_BIN, DUR default 10s, THREADS=1 for per-thread)

Reads utime+stime of each replica (and of wrk) from /proc before and after the run and
divides by the writes acknowledged. Bounded: ROUNDS runs of DUR each. One JSON line per run.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
from rafthub_cluster import TOKEN, Cluster  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(stat_path):
    """utime + stime in seconds from a /proc stat file (the name may hold spaces)."""
    try:
        fields = pathlib.Path(stat_path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def threads(pid):
    """Per thread-name CPU seconds of a process (threads of one name summed)."""
    out = {}
    for t in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (t / "comm").read_text().strip()
        except OSError:
            continue
        out[name] = out.get(name, 0.0) + cpu_s(t / "stat")
    return out


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    dur = os.environ.get("DUR", "10s")
    per_thread = os.environ.get("THREADS") == "1"
    for r in range(rounds):
        tmp = pathlib.Path(tempfile.mkdtemp(prefix="write-cpu"))
        c = Cluster(tmp)
        c.start()
        try:
            leader = c.leader()
            reps = [x for x in c.replicas if x.proc]
            before = {x.id: cpu_s(f"/proc/{x.proc.pid}/stat") for x in reps}
            tbefore = {x.id: threads(x.proc.pid) for x in reps} if per_thread else {}
            env = dict(os.environ, API_TOKEN=TOKEN, NAME_PREFIX=f"cpu{r}-{int(time.time())}")
            wrk = subprocess.Popen(
                ["wrk", "-t1", "-c64", f"-d{dur}", "-s", str(HERE / "create_users.lua"),
                 f"http://{leader.ip}:{leader.api_port}"],
                env=env, stdout=subprocess.PIPE, text=True,
            )
            wrk_cpu = 0.0
            while wrk.poll() is None:
                wrk_cpu = max(wrk_cpu, cpu_s(f"/proc/{wrk.pid}/stat"))
                time.sleep(0.2)
            out = wrk.stdout.read()
            j = json.loads(out.strip().splitlines()[-1])
            n = j["requests"]
            res = {"round": r, "rps": round(j["rps"]), "p99_ms": j["p99_ms"],
                   "wrk_us": round(wrk_cpu * 1e6 / n, 1)}
            for x in reps:
                role = "leader" if x.id == leader.id else f"follower{x.id}"
                res[f"{role}_us"] = round(
                    (cpu_s(f"/proc/{x.proc.pid}/stat") - before[x.id]) * 1e6 / n, 1)
                if per_thread:
                    after = threads(x.proc.pid)
                    res[f"{role}_threads_us"] = {
                        k: round((v - tbefore[x.id].get(k, 0.0)) * 1e6 / n, 1)
                        for k, v in sorted(after.items(), key=lambda kv: -kv[1])
                        if v - tbefore[x.id].get(k, 0.0) > 0
                    }
            print(json.dumps(res), flush=True)
        finally:
            c.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
