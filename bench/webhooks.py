#!/usr/bin/env python3
"""Webhook rows of the benchmark, in ONE run beside the baseline: durable toggles (fsync) with no
target, then with a dead target subscribed to every event (an endpoint that takes connections
and never answers), on sled and, with --postgres, on PostgreSQL too.

  bench/webhooks.py                 10k users, 10 s per load; writes its section of BENCHMARKS.md
  bench/webhooks.py --quick         2k users, 1 s per load; prints the table only
  bench/webhooks.py --quick --profile debug    on what `cargo test` built (CI)

With a target, every toggle also writes its delivery to the outbox in the same commit; the
delivery worker runs on its own thread, so a dead target costs the API that write and nothing
else. The table says how many deliveries were still owed when the load stopped.
"""
import json
import os
import shutil
import socket
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

ROOT = bench.ROOT


def call(url, token, method, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def dead_endpoint():
    """A port that takes connections (into its backlog) and never answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(4096)
    return s, f"http://127.0.0.1:{s.getsockname()[1]}/hook"


def owed(url, token):
    found, after = 0, "0"
    while True:
        r = call(url, token, "POST", "/userd/v1/deliveries/_search", {"afterPosition": after, "limit": 1000})
        page = r.get("deliveries", [])
        found += len(page)
        if len(page) < 1000:
            return found
        after = page[-1]["position"]


def main():
    args = bench.script_args()
    seconds = 1 if args.quick else 10
    n = 2000 if args.quick else 10_000
    tmp = tempfile.mkdtemp(prefix="userd-bench-hooks-")
    rows = []
    sock, endpoint = dead_endpoint()
    try:
        jsonl = os.path.join(tmp, "users.jsonl")
        bench.write_users(jsonl, n)
        base = bench.baseline(seconds)

        for with_target in (False, True):
            data = os.path.join(tmp, f"sled-{with_target}")
            env = bench.userd_env(data, "fsync")
            bench.sh(bench.BIN, "import", jsonl, "--data-dir", data, env=env)
            token = bench.sh(bench.BIN, "token", "--role", "IAM_OWNER", "--ttl", "2h", "--data-dir", data, env=env).strip()
            load_env = {"USERS": str(n), "WRK_THREADS": "2", "TOKEN": token}
            proc, node = bench.start([bench.BIN, "serve", "--bind", "127.0.0.1:0", "--data-dir", data], env)
            bench.ready(node)
            if with_target:
                target = call(node, token, "POST", "/v2/actions/targets",
                              {"name": "dead", "endpoint": endpoint, "timeout": "5s", "restWebhook": {}})
                call(node, token, "PUT", "/v2/actions/executions",
                     {"condition": {"event": {"all": True}}, "targets": [target["id"]]})
            r = bench.wrk(node, "toggle.lua", seconds, load_env, proc.pid)
            pending = owed(node, token) if with_target else None
            name = "toggles, fsync, a dead target on every event" if with_target else "toggles, fsync, no target"
            rows.append((name, r, pending))
            proc.terminate()
            proc.wait()
    finally:
        sock.close()
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        "| load | req/s | vs baseline | server CPU µs/req | p50 ms | p99 ms | p99.9 ms | non-2xx | deliveries owed at the end |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| bare actix-web baseline | {base['rps']:.0f} | 1.00 | {base['cpu_us']:.1f} | {base['p50']:.2f} | {base['p99']:.2f} | {base['p999']:.2f} | {base['non200']} | |",
    ]
    failed = base["non200"]
    for name, r, pending in rows:
        failed += r["non200"]
        lines.append(f"| {name} | {r['rps']:.0f} | {r['rps'] / base['rps']:.2f} | {r['cpu_us']:.1f} | {r['p50']:.2f} | "
                     f"{r['p99']:.2f} | {r['p999']:.2f} | {r['non200']} | {'' if pending is None else pending} |")
    bench.publish("webhooks", "bench/webhooks.py", lines, failed, args.quick, users=n)


if __name__ == "__main__":
    main()
