#!/usr/bin/env python3
"""Data tools of userd, timed in ONE run on sled: a backup of a running server while durable
toggles run (how long the copy holds commits, and what the load sees), an export with whole
histories, its import into an empty store, and a reset to a seed of the same users.

  bench/datatools.py                 100k users, 8 s of load; writes its section of BENCHMARKS.md
  bench/datatools.py --quick         2k users, 2 s of load; prints the table only
  bench/datatools.py --quick --profile debug    on what `cargo test` built (CI)
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402


def timed(*cmd, env):
    t0 = time.time()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=bench.NEUTRAL_CWD)
    return time.time() - t0, out.stdout + out.stderr


def post(url, path):
    req = urllib.request.Request(url + path, data=b"", method="POST")
    t0 = time.time()
    with urllib.request.urlopen(req, timeout=600) as r:
        body = json.load(r)
    return time.time() - t0, body


def main():
    args = bench.script_args()
    n = 2000 if args.quick else 100_000
    seconds = 2 if args.quick else 8
    tmp = tempfile.mkdtemp(prefix="userd-bench-data-")
    rows = []
    try:
        seed = os.path.join(tmp, "seed.jsonl")
        bench.write_users(seed, n)
        data = os.path.join(tmp, "data")
        env = bench.userd_env(data, "fsync", {"USERD_SERVER__DEV_MODE": "true", "USERD_LOG__LEVEL": "info"})
        token = bench.sh(bench.BIN, "token", "--role", "IAM_OWNER", "--ttl", "2h", "--data-dir", data, env=env).strip()
        log_path = os.path.join(tmp, "server.log")
        with open(log_path, "w") as log:
            proc = subprocess.Popen([bench.BIN, "serve", "--bind", "127.0.0.1:0", "--data-dir", data, "--seed", seed],
                                    stdout=subprocess.PIPE, stderr=log, env=env, text=True, cwd=bench.NEUTRAL_CWD)
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on http://"):
            proc.kill()
            sys.exit(f"userd did not start: {line!r}")
        url = line[len("listening on "):]
        bench.ready(url)
        load_env = {"USERS": str(n), "WRK_THREADS": "2", "TOKEN": token}

        # Toggles alone, then toggles with a backup taken a third of the way in.
        quiet = bench.wrk(url, "toggle.lua", seconds, load_env, proc.pid)
        rows.append(("durable toggles", f"{quiet['rps']:.0f} req/s, p99 {quiet['p99']:.2f} ms, "
                     f"p99.9 {quiet['p999']:.2f} ms, {quiet['non200']} non-2xx"))
        # Back to the seed (every user active again) before the next load.
        s, body = post(url, "/debug/reset")
        assert body["users"] == n, body
        rows.append(("POST /debug/reset to the seed after that load", f"{s * 1000:.0f} ms for {n:,} users"))
        backup_dir = os.path.join(tmp, "backup")
        took = {}

        def backup():
            time.sleep(seconds / 3)
            took["s"], took["out"] = timed(bench.BIN, "backup", backup_dir, "--url", url, "--token", token, env=env)

        t = threading.Thread(target=backup)
        t.start()
        loaded = bench.wrk(url, "toggle.lua", seconds, load_env, proc.pid)
        t.join()
        with open(log_path) as f:
            copied = re.findall(r"backup: (\d+) entries of \d+ trees and (\d+) writes made meanwhile "
                                r"\((\d+) bytes\) in (\d+) ms", f.read())
        entries, writes, size, copy_ms = copied[-1]
        rows.append(("the same toggles with a backup taken", f"{loaded['rps']:.0f} req/s, p99 {loaded['p99']:.2f} ms, "
                     f"p99.9 {loaded['p999']:.2f} ms, {loaded['non200']} non-2xx"))
        rows.append(("backup: the copy, while commits go on", f"{int(copy_ms)} ms ({int(entries):,} entries, "
                     f"{int(writes):,} writes made meanwhile, {int(size) / 1e6:.1f} MB)"))
        rows.append(("backup: `userd backup` in all (copy, stream, write, check)", f"{took['s']:.2f} s"))

        export_file = os.path.join(tmp, "export.jsonl")
        s, out = timed(bench.BIN, "export", "--history", "--out", export_file, "--data-dir", data,
                       "--url", url, "--token", token, env=env)
        exported = int(re.search(r"exported (\d+) users", out).group(1))
        rows.append(("export --history from the running server", f"{s:.2f} s, {exported / s:,.0f} users/s"))

        proc.terminate()
        proc.wait()

        other = os.path.join(tmp, "other")
        s, out = timed(bench.BIN, "import", export_file, "--data-dir", other, env=bench.userd_env(other, "fsync"))
        imported = int(re.search(r"imported (\d+) users", out).group(1))
        assert imported == exported, out
        rows.append(("import of that export into an empty store", f"{s:.2f} s, {imported / s:,.0f} users/s"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = ["| what | measured |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    bench.publish("datatools", "bench/datatools.py", lines, quiet["non200"] + loaded["non200"], args.quick, users=n)


if __name__ == "__main__":
    main()
