#!/usr/bin/env python3
"""The benchmark: in ONE run on this machine, a bare actix-web baseline and userd, side by side.

  bench/run.py            full run (10k and 1M users, 10 s per load), writes BENCHMARKS.md
  bench/run.py --quick    a few seconds (2k users, 1 s per load), prints the table only
  bench/run.py --quick --profile debug    the same on what `cargo test` built (CI)
  bench/run.py --previous PATH    also runs the toggle and GET loads on another userd binary
                                  (an earlier build) in the same run, for before/after rows

For each user count it imports the users (`userd import`), starts userd with
durability = "fsync" on a fresh data dir (timing start-up until /debug/ready answers), drives
deactivate/reactivate toggles over random users with wrk at 64 connections (every answer must be
200: wrk's script tracks each user's state), then GETs, then toggles again with an RS256 token,
then restarts with durability = "periodic" and toggles again. It reports req/s, p50/p99/p99.9
latency, the ratio to the baseline's req/s, peak RSS, bytes on disk per user and start-up time.
Listings: 200 calls each of the default page of 100 users and of a page filtered by
organization (users are spread over 10 organizations), and GETs while 4 clients loop on a
listing no index serves (an email that contains a text). Targets 127.0.0.1 only; every load is
bounded in time.
"""
import argparse
import atexit
import http.client
import json
import threading
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "userd")
BASELINE = os.path.join(ROOT, "target", "release", "examples", "baseline")


def use_profile(profile):
    """Point at the binaries of a cargo profile (`debug` reuses what `cargo test` built)."""
    global BIN, BASELINE
    BIN = os.path.join(ROOT, "target", profile, "userd")
    BASELINE = os.path.join(ROOT, "target", profile, "examples", "baseline")
SECRET = "bench-secret-0123456789abcdef0123456789"


def machine():
    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def write_section(mark, script, table, users=None):
    """Put `table` between BENCHMARKS.md's `<!-- mark -->` and `<!-- /mark -->`, dated."""
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "r+") as f:
        text = f.read()
        a = text.index(f"<!-- {mark} -->") + len(f"<!-- {mark} -->")
        b = text.index(f"<!-- /{mark} -->")
        what = f", {users:,} users" if users else ""
        text = (text[:a] + f"\nMeasured {time.strftime('%Y-%m-%d')} on {machine()}, `{script}`, one run{what}:\n\n"
                f"{table}\n" + text[b:])
        f.seek(0)
        f.write(text)
        f.truncate()


# userd reads ./config.toml when it exists: the binaries run in an empty directory, so that a
# run measures each build's defaults plus what the script sets, not the checkout's config file
# (a previous build would otherwise run with this build's settings).
NEUTRAL_CWD = tempfile.mkdtemp(prefix="userd-bench-cwd-")
atexit.register(shutil.rmtree, NEUTRAL_CWD, True)


def publish(mark, script, lines, failed, quick, users=None):
    """Print a script's table; a full run also writes it into its section of BENCHMARKS.md.
    Exits non-zero when `failed` requests were not 2xx (the run does not count)."""
    table = "\n".join(lines)
    print(f"machine: {machine()}" + (f", {users} users" if users else "") + f"\n{table}")
    if not quick:
        write_section(mark, script, table, users=users)
    if failed:
        sys.exit(f"{failed} requests were not 2xx")


def script_args():
    """The shared command line of the scripts beside this one (`--quick`, `--profile`): parsed,
    with the binaries of that profile chosen and wrk (and, for release, a build) ensured."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--profile", default="release",
                    help="cargo profile of the binaries; 'debug' uses what `cargo test` built (CI)")
    args = ap.parse_args()
    use_profile(args.profile)
    ensure_tools(build=args.profile == "release")
    return args


def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, cwd=NEUTRAL_CWD, **kw).stdout


def ensure_tools(build):
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
    if build:
        subprocess.run(["cargo", "build", "--release", "--bin", "userd", "--example", "baseline"], cwd=ROOT, check=True)


def start(cmd, env=None):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
                            cwd=NEUTRAL_CWD)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on http://"):
        proc.kill()
        sys.exit(f"{cmd[0]} did not start: {line!r}")
    return proc, line[len("listening on "):]


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid):
    """User plus system CPU time the process has used, from its own accounting."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url, script, seconds, env, pid=None, connections=64):
    """One wrk load; with the server's `pid`, also its CPU microseconds per request."""
    # Imports and data copies leave dirty pages; their writeback would slow the syncs measured.
    os.sync()
    cpu0 = cpu_seconds(pid) if pid else None
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", os.path.join(ROOT, "bench", script), url],
                         capture_output=True, text=True, env=dict(os.environ, **env), check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    lat = re.search(r"latency p50 ([\d.]+) ms, p99 ([\d.]+) ms, p99.9 ([\d.]+) ms", out)
    bad = int(re.search(r"non-200 answers: (\d+)", out).group(1))
    errors = re.search(r"Socket errors: (.*)", out)
    cpu_us = (cpu_seconds(pid) - cpu0) * 1e6 / max(total, 1) if pid else None
    return {"rps": rps, "p50": float(lat.group(1)), "p99": float(lat.group(2)), "p999": float(lat.group(3)),
            "non200": bad, "socket_errors": errors.group(1) if errors else "", "cpu_us": cpu_us}


def write_users(path, n, email=False):
    """The benchmark's users in the import format: bench-0 .. bench-(n-1) over 10 organizations,
    all ACTIVE (the toggle scripts assume it), with an email each when `email`."""
    with open(path, "w") as f:
        for i in range(n):
            user = {"userId": f"bench-{i}", "organization": {"orgId": f"bench-o{i % 10}"},
                    "schemaId": "person", "data": {"i": i}}
            if email:
                user["contact"] = {"email": {"address": f"bench-{i}@example.com"}}
            f.write(json.dumps(user) + "\n")
    return path


def baseline(seconds):
    """The bare actix-web baseline under the same wrk load shape: the row every ratio divides by."""
    proc, url = start([BASELINE, "127.0.0.1:0"])
    try:
        return wrk(url + "/v3alpha/users/u1/reactivate", "baseline.lua", seconds, {}, proc.pid)
    finally:
        proc.terminate()
        proc.wait()


def userd_env(data_dir, durability, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("USERD_")}
    env.update(USERD_AUTH__HS256_SECRET=SECRET, USERD_LOG__LEVEL="warn",
               USERD_STORAGE__DURABILITY=durability)
    env.update(extra or {})
    return env


def ready(url, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            with urllib.request.urlopen(url + "/debug/ready", timeout=1) as r:
                if r.status == 200:
                    return time.time() - t0
        except OSError:
            time.sleep(0.005)
    sys.exit("userd did not become ready")


def post_json(conn, path, token, body):
    conn.request("POST", path, body=json.dumps(body),
                 headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def listing_latency(url, token, calls):
    """Sequential listings over one keep-alive connection: p50 and p99 in ms."""
    host, port = url[len("http://"):].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    out = {}
    shapes = {
        "default page of 100 users": {},
        "page of 100 filtered by organization": {"filters": [{"organizationIdFilter": {"organizationId": "bench-o3"}}]},
    }
    for name, body in shapes.items():
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            status, data = post_json(conn, "/v3alpha/users/search", token, body)
            times.append((time.perf_counter() - t0) * 1000)
            if status != 200 or len(json.loads(data).get("result", [])) != 100:
                sys.exit(f"listing {name!r} answered {status}: {data[:200]!r}")
        out[name] = {"p50": percentile(times, 50), "p99": percentile(times, 99), "calls": calls}
    conn.close()
    return out


def gets_while_scanning(url, token, seconds, load_env, pid):
    """wrk's GET load while 4 clients loop on a listing no index serves (email contains)."""
    host, port = url[len("http://"):].rsplit(":", 1)
    stop = threading.Event()
    counts = {"scans": 0, "refused": 0, "other": 0}
    lock = threading.Lock()

    def scan():
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        body = {"filters": [{"emailFilter": {"address": "99999@", "method": "TEXT_FILTER_METHOD_CONTAINS"}}]}
        while not stop.is_set():
            status, _ = post_json(conn, "/zitadel.resources.user.v3alpha.ZITADELUsers/SearchUsers", token, body)
            with lock:
                key = "scans" if status == 200 else "refused" if status == 429 else "other"
                counts[key] += 1
        conn.close()

    clients = [threading.Thread(target=scan) for _ in range(4)]
    for c in clients:
        c.start()
    time.sleep(0.2)
    gets = wrk(url, "get.lua", seconds, load_env, pid)
    stop.set()
    for c in clients:
        c.join()
    if counts["other"]:
        sys.exit(f"unindexed listings answered something else than 200 or 429: {counts}")
    return dict(counts, gets=gets)


def probed_load(url, token, n, seconds, load_env, pid, connections):
    """wrk's GET load at `connections` while one more client GETs in a loop: the probe's
    latency over the GETs admitted (200), and how many were shed (429)."""
    host, port = url[len("http://"):].rsplit(":", 1)
    stop = threading.Event()
    probe = {"admitted": [], "shed": 0}

    def loop():
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        i = 0
        while not stop.is_set():
            t0 = time.perf_counter()
            conn.request("GET", f"/v3alpha/users/bench-{i % n}", headers={"authorization": f"Bearer {token}"})
            r = conn.getresponse()
            r.read()
            if r.status == 200:
                probe["admitted"].append((time.perf_counter() - t0) * 1000)
            elif r.status == 429:
                probe["shed"] += 1
            else:
                sys.exit(f"probe GET answered {r.status}")
            i += 1
        conn.close()

    client = threading.Thread(target=loop)
    client.start()
    time.sleep(0.1)
    load = wrk(url, "get.lua", seconds, load_env, pid, connections)
    stop.set()
    client.join()
    times = probe["admitted"] or [float("nan")]
    return dict(load=load, probe_p50=percentile(times, 50), probe_p99=percentile(times, 99),
                probe_admitted=len(probe["admitted"]), probe_shed=probe["shed"], rss=peak_rss_mb(pid))


def overload(data, n, seconds, load_env, token):
    """The same GETs at the in-flight bound (server.max_in_flight = 64, 64 connections) and at
    ten times it (640 connections): admitted requests should keep their latency, the rest be
    shed at once, and memory stay put."""
    env = userd_env(data, "fsync", {"USERD_SERVER__MAX_IN_FLIGHT": "64"})
    proc, url = start([BIN, "serve", "--bind", "127.0.0.1:0", "--data-dir", data], env)
    ready(url)
    for connections in (64, 640):
        r = probed_load(url, token, n, seconds, load_env, proc.pid, connections)
        overload_rows.append((f"GET, {connections} connections, max_in_flight 64 ({n:,} users)", r))
    proc.terminate()
    proc.wait()


def before_after(previous, n, seconds, tmp, rounds=3):
    """Toggles and GETs on this build and on `previous` in alternating rounds, each on a fresh
    copy of freshly imported users: the medians of req/s and of server CPU per request. This
    machine's speed drifts during a run; alternating keeps the drift out of the comparison."""
    jsonl = os.path.join(tmp, f"users-{n}.jsonl")
    builds = {"this build": BIN, "previous build": previous}
    seeds = {}
    for name, binary in builds.items():
        seed = os.path.join(tmp, f"seed-{n}-{name.split()[0]}")
        sh(binary, "import", jsonl, "--data-dir", seed, env=userd_env(seed, "fsync"))
        seeds[name] = seed
    results = {(name, load): [] for name in builds for load in ("toggles", "GET")}
    for _ in range(rounds):
        for name, binary in builds.items():
            data = os.path.join(tmp, f"round-{n}")
            shutil.rmtree(data, ignore_errors=True)
            shutil.copytree(seeds[name], data)
            env = userd_env(data, "fsync")
            token = sh(binary, "token", "--role", "IAM_OWNER", "--ttl", "2h", "--data-dir", data, env=env).strip()
            load_env = {"USERS": str(n), "WRK_THREADS": "2", "TOKEN": token}
            proc, url = start([binary, "serve", "--bind", "127.0.0.1:0", "--data-dir", data], env)
            ready(url)
            results[(name, "toggles")].append(wrk(url, "toggle.lua", seconds, load_env, proc.pid))
            results[(name, "GET")].append(wrk(url, "get.lua", seconds, load_env, proc.pid))
            proc.terminate()
            proc.wait()
            shutil.rmtree(data, ignore_errors=True)
    median = lambda xs: sorted(xs)[len(xs) // 2]
    for (name, load), runs in results.items():
        before_after_rows.append((f"{name}: {load}, fsync, HS256 ({n:,} users)",
                                  median([r["rps"] for r in runs]), median([r["cpu_us"] for r in runs]),
                                  median([r["p99"] for r in runs]), sum(r["non200"] for r in runs), len(runs)))


before_after_rows = []
listing_rows = []
overload_rows = []


def run_users(n, seconds, tmp, rows):
    jsonl = write_users(os.path.join(tmp, f"users-{n}.jsonl"), n, email=True)
    data = os.path.join(tmp, f"data-{n}")
    env = userd_env(data, "fsync")
    out = sh(BIN, "import", jsonl, "--data-dir", data, env=env)
    import_rate = float(re.search(r"\(([\d.]+) users/s\)", out).group(1))
    disk = int(sh("du", "-sb", data).split()[0])
    token = sh(BIN, "token", "--role", "IAM_OWNER", "--ttl", "2h", "--data-dir", data, env=env).strip()
    load_env = {"USERS": str(n), "WRK_THREADS": "2", "TOKEN": token}

    t0 = time.time()
    proc, url = start([BIN, "serve", "--bind", "127.0.0.1:0", "--data-dir", data], env)
    startup = time.time() - t0 + ready(url)
    toggles = wrk(url, "toggle.lua", seconds, load_env, proc.pid)
    gets = wrk(url, "get.lua", seconds, load_env, proc.pid)
    rss = peak_rss_mb(proc.pid)
    listings = listing_latency(url, token, calls=200)
    scanning = gets_while_scanning(url, token, seconds, load_env, proc.pid)
    rss = max(rss, peak_rss_mb(proc.pid))
    proc.terminate()
    proc.wait()
    overload(data, n, seconds, load_env, token)

    # RS256 and periodic runs start from freshly imported users (toggle.lua assumes everyone
    # starts ACTIVE): the same toggles with tokens signed by an RSA key the server trusts.
    rsa_token = sh(BIN, "token", "--role", "IAM_OWNER", "--ttl", "2h", "--key", os.path.join(ROOT, "tests/keys/rsa-a.pem"),
                   "--data-dir", data, env=env).strip()
    data_rsa = data + "-rs256"
    data_periodic = data + "-periodic"
    for d in (data_rsa, data_periodic):
        sh(BIN, "import", jsonl, "--data-dir", d, env=env)
    proc, url = start([BIN, "serve", "--bind", "127.0.0.1:0", "--data-dir", data_rsa], userd_env(data_rsa, "fsync", {"USERD_AUTH__PUBLIC_KEY_PEM_FILE": os.path.join(ROOT, "tests/keys/rsa-a.pub.pem")}))
    ready(url)
    rs256 = wrk(url, "toggle.lua", seconds, dict(load_env, TOKEN=rsa_token), proc.pid)
    proc.terminate()
    proc.wait()

    periodic_env = userd_env(data_periodic, "periodic")
    proc, url = start([BIN, "serve", "--bind", "127.0.0.1:0", "--data-dir", data_periodic], periodic_env)
    ready(url)
    periodic = wrk(url, "toggle.lua", seconds, dict(load_env, TOKEN=sh(BIN, "token", "--role", "IAM_OWNER", "--ttl", "2h", "--data-dir", data_periodic, env=periodic_env).strip()), proc.pid)
    proc.terminate()
    proc.wait()

    # The trade-off of sled's page cache: the default (8 MB) keeps RSS low; a larger one keeps
    # more of a big store's pages decoded. Same load, same run, storage.cache_mb = 64.
    big_cache = None
    if n >= 1_000_000:
        data_cache = data + "-cache64"
        sh(BIN, "import", jsonl, "--data-dir", data_cache, env=env)
        cache_env = userd_env(data_cache, "fsync", {"USERD_STORAGE__CACHE_MB": "64"})
        proc, url = start([BIN, "serve", "--bind", "127.0.0.1:0", "--data-dir", data_cache], cache_env)
        ready(url)
        big_cache = wrk(url, "toggle.lua", seconds, load_env, proc.pid)
        big_cache_rss = peak_rss_mb(proc.pid)
        proc.terminate()
        proc.wait()

    label = f"{n:,} users"
    rows.append((f"toggles, fsync, HS256 ({label})", toggles, rss, disk / n, startup, import_rate))
    rows.append((f"GET, HS256 ({label})", gets, None, None, None, None))
    rows.append((f"GET while 4 clients loop on an unindexed listing ({label})", scanning["gets"], None, None, None, None))
    for name, lat in listings.items():
        listing_rows.append((f"{name} ({label})", lat))
    listing_rows.append((f"unindexed contains listing, 4 clients looping ({label}): "
                         f"{scanning['scans']} answered, {scanning['refused']} refused over budget", None))
    rows.append((f"toggles, fsync, RS256 ({label})", rs256, None, None, None, None))
    rows.append((f"toggles, periodic, HS256 ({label})", periodic, None, None, None, None))
    if big_cache is not None:
        rows.append((f"toggles, fsync, HS256, cache_mb 64 ({label})", big_cache, big_cache_rss, None, None, None))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--profile", default="release",
                    help="cargo profile of the binaries; 'debug' uses what `cargo test` built (CI)")
    ap.add_argument("--previous", help="another userd binary to run the toggle and GET loads on")
    args = ap.parse_args()
    seconds = 1 if args.quick else 10
    counts = [2000] if args.quick else [10_000, 1_000_000]
    use_profile(args.profile)
    ensure_tools(build=args.profile == "release")
    tmp = tempfile.mkdtemp(prefix="userd-bench-")
    try:
        base = baseline(seconds)
        rows = []
        for n in counts:
            run_users(n, seconds, tmp, rows)
            if args.previous:
                before_after(args.previous, n, seconds, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        "| load | req/s | vs baseline | server CPU µs/req | CPU vs baseline | p50 ms | p99 ms | p99.9 ms | non-2xx | peak RSS MB | disk bytes/user | start-up s | import users/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| bare actix-web baseline | {base['rps']:.0f} | 1.00 | {base['cpu_us']:.1f} | 1.0 | {base['p50']:.2f} | {base['p99']:.2f} | {base['p999']:.2f} | {base['non200']} | | | | |",
    ]
    failed = base["non200"]
    for name, r, rss, per_user, startup, rate in rows:
        failed += r["non200"]
        fmt = lambda v, f: (f.format(v) if v is not None else "")
        lines.append(f"| {name} | {r['rps']:.0f} | {r['rps'] / base['rps']:.2f} | {r['cpu_us']:.1f} | "
                     f"{r['cpu_us'] / base['cpu_us']:.1f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['p999']:.2f} | "
                     f"{r['non200']} | {fmt(rss, '{:.0f}')} | {fmt(per_user, '{:.0f}')} | {fmt(startup, '{:.2f}')} | {fmt(rate, '{:.0f}')} |")
    if before_after_rows:
        lines += ["", "| before and after (median of alternating rounds) | req/s | server CPU µs/req | p99 ms | non-2xx | rounds |",
                  "|---|---|---|---|---|---|"]
        for name, rps, cpu, p99, bad, rounds in before_after_rows:
            failed += bad
            lines.append(f"| {name} | {rps:.0f} | {cpu:.1f} | {p99:.2f} | {bad} | {rounds} |")
    lines += ["", "| listing | calls | p50 ms | p99 ms |", "|---|---|---|---|"]
    for name, lat in listing_rows:
        if lat is None:
            lines.append(f"| {name} | | | |")
        else:
            lines.append(f"| {name} | {lat['calls']} | {lat['p50']:.2f} | {lat['p99']:.2f} |")
    lines += ["", "| overload | req/s | shed (429) | probe GETs admitted | probe shed | probe p50 ms | probe p99 ms | peak RSS MB |",
              "|---|---|---|---|---|---|---|---|"]
    for name, r in overload_rows:
        lines.append(f"| {name} | {r['load']['rps']:.0f} | {r['load']['non200']} | {r['probe_admitted']} | {r['probe_shed']} | "
                     f"{r['probe_p50']:.2f} | {r['probe_p99']:.2f} | {r['rss']:.0f} |")
    publish("table", "bench/run.py", lines, failed, args.quick)


if __name__ == "__main__":
    main()
