#!/usr/bin/env bash
# Durable deactivate/reactivate toggles against a release userd on a fresh data dir, with wrk.
# Usage: bench/toggle.sh [USERS=10000] [SECONDS=10] [CONNECTIONS=64]
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${1:-10000}
SECS=${2:-10}
CONNS=${3:-64}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
BIN=${USERD_BIN:-target/release/userd}
[ -x "$BIN" ] || cargo build --release
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
export USERD_AUTH__HS256_SECRET=bench-secret-0123456789abcdef0123456789 USERD_LOG__LEVEL=${USERD_LOG__LEVEL:-warn}
"$BIN" serve --bind 127.0.0.1:0 --data-dir "$dir/data" > "$dir/out" 2> "${ERRLOG:-$dir/err}" &
pid=$!
for _ in $(seq 100); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
addr=$(sed -n 's/^listening on http:\/\///p' "$dir/out")
host=${addr%:*}; port=${addr##*:}
export TOKEN=$("$BIN" token --role IAM_OWNER --data-dir "$dir/data" --ttl 1h)
python3 bench/seed_users.py "$host" "$port" "$USERS"
USERS=$USERS WRK_THREADS=2 wrk -t2 -c"$CONNS" -d"${SECS}s" -s "bench/${SCRIPT:-toggle}.lua" "http://$addr"
