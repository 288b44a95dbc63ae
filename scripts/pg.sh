#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests.
#
#   scripts/pg.sh start DIR   creates the cluster in DIR, starts it on a free port of
#                             127.0.0.1 (unix socket inside DIR, fsync off) and prints the
#                             port on stdout; superuser "postgres", trust authentication.
#   scripts/pg.sh stop DIR    stops it and removes DIR.
#
# Works as root (the server then runs as the postgres user, which PostgreSQL requires) and
# as an ordinary user. Running start again on the same DIR replaces the old cluster;
# stop on a missing DIR does nothing. Everything but the port goes to stderr.
set -euo pipefail

MARKER=.shopd-pg   # stop removes DIR only when start created it

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$2
case "$dir" in
  /*) ;;
  *) dir="$PWD/$dir" ;;
esac

pg_bin=${PG_BIN:-}
if [ -z "$pg_bin" ]; then
  for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    if [ -x "$d/pg_ctl" ]; then
      pg_bin=$d
      break
    fi
  done
fi
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/pg_ctl" ]; then
  echo "pg.sh: no PostgreSQL server binaries (apt-get install postgresql, or set PG_BIN)" >&2
  exit 1
fi

# Quotes one word for sh -c.
q() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

# Runs a command line as the user owning the cluster: postgres when we are root.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    su postgres -s /bin/sh -c "$1"
  else
    sh -c "$1"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

stop_cluster() {
  local data="$dir/data"
  if [ -f "$data/postmaster.pid" ]; then
    as_pg "$(q "$pg_bin/pg_ctl") -D $(q "$data") -m fast -w -t 30 stop" >&2 ||
      as_pg "$(q "$pg_bin/pg_ctl") -D $(q "$data") -m immediate -w -t 30 stop" >&2 || true
  fi
}

remove_dir() {
  if [ ! -e "$dir" ]; then
    return 0
  fi
  if [ ! -e "$dir/$MARKER" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
    echo "pg.sh: $dir was not made by pg.sh start; not removing it" >&2
    return 1
  fi
  rm -rf -- "$dir"
}

start() {
  mkdir -p "$dir"
  if [ -e "$dir/$MARKER" ]; then
    # a second run on the same DIR: replace whatever is there
    stop_cluster
    rm -rf -- "$dir/data" "$dir/sock" "$dir/postgres.log" "$dir/port"
  elif [ -n "$(ls -A "$dir")" ]; then
    echo "pg.sh: $dir is not empty and was not made by pg.sh start" >&2
    exit 1
  fi
  touch "$dir/$MARKER"
  mkdir -p "$dir/sock"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres:postgres "$dir"
    chmod 700 "$dir"
    if ! su postgres -s /bin/sh -c "test -w $(q "$dir")"; then
      echo "pg.sh: the postgres user cannot reach $dir (a parent directory is not searchable)" >&2
      exit 1
    fi
  fi

  as_pg "$(q "$pg_bin/initdb") -D $(q "$dir/data") -A trust -U postgres -E UTF8 --locale=C --no-sync" \
    >"$dir/initdb.log" 2>&1 || {
    echo "pg.sh: initdb failed:" >&2
    cat "$dir/initdb.log" >&2
    exit 1
  }

  local port attempt
  for attempt in 1 2 3; do
    port=$(free_port)
    local opts="-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir/sock"
    opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    if as_pg "$(q "$pg_bin/pg_ctl") -D $(q "$dir/data") -l $(q "$dir/postgres.log") -w -t 60 -o $(q "$opts") start" >&2; then
      echo "$port" >"$dir/port"
      echo "$port"
      return 0
    fi
    echo "pg.sh: start on port $port failed (attempt $attempt):" >&2
    tail -n 20 "$dir/postgres.log" >&2 || true
    stop_cluster
  done
  exit 1
}

case "$cmd" in
  start) start ;;
  stop)
    stop_cluster
    remove_dir
    ;;
  *) usage ;;
esac
