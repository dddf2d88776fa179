#!/usr/bin/env bash
# with-postgres.sh CMD [ARGS...]: run CMD with TALLY_DATABASE_URL pointing at
# a PostgreSQL that works, starting a private one when none is configured.
#
#   1. TALLY_DATABASE_URL set: use it as is.
#   2. A server answers on 127.0.0.1:5432 (as on dev machines and CI): use
#      it, creating database $TALLY_DEV_DB (default tally) when missing.
#   3. Otherwise (or with TALLY_PG_PRIVATE=1) start a private cluster under .tally/pg with the machine's
#      initdb/pg_ctl (installing Debian's postgresql package first when run
#      as root and none is present) and stop it when CMD exits.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
db=${TALLY_DEV_DB:-tally}
say() { printf 'with-postgres: %s\n' "$*" >&2; }

if [ -n "${TALLY_DATABASE_URL:-}" ]; then
  exec "$@"
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

psql_bin() {
  command -v psql 2>/dev/null || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1
}

ensure_db() { # $1: admin URL
  local psql; psql=$(psql_bin)
  if [ -z "$psql" ]; then say "psql not found; assuming database $db exists"; return; fi
  if [ "$("$psql" "$1" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
    say "creating database $db"
    "$psql" "$1" -qc "CREATE DATABASE \"$db\""
  fi
}

if [ -z "${TALLY_PG_PRIVATE:-}" ] && port_open 5432; then
  admin="postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
  if ensure_db "$admin"; then
    export TALLY_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
    say "using PostgreSQL on 127.0.0.1:5432, database $db"
    exec "$@"
  fi
  say "PostgreSQL on 5432 refused user postgres without a password; set TALLY_DATABASE_URL, or starting a private one"
fi

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing postgresql (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >&2
    bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  else
    say "no PostgreSQL found: install the postgresql package or set TALLY_DATABASE_URL"
    exit 1
  fi
fi

pgdir=${TALLY_PG_DIR:-$root/.tally/pg}
pgport=${TALLY_PG_PORT:-54329}
run_as=()
if [ "$(id -u)" = 0 ]; then
  # initdb refuses to run as root; the postgres user must reach the directory.
  id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
  run_as=(runuser -u postgres --)
  mkdir -p "$pgdir"
  if ! runuser -u postgres -- test -x "$pgdir"; then
    pgdir=/var/tmp/tally-pg-$(printf '%s' "$root" | md5sum | cut -c1-8)
    say "postgres cannot reach the checkout; using $pgdir"
    mkdir -p "$pgdir"
  fi
  chown postgres "$pgdir"
fi
mkdir -p "$pgdir"

if [ ! -f "$pgdir/data/PG_VERSION" ]; then
  say "initialising a private cluster in $pgdir/data"
  "${run_as[@]}" "$bindir/initdb" -D "$pgdir/data" -U postgres -A trust --no-sync -E UTF8 >"$pgdir/initdb.log" 2>&1 \
    || { cat "$pgdir/initdb.log" >&2; exit 1; }
fi
mkdir -p "$pgdir/run"; [ ${#run_as[@]} -eq 0 ] || chown postgres "$pgdir/run"

stop_pg() {
  say "stopping private PostgreSQL"
  "${run_as[@]}" "$bindir/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true
}
say "starting private PostgreSQL on 127.0.0.1:$pgport"
"${run_as[@]}" "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/postgres.log" -w -t 60 \
  -o "-p $pgport -k $pgdir/run -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null \
  || { tail -n 20 "$pgdir/postgres.log" >&2; exit 1; }
trap stop_pg EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

admin="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"
ensure_db "$admin"
export TALLY_DATABASE_URL="postgres://postgres@127.0.0.1:$pgport/$db?sslmode=disable"
# Run in the background and wait, so INT/TERM reach our traps promptly.
"$@" &
child=$!
trap 'kill -INT $child 2>/dev/null; wait $child; exit 130' INT
trap 'kill -TERM $child 2>/dev/null; wait $child; exit 143' TERM
wait $child
