#!/usr/bin/env python3
"""Durable toggles on every protocol a client uses, in ONE run beside the bare actix-web
baseline: REST (v3alpha paths) and Connect JSON over HTTP/1.1 (wrk), then gRPC, Connect JSON and
Connect binary over HTTP/2 (h2c; `examples/protoload.rs`, 8 connections of 8 streams: 64
requests in flight, as wrk's 64 connections). Each load runs on a fresh store of the same
imported users; server CPU per request comes from the process's own accounting.

  bench/protocols.py                 10k users, 10 s per load; writes its section of BENCHMARKS.md
  bench/protocols.py --quick         2k users, 1 s per load; prints the table only
  bench/protocols.py --quick --profile debug    on what `cargo test` built (CI)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

H2_CONNECTIONS = 8
H2_STREAMS = 8


def protoload(profile):
    return os.path.join(bench.ROOT, "target", profile, "examples", "protoload")


def main():
    args = bench.script_args()
    seconds = 1 if args.quick else 10
    n = 2000 if args.quick else 10_000
    if args.profile == "release":
        subprocess.run(["cargo", "build", "--release", "--example", "protoload"], cwd=bench.ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="userd-bench-protocols-")
    rows = []
    try:
        jsonl = os.path.join(tmp, "users.jsonl")
        bench.write_users(jsonl, n)
        base = bench.baseline(seconds)

        loads = [("REST, HTTP/1.1", "wrk", "rest"), ("Connect JSON, HTTP/1.1", "wrk", "connect"),
                 ("gRPC, HTTP/2", "h2", "grpc"), ("Connect JSON, HTTP/2", "h2", "connect-json"),
                 ("Connect binary, HTTP/2", "h2", "connect-proto")]
        for name, tool, style in loads:
            data = os.path.join(tmp, style)
            env = bench.userd_env(data, "fsync")
            bench.sh(bench.BIN, "import", jsonl, "--data-dir", data, env=env)
            token = bench.sh(bench.BIN, "token", "--role", "IAM_OWNER", "--ttl", "2h", "--data-dir", data, env=env).strip()
            proc, node = bench.start([bench.BIN, "serve", "--bind", "127.0.0.1:0", "--data-dir", data], env)
            bench.ready(node)
            if tool == "wrk":
                r = bench.wrk(node, "toggle.lua", seconds, {"USERS": str(n), "WRK_THREADS": "2", "TOKEN": token,
                                                            "STYLE": style}, proc.pid)
            else:
                os.sync()
                cpu0 = bench.cpu_seconds(proc.pid)
                out = subprocess.run([protoload(args.profile), node, style, str(n), str(seconds),
                                      str(H2_CONNECTIONS), str(H2_STREAMS), token],
                                     capture_output=True, text=True, check=True).stdout
                got = json.loads(out)
                r = {"rps": got["rps"], "p50": got["p50"], "p99": got["p99"], "p999": got["p999"],
                     "non200": got["failures"],
                     "cpu_us": (bench.cpu_seconds(proc.pid) - cpu0) * 1e6 / max(got["requests"], 1)}
            rows.append((name, r))
            proc.terminate()
            proc.wait()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        "| durable toggles | req/s | vs baseline | server CPU µs/req | CPU vs baseline | p50 ms | p99 ms | p99.9 ms | failures |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| bare actix-web baseline (HTTP/1.1) | {base['rps']:.0f} | 1.00 | {base['cpu_us']:.1f} | 1.0 | "
        f"{base['p50']:.2f} | {base['p99']:.2f} | {base['p999']:.2f} | {base['non200']} |",
    ]
    failed = base["non200"]
    for name, r in rows:
        failed += r["non200"]
        lines.append(f"| {name} | {r['rps']:.0f} | {r['rps'] / base['rps']:.2f} | {r['cpu_us']:.1f} | "
                     f"{r['cpu_us'] / base['cpu_us']:.1f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['p999']:.2f} | "
                     f"{r['non200']} |")
    bench.publish("protocols", "bench/protocols.py", lines, failed, args.quick, users=n)


if __name__ == "__main__":
    main()
