#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests (through the real binary, on sled and
# then on a throwaway PostgreSQL), then
# ZITADEL's official SDKs (Python zitadel-client, TypeScript @zitadel/client) against the same
# binary, and the console in headless Chromium (/usr/bin/chromium). Installs the SDKs locally
# (target/sdk-venv, tests/sdk/ts/node_modules, tests/browser/node_modules) on first run.
set -euo pipefail
cd "$(dirname "$0")/.."

# A throwaway PostgreSQL (the machine's own server binaries, 127.0.0.1, a free port) for the
# integration suite's second pass; stopped and removed at the end.
pg_dir=$(mktemp -d /tmp/userd-test-pg.XXXXXX)
trap 'scripts/postgres.sh stop "$pg_dir"; rm -rf "$pg_dir"' EXIT
pg_url=$(scripts/postgres.sh start "$pg_dir")

cargo test --all-features

echo "== The integration suite on PostgreSQL =="
USERD_TEST_POSTGRES_URL="$pg_url" cargo test --all-features --test api

# A fresh database on the throwaway server, as a URL.
pg_db() {
  local port=${pg_url##*:}
  port=${port%%/*}
  "$(ls -d /usr/lib/postgresql/*/bin | tail -n 1)/createdb" -h 127.0.0.1 -p "$port" -U postgres "$1"
  echo "${pg_url%/*}/$1"
}

echo "== Python SDK (zitadel-client) =="
if [ ! -x target/sdk-venv/bin/python ]; then
  python3 -m venv target/sdk-venv
fi
target/sdk-venv/bin/pip install -q --disable-pip-version-check -r tests/sdk/python/requirements.txt -r tests/conformance/requirements.txt
USERD_BIN="$PWD/target/debug/userd" target/sdk-venv/bin/python -m pytest -q -p no:cacheprovider tests/sdk/python
echo "== Python SDK on PostgreSQL =="
USERD_SDK_POSTGRES_URL=$(pg_db sdk_python) USERD_BIN="$PWD/target/debug/userd" \
  target/sdk-venv/bin/python -m pytest -q -p no:cacheprovider tests/sdk/python

echo "== TypeScript SDK (@zitadel/client) =="
(cd tests/sdk/ts && npm ci --no-audit --no-fund --loglevel=error && USERD_BIN="$PWD/../../../target/debug/userd" npm test)
echo "== TypeScript SDK on PostgreSQL =="
ts_db=$(pg_db sdk_ts)
(cd tests/sdk/ts && USERD_SDK_POSTGRES_URL="$ts_db" USERD_BIN="$PWD/../../../target/debug/userd" npm test)

echo "== Console in a headless browser =="
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && USERD_BIN="$PWD/../../target/debug/userd" npm test)

echo "== Conformance: schemathesis against /openapi.json =="
tests/conformance/schemathesis.sh target/sdk-venv/bin/python target/debug/userd 30
