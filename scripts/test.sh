#!/usr/bin/env bash
# Runs the tests.
#
#   scripts/test.sh unit         cmocka unit tests of build/ (meson test)
#   scripts/test.sh api-sqlite   black-box API tests (tests/api) against build/shopd on SQLite
#   scripts/test.sh api-pg       the same on a throwaway PostgreSQL cluster (scripts/pg.sh)
#   scripts/test.sh asan         build-asan/ (ASan + UBSan): its unit tests, then the API tests
#   scripts/test.sh all          unit, api-sqlite, api-pg, asan; stops at the first failure
#
# Extra arguments after the stage go to pytest (e.g. `scripts/test.sh api-sqlite -k refresh -x`).
# SHOPD_TEST_KEEP=1 keeps each test server's temp dir and prints its log.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PY=/usr/bin/python3
PYTEST_TIMEOUT=${PYTEST_TIMEOUT:-480}   # seconds per API suite run: a hung server fails the run
UNIT_TIMEOUT=${UNIT_TIMEOUT:-300}

say() { echo "test.sh: $*" >&2; }

usage() {
  echo "usage: $0 all|unit|api-sqlite|api-pg|asan [pytest args...]" >&2
  exit 2
}

# pytest with a time limit; exit code 5 (no tests collected) is a failure too.
run_pytest() {
  local rc=0
  timeout --foreground -k 15 "$PYTEST_TIMEOUT" "$PY" -m pytest tests/api -q "$@" || rc=$?
  case $rc in
    0) return 0 ;;
    5) say "pytest collected no tests"; return 1 ;;
    124|137) say "pytest did not finish within ${PYTEST_TIMEOUT}s"; return 1 ;;
    *) return "$rc" ;;
  esac
}

# Brings a build directory up to date (configured by `make build` / `meson setup`).
ensure_built() {
  local b=$1
  if [ ! -f "$b/build.ninja" ]; then
    say "$b is not configured: run 'make build' (or 'meson setup $b') first"
    return 1
  fi
  ninja -C "$b" >/dev/null || { ninja -C "$b"; return 1; }
}

stage_unit() {
  ensure_built build || return 1
  timeout --foreground -k 15 "$UNIT_TIMEOUT" meson test -C build --print-errorlogs
}

stage_api_sqlite() {
  if [ -z "${SHOPD_BIN:-}" ]; then
    ensure_built build || return 1
  fi
  SHOPD_TEST_DB=sqlite run_pytest "$@"
}

stage_api_pg() {
  if [ -z "${SHOPD_BIN:-}" ]; then
    ensure_built build || return 1
  fi
  # A subshell, so that its EXIT trap (stopping the cluster) runs when the stage ends,
  # however it ends.
  (
    pgdir=$(mktemp -d /tmp/shopd-pg.XXXXXX) || exit 1
    trap 'scripts/pg.sh stop "$pgdir" >/dev/null 2>&1 || say "could not stop the cluster in $pgdir"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP
    port=$(scripts/pg.sh start "$pgdir") || { say "cannot start PostgreSQL"; exit 1; }
    say "PostgreSQL on 127.0.0.1:$port ($pgdir)"
    SHOPD_TEST_DB=pg SHOPD_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres" run_pytest "$@"
  )
}

stage_asan() {
  if [ ! -f build-asan/build.ninja ]; then
    meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true ||
      return 1
  fi
  ninja -C build-asan || return 1
  (
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    timeout --foreground -k 15 "$UNIT_TIMEOUT" meson test -C build-asan --print-errorlogs || exit 1
    SHOPD_BIN="$ROOT/build-asan/shopd" SHOPD_ARGON2_MEMORY_KIB=1024 SHOPD_TEST_DB=sqlite \
      run_pytest "$@"
  )
}

run_stage() {
  local name=$1
  shift
  local start=$SECONDS rc=0
  say "=== $name"
  case "$name" in
    unit) stage_unit || rc=$? ;;
    api-sqlite) stage_api_sqlite "$@" || rc=$? ;;
    api-pg) stage_api_pg "$@" || rc=$? ;;
    asan) stage_asan "$@" || rc=$? ;;
  esac
  if [ "$rc" -eq 0 ]; then
    say "=== $name passed in $((SECONDS - start))s"
  else
    say "=== $name FAILED (exit $rc) after $((SECONDS - start))s"
  fi
  return "$rc"
}

[ $# -ge 1 ] || usage
what=$1
shift

case "$what" in
  unit|api-sqlite|api-pg|asan)
    run_stage "$what" "$@"
    ;;
  all)
    passed=()
    failed=""
    for stage in unit api-sqlite api-pg asan; do
      if run_stage "$stage" "$@"; then
        passed+=("$stage")
      else
        failed=$stage
        break
      fi
    done
    if [ -z "$failed" ]; then
      echo "test.sh: all passed (${passed[*]}) in ${SECONDS}s"
      exit 0
    fi
    echo "test.sh: FAILED at $failed (passed: ${passed[*]:-none}) after ${SECONDS}s"
    exit 1
    ;;
  *) usage ;;
esac
