#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the tests that need one (the PostgreSQL audit sink)
# and print one line on stdout:
#
#     export SHIM_TEST_POSTGRES_URL=postgresql://shimtest:...@127.0.0.1:PORT/shimtest
#
# so that CI can run `eval "$(.ci/postgres.sh)"` before the tests. Everything else goes to stderr.
#
# Idempotent: a second run finds the server already up (or restarts the stopped one) and prints
# the same line. It never touches a system cluster: the server is a private cluster
# (initdb + pg_ctl) in $SHIM_PG_DIR (default /tmp/shimgen-postgres) listening on 127.0.0.1 only,
# on a free port chosen on first start and kept afterwards. That works the same in a container
# without systemd, as root or not. PostgreSQL refuses to run as root, so as root the cluster is
# owned by and run as the `postgres` user (created by the Debian package).
#
# Missing PostgreSQL is installed with apt-get (Debian/Ubuntu, needs root).
# Stop the server with: .ci/postgres.sh stop
set -euo pipefail

exec 3>&1 1>&2 # stdout is reserved for the export line

PGROOT="${SHIM_PG_DIR:-/tmp/shimgen-postgres}"
DATA="$PGROOT/data"
DB=shimtest
ROLE=shimtest
PASSWORD="${SHIM_PG_PASSWORD:-shimtest-password}"

find_bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir)"
        if [ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ]; then
            echo "$dir"
            return 0
        fi
    fi
    return 1
}

if ! BINDIR="$(find_bindir)"; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "postgres.sh: PostgreSQL is not installed; install it (apt-get install postgresql) or run as root on Debian" >&2
        exit 1
    fi
    echo "postgres.sh: installing PostgreSQL with apt-get" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
    BINDIR="$(find_bindir)"
fi

# As root, run the server tools as the unprivileged `postgres` user.
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir "$PGROOT" --shell /usr/sbin/nologin postgres
    fi
    as_pg() { runuser -u postgres -- "$@"; }
    mkdir -p "$PGROOT"
    chown postgres: "$PGROOT"
else
    as_pg() { "$@"; }
    mkdir -p "$PGROOT"
fi
chmod 0700 "$PGROOT"

if [ "${1:-}" = "stop" ]; then
    if [ -f "$DATA/PG_VERSION" ]; then
        as_pg "$BINDIR/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
    fi
    exit 0
fi

free_port() {
    python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

if [ ! -f "$DATA/PG_VERSION" ]; then
    rm -rf "$DATA"
    as_pg "$BINDIR/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    PORT="$(free_port)"
    cat >>"$DATA/postgresql.conf" <<EOF
# added by .ci/postgres.sh
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PGROOT'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
EOF
fi
PORT="$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$DATA/postgresql.conf" | tail -n 1)"

if ! as_pg "$BINDIR/pg_isready" -q -h "$PGROOT" -p "$PORT"; then
    # Lock files left by a server that no longer runs (killed, or a machine image taken while it
    # ran) name a process that is gone, a zombie or no postgres; postgres would refuse to start.
    if [ -f "$DATA/postmaster.pid" ]; then
        pid="$(head -n 1 "$DATA/postmaster.pid")"
        state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
        comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
        # gone, a zombie, or the pid reused by another program
        if [ -z "$state" ] || [ "$state" = Z ] || [ "$comm" != postgres ]; then
            echo "postgres.sh: removing stale lock files of pid $pid" >&2
            rm -f "$DATA/postmaster.pid" "$PGROOT/.s.PGSQL.$PORT.lock"
        fi
    fi
    # 3>&-: the server must not inherit the export-line pipe, or `$(.ci/postgres.sh)` waits for
    # the server to exit, that is forever.
    as_pg "$BINDIR/pg_ctl" -D "$DATA" -l "$PGROOT/server.log" -w -t 60 start >/dev/null 3>&-
fi

psql_admin() {
    as_pg "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGROOT" -p "$PORT" -U postgres "$@"
}

psql_admin -d postgres -v role="$ROLE" -v pw="$PASSWORD" >/dev/null <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'pw')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'pw') \gexec
SQL
psql_admin -d postgres -v db="$DB" -v role="$ROLE" >/dev/null <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL

echo "export SHIM_TEST_POSTGRES_URL=postgresql://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB" >&3
