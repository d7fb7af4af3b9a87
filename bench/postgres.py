#!/usr/bin/env python3
"""PostgreSQL rows of the benchmark, in ONE run beside the baseline and sled: durable toggles
(fsync; on PostgreSQL, a 200 after COMMIT with synchronous_commit on) with one userd node and
with two nodes on one database, and `userd import` into PostgreSQL.

  bench/postgres.py                 10k users, 10 s per load; writes its section of BENCHMARKS.md
  bench/postgres.py --quick         2k users, 1 s per load; prints the table only
  bench/postgres.py --quick --profile debug    on what `cargo test` built (CI)

It starts a throwaway PostgreSQL with scripts/postgres.sh (the machine's own server binaries, on
127.0.0.1 and a free port) and removes it at the end. Two nodes: two wrk processes, one per
node, on disjoint halves of the users, at half the connections each; their req/s add up.
Everything runs on this one machine (2 cores shared by wrk, userd and PostgreSQL).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

ROOT = bench.ROOT


def createdb(pg_dir, url, name):
    port = url.rsplit(":", 1)[1].split("/")[0]
    pg_bin = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
    createdb_bin = f"/usr/lib/postgresql/{pg_bin}/bin/createdb"
    subprocess.run([createdb_bin, "-h", "127.0.0.1", "-p", port, "-U", "postgres", name], check=True)
    return url.rsplit("/", 1)[0] + "/" + name


def pg_env(data, db_url):
    return bench.userd_env(data, "fsync", {"USERD_STORAGE__BACKEND": "postgres",
                                           "USERD_STORAGE__POSTGRES__URL": db_url})


def import_users(jsonl, data, env):
    out = bench.sh(bench.BIN, "import", jsonl, "--data-dir", data, env=env)
    import re
    return float(re.search(r"\(([\d.]+) users/s\)", out).group(1))


def main():
    args = bench.script_args()
    seconds = 1 if args.quick else 10
    n = 2000 if args.quick else 10_000
    tmp = tempfile.mkdtemp(prefix="userd-bench-pg-")
    # The server runs as another user (postgres) when this runs as root: let it reach its dir.
    os.chmod(tmp, 0o755)
    pg_dir = os.path.join(tmp, "pg")
    script = os.path.join(ROOT, "scripts", "postgres.sh")
    url = subprocess.run([script, "start", pg_dir], check=True, capture_output=True, text=True).stdout.strip()
    rows = []
    procs = []
    try:
        jsonl = os.path.join(tmp, "users.jsonl")
        bench.write_users(jsonl, n)
        base = bench.baseline(seconds)

        # sled, the same load in the same run.
        data = os.path.join(tmp, "sled")
        env = bench.userd_env(data, "fsync")
        sled_rate = import_users(jsonl, data, env)
        token = bench.sh(bench.BIN, "token", "--role", "IAM_OWNER", "--ttl", "2h", "--data-dir", data, env=env).strip()
        load_env = {"USERS": str(n), "WRK_THREADS": "2", "TOKEN": token}
        proc, node = bench.start([bench.BIN, "serve", "--bind", "127.0.0.1:0", "--data-dir", data], env)
        bench.ready(node)
        rows.append(("toggles, sled, one node", [bench.wrk(node, "toggle.lua", seconds, load_env, proc.pid)], sled_rate))
        proc.terminate()
        proc.wait()

        # PostgreSQL, one node.
        db = createdb(pg_dir, url, "bench_one")
        data = os.path.join(tmp, "pg-one")
        env = pg_env(data, db)
        pg_rate = import_users(jsonl, data, env)
        proc, node = bench.start([bench.BIN, "serve", "--bind", "127.0.0.1:0", "--data-dir", data], env)
        procs.append(proc)
        bench.ready(node)
        rows.append(("toggles, PostgreSQL, one node", [bench.wrk(node, "toggle.lua", seconds, load_env, proc.pid)], pg_rate))
        rows.append(("GET, PostgreSQL, one node", [bench.wrk(node, "get.lua", seconds, load_env, proc.pid)], None))
        proc.terminate()
        proc.wait()

        # PostgreSQL, two nodes on one database, each loaded by its own wrk on half the users.
        db = createdb(pg_dir, url, "bench_two")
        nodes = []
        for i in range(2):
            data = os.path.join(tmp, f"pg-two-{i}")
            env = pg_env(data, db)
            if i == 0:
                import_users(jsonl, data, env)
            proc, node = bench.start([bench.BIN, "serve", "--bind", "127.0.0.1:0", "--data-dir", data], env)
            procs.append(proc)
            bench.ready(node)
            nodes.append((proc, node))
        results = [None, None]

        def load(i):
            proc, node = nodes[i]
            half = dict(load_env, USERS=str(n // 2), OFFSET=str(i * (n // 2)))
            results[i] = bench.wrk(node, "toggle.lua", seconds, half, proc.pid, connections=32)

        import threading
        threads = [threading.Thread(target=load, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rows.append(("toggles, PostgreSQL, two nodes (sum)", results, None))
        for proc, _ in nodes:
            proc.terminate()
            proc.wait()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        subprocess.run([script, "stop", pg_dir], check=False)
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        "| load | req/s | vs baseline | server CPU µs/req | p50 ms | p99 ms | non-2xx | import users/s |",
        "|---|---|---|---|---|---|---|---|",
        f"| bare actix-web baseline | {base['rps']:.0f} | 1.00 | {base['cpu_us']:.1f} | {base['p50']:.2f} | {base['p99']:.2f} | {base['non200']} | |",
    ]
    failed = base["non200"]
    for name, results, rate in rows:
        rps = sum(r["rps"] for r in results)
        cpu = sum(r["cpu_us"] * r["rps"] for r in results) / max(rps, 1e-9)
        p50 = max(r["p50"] for r in results)
        p99 = max(r["p99"] for r in results)
        bad = sum(r["non200"] for r in results)
        failed += bad
        lines.append(f"| {name} | {rps:.0f} | {rps / base['rps']:.2f} | {cpu:.1f} | {p50:.2f} | {p99:.2f} | {bad} | "
                     f"{'' if rate is None else f'{rate:.0f}'} |")
    bench.publish("postgres", "bench/postgres.py", lines, failed, args.quick, users=n)


if __name__ == "__main__":
    main()
