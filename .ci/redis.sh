#!/usr/bin/env bash
# Start a throwaway Redis server for the tests that need one (rate limits shared across
# workers and replicas, SHIM_SHARED_STORE_URL) and print one line on stdout:
#
#     export SHIM_TEST_REDIS_URL=redis://127.0.0.1:PORT/0
#
# so that CI can run `eval "$(.ci/redis.sh)"` before the tests. Everything else goes to stderr.
#
# Idempotent: a second run finds the server already up (or starts it again) and prints the same
# line. It never touches a system Redis: the server runs from $SHIM_REDIS_DIR (default
# /tmp/shimgen-redis) with no persistence, on 127.0.0.1 only, on port 6390 if that is free on
# first start (else a free port), kept afterwards in $SHIM_REDIS_DIR/port.
#
# Missing redis-server is installed with apt-get (Debian/Ubuntu, needs root).
# Stop the server with: .ci/redis.sh stop
set -euo pipefail

exec 3>&1 1>&2 # stdout is reserved for the export line

ROOT="${SHIM_REDIS_DIR:-/tmp/shimgen-redis}"
mkdir -p "$ROOT"
chmod 0700 "$ROOT"

if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "redis.sh: redis-server is not installed; install it (apt-get install redis-server) or run as root on Debian" >&2
        exit 1
    fi
    echo "redis.sh: installing redis-server with apt-get" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >&2
fi

ping() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }

if [ "${1:-}" = "stop" ]; then
    if [ -f "$ROOT/port" ]; then
        redis-cli -h 127.0.0.1 -p "$(cat "$ROOT/port")" shutdown nosave >/dev/null 2>&1 || true
    fi
    exit 0
fi

port_free() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

if [ -f "$ROOT/port" ]; then
    PORT="$(cat "$ROOT/port")"
else
    if port_free 6390; then PORT=6390; else PORT="$(free_port)"; fi
    echo "$PORT" >"$ROOT/port"
fi

if ! ping "$PORT"; then
    if ! port_free "$PORT"; then # something else took the port since: choose another
        PORT="$(free_port)"
        echo "$PORT" >"$ROOT/port"
    fi
    # 3>&-: the server must not inherit the export-line pipe (see postgres.sh).
    redis-server --bind 127.0.0.1 --port "$PORT" --dir "$ROOT" --save '' --appendonly no \
        --daemonize yes --pidfile "$ROOT/redis.pid" --logfile "$ROOT/server.log" \
        --protected-mode yes >/dev/null 3>&-
    for _ in $(seq 1 100); do
        ping "$PORT" && break
        sleep 0.1
    done
    if ! ping "$PORT"; then
        echo "redis.sh: redis-server did not answer on 127.0.0.1:$PORT; see $ROOT/server.log" >&2
        exit 1
    fi
fi

echo "export SHIM_TEST_REDIS_URL=redis://127.0.0.1:$PORT/0" >&3
