#!/usr/bin/env python3
"""Soak: mixed lifecycle and read load against a real userd for a bounded time, with a kill -9
and restart every RESTART_EVERY seconds. Reports the error rate (requests that failed while the
server was up), the time each restart took to serve again, and lost acknowledged changes.

Usage: bench/soak.py [--seconds 60] [--restart-every 10] [--users 2000] [--bin target/release/userd]
Targets 127.0.0.1 only; stops by itself.
"""
import argparse
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

SECRET = "soak-secret-0123456789abcdef0123456789"


def start(binary, data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("USERD_")}
    env.update(USERD_AUTH__HS256_SECRET=SECRET, USERD_LOG__LEVEL="warn")
    proc = subprocess.Popen(
        [binary, "serve", "--bind", "127.0.0.1:0", "--data-dir", data_dir],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on http://"):
        sys.exit(f"userd did not start: {line!r}")
    host, port = line[len("listening on http://"):].rsplit(":", 1)
    return proc, host, int(port)


def token(binary, data_dir):
    env = dict(os.environ, USERD_AUTH__HS256_SECRET=SECRET)
    out = subprocess.run([binary, "token", "--role", "IAM_OWNER", "--ttl", "1h", "--data-dir", data_dir],
                         env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


class Target:
    """Where the server is now; swapped on every restart."""

    def __init__(self, host, port):
        self.lock = threading.Lock()
        self.host, self.port = host, port
        self.up = True

    def get(self):
        with self.lock:
            return self.host, self.port, self.up


def request(target, method, path, tok, body=None):
    host, port, _ = target.get()
    conn = http.client.HTTPConnection(host, port, timeout=5)
    headers = {"authorization": "Bearer " + tok}
    if body is not None:
        headers["content-type"] = "application/json"
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data) if data else None


NEXT = {"USER_STATE_ACTIVE": [("deactivate", "USER_STATE_INACTIVE"), ("lock", "USER_STATE_LOCKED")],
        "USER_STATE_INACTIVE": [("reactivate", "USER_STATE_ACTIVE")],
        "USER_STATE_LOCKED": [("unlock", "USER_STATE_ACTIVE"), ("deactivate", "USER_STATE_INACTIVE")]}


def worker(target, tok, users, known, stats, stop, rng):
    while not stop.is_set():
        uid = rng.choice(users)
        host, port, up = target.get()
        try:
            if rng.random() < 0.3:
                status, body = request(target, "GET", f"/v3alpha/users/{uid}", tok)
                ok = status == 200
            else:
                k = known[uid]
                if k.get("doubt"):
                    status, body = request(target, "GET", f"/v3alpha/users/{uid}", tok)
                    if status == 200:
                        seq = int(body["details"]["sequence"])
                        if seq < k["seq"]:
                            stats["lost"] += 1
                        k.update(state=body["user"]["state"], seq=seq, doubt=False)
                    ok = status == 200
                else:
                    action, nxt = rng.choice(NEXT[k["state"]])
                    try:
                        status, body = request(target, "POST", f"/v3alpha/users/{uid}/{action}", tok)
                    except OSError:
                        k["doubt"] = True
                        raise
                    ok = status == 200
                    if ok:
                        k.update(state=nxt, seq=int(body["details"]["sequence"]))
                        stats["acked"] += 1
            stats["ok" if ok else "bad_status"] += 1
        except OSError:
            _, _, still_up = target.get()
            stats["refused_while_down" if not still_up or not up else "errors_while_up"] += 1
            time.sleep(0.005)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--restart-every", type=float, default=10)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--bin", default="target/release/userd")
    args = ap.parse_args()

    data = tempfile.mkdtemp(prefix="userd-soak-")
    data_dir = os.path.join(data, "data")
    proc, host, port = start(args.bin, data_dir)
    tok = token(args.bin, data_dir)
    target = Target(host, port)
    users = [f"soak-{i}" for i in range(args.users)]
    for uid in users:
        status, _ = request(target, "POST", "/v3alpha/users", tok,
                            {"userId": uid, "organization": {"orgId": "soak"}, "schemaId": "s", "data": {}})
        assert status == 201, status
    stats = {"ok": 0, "bad_status": 0, "errors_while_up": 0, "refused_while_down": 0, "acked": 0, "lost": 0}
    # Each thread owns a slice of users, so one user never has two requests in flight.
    slices = [users[i::args.threads] for i in range(args.threads)]
    known = {uid: {"state": "USER_STATE_ACTIVE", "seq": 1} for uid in users}
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(target, tok, s, known, stats, stop, random.Random(i)))
               for i, s in enumerate(slices)]
    for t in threads:
        t.start()

    recoveries = []
    began = time.time()
    next_restart = began + args.restart_every
    while time.time() - began < args.seconds:
        time.sleep(0.05)
        if time.time() >= next_restart and time.time() - began < args.seconds - 1:
            with target.lock:
                target.up = False
            t0 = time.time()
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc, host, port = start(args.bin, data_dir)
            # Recovered when a read through the API answers.
            while True:
                try:
                    with target.lock:
                        target.host, target.port = host, port
                    status, _ = request(target, "GET", "/debug/ready", tok)
                    if status == 200:
                        break
                except OSError:
                    time.sleep(0.001)
            recoveries.append(time.time() - t0)
            with target.lock:
                target.up = True
            next_restart = time.time() + args.restart_every
    stop.set()
    for t in threads:
        t.join()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=30)
    check = subprocess.run([args.bin, "check", "--data-dir", data_dir], capture_output=True, text=True)

    total = stats["ok"] + stats["bad_status"] + stats["errors_while_up"]
    print(f"soak: {args.seconds:.0f} s, {len(recoveries)} kill -9 restarts, {args.users} users, {args.threads} threads")
    print(f"  requests answered: {stats['ok']} ok, {stats['bad_status']} unexpected status, "
          f"{stats['errors_while_up']} transport errors while up ({100.0 * (stats['bad_status'] + stats['errors_while_up']) / max(total, 1):.3f} % error rate)")
    print(f"  refused while restarting: {stats['refused_while_down']}")
    print(f"  acknowledged changes: {stats['acked']}, lost: {stats['lost']}")
    if recoveries:
        print(f"  time to recover (kill -9 to ready): mean {1000 * sum(recoveries) / len(recoveries):.1f} ms, "
              f"max {1000 * max(recoveries):.1f} ms")
    print(f"  SIGTERM exit code {code}; userd check: {check.stdout.strip().splitlines()[-1] if check.stdout else check.stderr.strip()}")
    if stats["lost"] or stats["bad_status"] or code != 0 or check.returncode != 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
