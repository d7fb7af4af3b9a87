#!/usr/bin/env bash
# A throwaway PostgreSQL for the test suite, from the machine's own server binaries
# (Debian's `postgresql` package): `scripts/postgres.sh start DIR` initialises a cluster in DIR,
# starts it on 127.0.0.1 and a free port, and prints its URL; `scripts/postgres.sh stop DIR`
# stops it; `kill DIR` stops it at once (as a crash would) and `resume DIR` starts it again on
# the same port. The server refuses to run as root, so as root it runs as the `postgres` user.
set -euo pipefail

action=${1:?usage: postgres.sh start|stop|kill|resume DIR}
dir=${2:?usage: postgres.sh start|stop|kill|resume DIR}

bin=""
for d in /usr/lib/postgresql/*/bin; do
  [ -x "$d/pg_ctl" ] && bin=$d
done
[ -n "$bin" ] || { echo "no PostgreSQL server binaries in /usr/lib/postgresql (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    # A free port below the kernel's ephemeral range, so that no client connection can take it
    # as its local port while the server is down between `kill` and `resume`.
    port=$(python3 -c '
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(1000):
    p = random.randrange(10000, max(low, 10001))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(p)
    break
')
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    "$0" resume "$dir"
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  resume)
    port=$(cat "$dir/port")
    # The port may still be held for a moment after a kill: try again for a few seconds.
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
      if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=300 -c shared_buffers=64MB" \
        start >/dev/null; then
        exit 0
      fi
      sleep 1
    done
    cat "$dir/server.log" >&2
    exit 1
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  kill)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: postgres.sh start|stop|kill|resume DIR" >&2
    exit 2
    ;;
esac
