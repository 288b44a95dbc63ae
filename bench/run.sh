#!/usr/bin/env bash
# bench/run.sh - the auth benchmark (`make bench`). See docs/performance.md.
#
# Builds a release shopd in build-release/ (never touches build/ or
# build-asan/) and bench/bare_mhd.c next to it, then measures with wrk
# (one thread, 64 connections, 10 s per load, latency percentiles):
#   1. bare_mhd GET /                      the libmicrohttpd ceiling
#   2. shopd GET /healthz
#   3. shopd GET /api/v1/auth/profile/     with a Bearer access token
#   4. shopd POST /api/v1/auth/login/      Argon2id-bound
#   5. profile again while bench/login_pacer.py runs 20 logins/s
# and the peak RSS (VmHWM) of shopd at the end. Prints a table, checks the
# targets, and writes the table to bench/results/auth-<date>-<time>.txt.
#
# Besides req/s and latency, every load records the server's CPU use (cores,
# and microseconds of CPU per request: the figure that does not depend on how
# the kernel shares the two cores between wrk and the server) and the CPU
# used by anything else on the machine during the load ("other"). Before
# each load the script waits (60 s in all, at most) for the machine to be
# quiet; a load during which other processes used more than 0.15 cores is
# flagged, and its numbers are not to be trusted.
#
# Servers listen on 127.0.0.1 only, on free ports, and are stopped by PID on
# exit. Knobs (environment): BENCH_DURATION (10), BENCH_CONNECTIONS (64),
# BENCH_LOGIN_RATE (20), BENCH_QUIET_WAIT (60, seconds in all),
# BENCH_KEEP=1 keeps the temp dir (database, logs, raw wrk output),
# BENCH_REV=<commit> measures that commit, built from a clean `git archive`
# export in the temp dir, instead of the working tree in build-release/.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=build-release
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNECTIONS:-64}
LOGIN_RATE=${BENCH_LOGIN_RATE:-20}
QUIET_BUDGET=${BENCH_QUIET_WAIT:-60}
THREADS=2
EMAIL=bench@example.com
PASSWORD=Analytical-Engine-1843
HZ=$(getconf CLK_TCK)
NOISE_LIMIT=0.15 # cores used by other processes during a load

for tool in wrk curl python3 meson ninja pkg-config cc ss; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (scripts/bootstrap.sh installs it)" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/shopd-bench.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        echo "bench: kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
forget() { # PID: a process we started that has been waited for
    local keep=() p
    for p in "${PIDS[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    PIDS=("${keep[@]}")
}
stop() { # PID: stops one process we started and forgets it
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget "$1"
}

# ---- build ----------------------------------------------------------------

SRC=$ROOT
if [ -n "${BENCH_REV:-}" ]; then
    # A committed revision, built from a clean export: src/ may be mid-edit.
    REV_SHA=$(git -C "$ROOT" rev-parse --short "$BENCH_REV^{commit}")
    SRC="$TMP/src"
    BUILD="$TMP/build"
    mkdir -p "$SRC"
    git -C "$ROOT" archive "$REV_SHA" | tar -x -C "$SRC"
fi
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" "$SRC" --buildtype=release -Db_ndebug=true >"$TMP/meson.log" ||
        { cat "$TMP/meson.log" >&2; exit 1; }
fi
ninja -C "$BUILD" shopd >"$TMP/ninja.log" || { cat "$TMP/ninja.log" >&2; exit 1; }
# shellcheck disable=SC2046
cc -O2 -Wall -Wextra -o "$BUILD/bare_mhd" bench/bare_mhd.c \
    $(pkg-config --cflags --libs libmicrohttpd) -lpthread

# ---- helpers --------------------------------------------------------------

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL PID PORT: until URL answers 200 (10 s at most) or PID dies;
# then makes sure PID is the only listener on PORT. libmicrohttpd binds with
# SO_REUSEPORT (shopd asks for it), so another server started on the same
# port would silently take half of the connections.
wait_http() {
    local i n
    for i in $(seq 100); do
        if curl -fs -o /dev/null "$1"; then
            n=$(ss -Hltn "sport = :$3" | wc -l)
            if [ "$n" != 1 ]; then
                echo "bench: $n listeners on port $3; another process shares it" >&2
                return 1
            fi
            return 0
        fi
        kill -0 "$2" 2>/dev/null || { echo "bench: server exited during start" >&2; return 1; }
        sleep 0.1
    done
    echo "bench: $1 did not answer within 10 s" >&2
    return 1
}

# cpu_ticks PID: utime + stime of the process (all threads), in clock ticks.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# busy_ticks: ticks all CPUs spent not idle, machine-wide.
busy_ticks() {
    awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# wait_quiet: waits until the machine was below NOISE_LIMIT cores busy for
# half a second, drawing on a budget of QUIET_BUDGET seconds for the run.
QUIET_WAITED=0
wait_quiet() {
    local b0 b1 busy
    while :; do
        b0=$(busy_ticks)
        sleep 0.5
        b1=$(busy_ticks)
        busy=$(awk -v a="$b0" -v b="$b1" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz / 0.5 }')
        if awk -v x="$busy" -v l="$NOISE_LIMIT" 'BEGIN { exit !(x < l) }'; then
            return 0
        fi
        if awk -v w="$QUIET_WAITED" -v q="$QUIET_BUDGET" 'BEGIN { exit !(w >= q) }'; then
            return 0 # out of patience: measure anyway, the load gets flagged
        fi
        QUIET_WAITED=$(awk -v w="$QUIET_WAITED" 'BEGIN { print w + 0.5 }')
    done
}

# to_ms VALUE: wrk's "254.00us" / "1.23ms" / "1.02s" / "2.00m" in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000
        printf "%.2f", n
    }'
}

# run_wrk NAME PID URL [wrk args...]: one load of DURATION seconds; records
# under NAME: req/s, p50, p99 (ms), error counts, the server's CPU (cores and
# us per request) and the CPU other processes used meanwhile (cores). A
# process in EXTRA_PID (the login pacer) counts as part of the load.
declare -A RPS P50 P99 ERRS CORES USREQ OTHER TOP
EXTRA_PID=""
run_wrk() {
    local name=$1 pid=$2 url=$3
    shift 3
    local out="$TMP/wrk-$name.txt" s0 s1 b0 b1 x0=0 x1=0 wrk_cpu
    wait_quiet
    python3 bench/cpu_snapshot.py >"$TMP/snap-$name-0.txt"
    s0=$(cpu_ticks "$pid")
    b0=$(busy_ticks)
    [ -z "$EXTRA_PID" ] || x0=$(cpu_ticks "$EXTRA_PID")
    local TIMEFORMAT='%U %S'
    { time timeout $((DURATION + 20)) wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url" \
        >"$out" 2>&1; } 2>"$TMP/time-$name.txt"
    [ -z "$EXTRA_PID" ] || x1=$(cpu_ticks "$EXTRA_PID")
    b1=$(busy_ticks)
    s1=$(cpu_ticks "$pid")
    python3 bench/cpu_snapshot.py >"$TMP/snap-$name-1.txt"
    # $$ collects wrk's CPU when wrk exits; the server and the pacer are the load.
    TOP[$name]=$(python3 bench/cpu_snapshot.py "$TMP/snap-$name-0.txt" "$TMP/snap-$name-1.txt" \
        "$DURATION" $$ "$pid" $EXTRA_PID)
    wrk_cpu=$(awk '{ print $1 + $2 }' "$TMP/time-$name.txt")
    RPS[$name]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
    if [ -z "${RPS[$name]}" ]; then
        echo "bench: wrk failed for $name:" >&2
        cat "$out" >&2
        exit 1
    fi
    P50[$name]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    P99[$name]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    local non2xx sockerr
    non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$out")
    sockerr=$(awk '/Socket errors:/ { sub(/.*Socket errors: /, ""); print }' "$out")
    ERRS[$name]="${non2xx:+non-2xx $non2xx}${sockerr:+${non2xx:+; }socket $sockerr}"
    local requests
    requests=$(awk '/requests in/ { print $1 }' "$out")
    CORES[$name]=$(awk -v a="$s0" -v b="$s1" -v hz="$HZ" -v d="$DURATION" 'BEGIN { printf "%.2f", (b - a) / hz / d }')
    USREQ[$name]=$(awk -v a="$s0" -v b="$s1" -v hz="$HZ" -v n="$requests" 'BEGIN { u = 0; if (n > 0) u = (b - a) / hz * 1e6 / n; printf "%.1f", u }')
    OTHER[$name]=$(awk -v b0="$b0" -v b1="$b1" -v s0="$s0" -v s1="$s1" -v x0="$x0" -v x1="$x1" \
        -v w="$wrk_cpu" -v hz="$HZ" -v d="$DURATION" \
        'BEGIN { o = ((b1 - b0) - (s1 - s0) - (x1 - x0)) / hz - w; if (o < 0) o = 0; printf "%.2f", o / d }')
}

warm_up() { # URL [wrk args...]: one second of the same load, not recorded
    local url=$1
    shift
    timeout 20 wrk -t1 -c"$CONNS" -d1s "$@" "$url" >/dev/null 2>&1 || true
}

# ---- 1. bare libmicrohttpd ceiling -----------------------------------------

PORT=$(free_port)
"$BUILD/bare_mhd" "$PORT" "$THREADS" 2>"$TMP/bare.log" &
BARE_PID=$!
PIDS+=("$BARE_PID")
wait_http "http://127.0.0.1:$PORT/" "$BARE_PID" "$PORT"
warm_up "http://127.0.0.1:$PORT/"
run_wrk bare "$BARE_PID" "http://127.0.0.1:$PORT/"
stop "$BARE_PID"

# ---- shopd ----------------------------------------------------------------

PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
mkdir -p "$TMP/var" "$TMP/media"
env SHOPD_DATABASE_URL="sqlite:///$TMP/shopd.db" \
    SHOPD_LISTEN="127.0.0.1:$PORT" \
    SHOPD_PUBLIC_URL="$BASE" \
    SHOPD_SECRET_KEY=bench-secret-key-not-for-production-0123456789abcdef \
    SHOPD_VAR_DIR="$TMP/var" \
    SHOPD_MEDIA_DIR="$TMP/media" \
    SHOPD_MAIL_URL="file://$TMP/mail" \
    SHOPD_THREADS="$THREADS" \
    "$BUILD/shopd" serve >"$TMP/shopd.log" 2>&1 &
SHOPD_PID=$!
PIDS+=("$SHOPD_PID")
wait_http "$BASE/healthz" "$SHOPD_PID" "$PORT"
RSS_START=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SHOPD_PID/status")

curl -fs -X POST "$BASE/api/v1/auth/register/" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"password_confirm\":\"$PASSWORD\"}" \
    >"$TMP/register.json" || { echo "bench: register failed" >&2; cat "$TMP/shopd.log" >&2; exit 1; }
TOKEN=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["access_token"])' <"$TMP/register.json")
AUTH="Authorization: Bearer $TOKEN"
curl -fs -o /dev/null -H "$AUTH" "$BASE/api/v1/auth/profile/" ||
    { echo "bench: the token does not open the profile" >&2; exit 1; }

# 2. healthz
warm_up "$BASE/healthz"
run_wrk healthz "$SHOPD_PID" "$BASE/healthz"

# 3. profile
warm_up "$BASE/api/v1/auth/profile/" -H "$AUTH"
run_wrk profile "$SHOPD_PID" "$BASE/api/v1/auth/profile/" -H "$AUTH"

# 4. login
export BENCH_EMAIL=$EMAIL BENCH_PASSWORD=$PASSWORD
run_wrk login "$SHOPD_PID" "$BASE/api/v1/auth/login/" -s bench/login.lua

# 5. profile while LOGIN_RATE logins/s run in the background. The queue the
# login load left behind drains first; the pacer starts half a second early
# so the rate is established when wrk starts. The pacer bounds its own run
# (its window plus 30 s at most) and is not wrapped in timeout(1), so that
# its PID is the process whose CPU counts as part of the load.
wait_quiet
python3 bench/login_pacer.py "$BASE/api/v1/auth/login/" \
    "$EMAIL" "$PASSWORD" "$LOGIN_RATE" "$((DURATION + 1))" >"$TMP/pacer.txt" 2>&1 &
PACER_PID=$!
PIDS+=("$PACER_PID")
EXTRA_PID=$PACER_PID
sleep 0.5
# The pacer is part of this load: skip the quiet wait that would see it.
QUIET_SAVED=$QUIET_BUDGET
QUIET_BUDGET=0
run_wrk mixed "$SHOPD_PID" "$BASE/api/v1/auth/profile/" -H "$AUTH"
QUIET_BUDGET=$QUIET_SAVED
EXTRA_PID=""
wait "$PACER_PID" || { echo "bench: login pacer failed:" >&2; cat "$TMP/pacer.txt" >&2; exit 1; }
forget "$PACER_PID"
PACER=$(tail -n 1 "$TMP/pacer.txt")
LOGIN_ACHIEVED=$(sed -n 's/.*achieved=\([0-9.]*\).*/\1/p' <<<"$PACER")
LOGIN_FAILED=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$PACER")

HWM_KB=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SHOPD_PID/status")
HWM_MB=$(awk -v k="$HWM_KB" 'BEGIN { printf "%.1f", k / 1024 }')
RSS_START_MB=$(awk -v k="$RSS_START" 'BEGIN { printf "%.1f", k / 1024 }')
stop "$SHOPD_PID"
if grep -q ' error ' "$TMP/shopd.log"; then
    echo "bench: shopd logged errors:" >&2
    grep ' error ' "$TMP/shopd.log" | head -5 >&2
fi

# ---- report ---------------------------------------------------------------

pass() { # CONDITION (awk expression) -> PASS / FAIL
    awk "BEGIN { exit !($1) }" && echo PASS || echo FAIL
}
noisy() { # LOAD... -> " (noisy: LOAD)" when other processes used more than NOISE_LIMIT
    local n bad=""
    for n in "$@"; do
        if awk -v o="${OTHER[$n]}" -v l="$NOISE_LIMIT" 'BEGIN { exit !(o > l) }'; then
            bad="$bad${bad:+, }$n"
        fi
    done
    [ -z "$bad" ] || echo " (noisy: $bad)"
}
per_cpu() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", 100 * a / b }'; }

HZ_PCT=$(ratio "${RPS[healthz]}" "${RPS[bare]}")
PROF_PCT=$(ratio "${RPS[profile]}" "${RPS[healthz]}")
T1=$(pass "${RPS[healthz]} >= 0.85 * ${RPS[bare]}")$(noisy bare healthz)
T2=$(pass "${RPS[profile]} >= 0.60 * ${RPS[healthz]} && ${P99[profile]} < 5")$(noisy healthz profile)
T3=$(pass "${P99[mixed]} < 10 && $LOGIN_ACHIEVED >= 0.95 * $LOGIN_RATE && $LOGIN_FAILED == 0")$(noisy mixed)
T4=$(pass "$HWM_KB < 50 * 1024")

if [ -n "${BENCH_REV:-}" ]; then
    REV=$REV_SHA
    BUILD_LABEL="clean export of $BENCH_REV"
else
    REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if ! git -C "$ROOT" diff --quiet HEAD -- src meson.build 2>/dev/null ||
        [ -n "$(git -C "$ROOT" ls-files --others --exclude-standard -- src 2>/dev/null)" ]; then
        REV="$REV+uncommitted-src"
    fi
    BUILD_LABEL=$BUILD
fi
STAMP=$(date -u +%Y-%m-%dT%H:%M:%SZ)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)

row() { # NAME LABEL
    printf '%-40s %8s %7s %7s %6s %7s %6s  %s\n' "$2" "${RPS[$1]}" "${P50[$1]}" "${P99[$1]}" \
        "${CORES[$1]}" "${USREQ[$1]}" "${OTHER[$1]}" "${ERRS[$1]}"
}

{
    echo "shopd auth benchmark  $STAMP  shopd $REV ($BUILD_LABEL, release build)"
    echo "machine: $(nproc) cores, $CPU_MODEL, $MEM, Linux $(uname -r)"
    echo "load: wrk -t1 -c$CONNS -d${DURATION}s --latency; SHOPD_THREADS=$THREADS; info access log to a file"
    echo
    printf '%-40s %8s %7s %7s %6s %7s %6s  %s\n' "load" "req/s" "p50 ms" "p99 ms" "cores" "us/req" "other" "errors"
    row bare    "1. bare_mhd GET / (ceiling)"
    row healthz "2. shopd GET /healthz"
    row profile "3. shopd GET /api/v1/auth/profile/"
    row login   "4. shopd POST /api/v1/auth/login/"
    row mixed   "5. profile + ${LOGIN_RATE} logins/s in background"
    echo "   background logins: $PACER"
    echo "peak RSS (VmHWM) of shopd: $HWM_MB MiB (RSS after start $RSS_START_MB MiB)"
    echo "cores: CPU the server used during the load (of $(nproc)); us/req: server CPU per request;"
    echo "other: cores used by every other process (wrk and the pacer excluded); waited ${QUIET_WAITED}s for quiet"
    for n in bare healthz profile login mixed; do
        if awk -v o="${OTHER[$n]}" -v l="$NOISE_LIMIT" 'BEGIN { exit !(o > l) }'; then
            echo "   noisy $n: ${OTHER[$n]} cores elsewhere; biggest seen: ${TOP[$n]}"
        fi
    done
    echo
    echo "targets:"
    printf '  %-62s %s\n' "healthz within 15% of the ceiling (healthz/bare = $HZ_PCT%)" "$T1"
    printf '  %-62s\n' "   per server CPU: $(per_cpu "${USREQ[bare]}" "${USREQ[healthz]}")% (${USREQ[bare]} vs ${USREQ[healthz]} us/req)"
    printf '  %-62s %s\n' "profile >= 60% of healthz ($PROF_PCT%) and p99 < 5 ms (${P99[profile]})" "$T2"
    printf '  %-62s\n' "   per server CPU: $(per_cpu "${USREQ[healthz]}" "${USREQ[profile]}")% (${USREQ[healthz]} vs ${USREQ[profile]} us/req)"
    printf '  %-62s %s\n' "profile p99 < 10 ms (${P99[mixed]}) under 20 logins/s ($LOGIN_ACHIEVED)" "$T3"
    printf '  %-62s %s\n' "peak RSS < 50 MiB ($HWM_MB MiB)" "$T4"
} | tee "$TMP/table.txt"

mkdir -p bench/results
RESULT="bench/results/auth-$(date +%Y-%m-%d-%H%M%S).txt"
cp "$TMP/table.txt" "$RESULT"
echo
echo "written to $RESULT"
