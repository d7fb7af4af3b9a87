#!/usr/bin/env bash
# Conformance: schemathesis generates requests for every operation of the running server's
# /openapi.json (with a valid token) and checks that none answers 5xx, that every status is
# documented, and that every response (error bodies included) matches its schema. Bounded.
# Usage: tests/conformance/schemathesis.sh PYTHON USERD_BIN [MAX_EXAMPLES]
set -euo pipefail
python=$1
bin=$2
examples=${3:-30}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
export USERD_AUTH__HS256_SECRET=conformance-secret-0123456789abcdef USERD_LOG__LEVEL=warn
"$bin" serve --bind 127.0.0.1:0 --data-dir "$dir/data" > "$dir/out" 2> "$dir/err" &
pid=$!
for _ in $(seq 200); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
url=$(sed -n 's/^listening on //p' "$dir/out")
token=$("$bin" token --role IAM_OWNER --org org-a --data-dir "$dir/data")
"$python" -m schemathesis.cli run "$url/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$examples" --generation-deterministic --request-timeout 10
