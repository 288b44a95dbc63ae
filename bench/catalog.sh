#!/usr/bin/env bash
# bench/catalog.sh - the catalogue list benchmark (issue 4, "Scale"). See the
# "Catalogue" section of docs/performance.md.
#
# Builds a release shopd in build-release/ as bench/run.sh does (or takes
# BENCH_BIN, a shopd binary already built), creates a fresh SQLite database
# (`shopd migrate`), seeds 100,000 products in 200 categories with
# bench/gen_catalog.py, starts shopd on 127.0.0.1 and a free port, registers
# one user, and measures with wrk (one thread, 64 connections, 10 s per load,
# after a 1 s warm-up):
#   1. GET /healthz                                   the reference
#   2. GET /api/v1/products/?page=1   with a Bearer token   target (a): >= 25% of 1
#   3. GET /api/v1/products/?page=5000 with a Bearer token  target (b): p99 < 20 ms
#   4. GET /api/search/?q=amber  a 5-letter term (in ~7,700 products' names and
#      descriptions and in 7 category names: 50 products + 7 x 20)  target (c): p99 < 20 ms
#   5. GET /api/search/?q=ambre  one transposition away: no exact match, the
#      "did you mean" answer from the trigram suggestions        target (d): p99 < 20 ms
# printing req/s, p50, p99 and the server's CPU per request (us/req, the
# figure that does not depend on how wrk and the server share the 2 cores).
#
# Bounded in time: every wrk run is wrapped in timeout(1), the server start
# waits 10 s at most. The server is stopped by PID on exit.
# Knobs: BENCH_DURATION (10), BENCH_CONNECTIONS (64), BENCH_PRODUCTS (100000),
# BENCH_CATEGORIES (200), BENCH_DEEP_PAGE (5000), BENCH_TERM (amber), BENCH_TYPO (ambre),
# BENCH_BIN, BENCH_KEEP=1.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNECTIONS:-64}
PRODUCTS=${BENCH_PRODUCTS:-100000}
CATEGORIES=${BENCH_CATEGORIES:-200}
DEEP=${BENCH_DEEP_PAGE:-5000}
TERM_Q=${BENCH_TERM:-amber}
TYPO_Q=${BENCH_TYPO:-ambre}
THREADS=2
EMAIL=bench@example.com
PASSWORD=Analytical-Engine-1843
HZ=$(getconf CLK_TCK)

for tool in wrk curl python3 meson ninja; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/shopd-catbench.XXXXXX")
SHOPD_PID=""
cleanup() {
    if [ -n "$SHOPD_PID" ]; then
        kill "$SHOPD_PID" 2>/dev/null || true
        wait "$SHOPD_PID" 2>/dev/null || true
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${BENCH_BIN:-}" ]; then
    SHOPD=$BENCH_BIN
else
    BUILD=build-release
    if [ ! -f "$BUILD/build.ninja" ]; then
        meson setup "$BUILD" --buildtype=release -Db_ndebug=true >"$TMP/meson.log" ||
            { cat "$TMP/meson.log" >&2; exit 1; }
    fi
    ninja -C "$BUILD" shopd >"$TMP/ninja.log" || { cat "$TMP/ninja.log" >&2; exit 1; }
    SHOPD=$ROOT/$BUILD/shopd
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
mkdir -p "$TMP/var" "$TMP/media"
export SHOPD_DATABASE_URL="sqlite:///$TMP/shopd.db" \
    SHOPD_LISTEN="127.0.0.1:$PORT" \
    SHOPD_PUBLIC_URL="$BASE" \
    SHOPD_SECRET_KEY=bench-secret-key-not-for-production-0123456789abcdef \
    SHOPD_VAR_DIR="$TMP/var" \
    SHOPD_MEDIA_DIR="$TMP/media" \
    SHOPD_MAIL_URL="file://$TMP/mail" \
    SHOPD_THREADS="$THREADS"

# ---- seed ------------------------------------------------------------------
"$SHOPD" migrate >"$TMP/migrate.log" 2>&1 || { cat "$TMP/migrate.log" >&2; exit 1; }
SEED_START=$(date +%s.%N)
timeout 300 python3 bench/gen_catalog.py "$TMP/shopd.db" "$PRODUCTS" "$CATEGORIES"
SEED_S=$(awk -v a="$SEED_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

# ---- server ----------------------------------------------------------------
"$SHOPD" serve >"$TMP/shopd.log" 2>&1 &
SHOPD_PID=$!
for _ in $(seq 100); do
    curl -fs -o /dev/null "$BASE/healthz" && break
    kill -0 "$SHOPD_PID" 2>/dev/null || { echo "bench: shopd exited" >&2; cat "$TMP/shopd.log" >&2; exit 1; }
    sleep 0.1
done
curl -fs -o /dev/null "$BASE/healthz" || { echo "bench: shopd did not answer" >&2; exit 1; }

curl -fs -X POST "$BASE/api/v1/auth/register/" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\",\"password_confirm\":\"$PASSWORD\"}" \
    >"$TMP/register.json" || { echo "bench: register failed" >&2; cat "$TMP/shopd.log" >&2; exit 1; }
TOKEN=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["access_token"])' <"$TMP/register.json")
AUTH="Authorization: Bearer $TOKEN"
for page in 1 "$DEEP"; do
    curl -fs -H "$AUTH" "$BASE/api/v1/products/?page=$page" >"$TMP/page-$page.json" ||
        { echo "bench: page $page failed" >&2; exit 1; }
done
PAGE1_BYTES=$(wc -c <"$TMP/page-1.json")
python3 - "$TMP/page-1.json" "$TMP/page-$DEEP.json" <<'EOF'
import json, sys
for path in sys.argv[1:]:
    d = json.load(open(path))
    assert len(d["results"]) == 20, (path, len(d["results"]))
EOF
curl -fs "$BASE/api/search/?q=$TERM_Q" >"$TMP/search-term.json" ||
    { echo "bench: search for $TERM_Q failed" >&2; exit 1; }
curl -fs "$BASE/api/search/?q=$TYPO_Q" >"$TMP/search-typo.json" ||
    { echo "bench: search for $TYPO_Q failed" >&2; exit 1; }
TERM_BYTES=$(wc -c <"$TMP/search-term.json")
python3 - "$TMP/search-term.json" "$TMP/search-typo.json" <<'EOF'
import json, sys
term, typo = (json.load(open(p)) for p in sys.argv[1:])
assert term["products"] and term["categories"], "the term should match products and categories"
assert typo.get("product_suggestions"), "the typo should get suggestions"
EOF

# ---- loads -----------------------------------------------------------------
to_ms() { # wrk's "254.00us" / "1.23ms" / "1.02s" in milliseconds
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n;
        else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

declare -A RPS P50 P99 USREQ ERRS
run_wrk() { # NAME URL [wrk args...]
    local name=$1 url=$2 out="$TMP/wrk-$1.txt" s0 s1 n
    shift 2
    timeout 20 wrk -t1 -c"$CONNS" -d1s "$@" "$url" >/dev/null 2>&1 || true
    s0=$(cpu_ticks "$SHOPD_PID")
    timeout $((DURATION + 20)) wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url" >"$out" 2>&1
    s1=$(cpu_ticks "$SHOPD_PID")
    RPS[$name]=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
    P50[$name]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$out")")
    P99[$name]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$out")")
    n=$(awk '/requests in/ { print $1 }' "$out")
    USREQ[$name]=$(awk -v a="$s0" -v b="$s1" -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.1f", n ? (b - a) / hz * 1e6 / n : 0 }')
    ERRS[$name]=$(awk '/Non-2xx|Socket errors/ { printf "%s ", $0 }' "$out")
}

run_wrk healthz "$BASE/healthz"
run_wrk page1 "$BASE/api/v1/products/?page=1" -H "$AUTH"
run_wrk deep "$BASE/api/v1/products/?page=$DEEP" -H "$AUTH"
run_wrk term "$BASE/api/search/?q=$TERM_Q"
run_wrk typo "$BASE/api/search/?q=$TYPO_Q"

kill "$SHOPD_PID" 2>/dev/null || true
wait "$SHOPD_PID" 2>/dev/null || true
SHOPD_PID=""

# ---- report ----------------------------------------------------------------
pass() { awk "BEGIN { exit !($1) }" && echo PASS || echo FAIL; }
row() { printf '%-44s %8s %8s %8s %8s  %s\n' "$2" "${RPS[$1]}" "${P50[$1]}" "${P99[$1]}" "${USREQ[$1]}" "${ERRS[$1]}"; }
REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || REV="$REV+uncommitted-src"
echo
echo "shopd catalogue benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  shopd $REV ($SHOPD)"
echo "seed: $PRODUCTS products in $CATEGORIES categories in ${SEED_S}s; page 1 is $PAGE1_BYTES bytes;" \
    "the search for $TERM_Q is $TERM_BYTES bytes"
echo "load: wrk -t1 -c$CONNS -d${DURATION}s --latency; SHOPD_THREADS=$THREADS; $(nproc) cores"
echo
printf '%-44s %8s %8s %8s %8s  %s\n' load req/s "p50 ms" "p99 ms" us/req errors
row healthz "GET /healthz"
row page1 "GET /api/v1/products/?page=1"
row deep "GET /api/v1/products/?page=$DEEP"
row term "GET /api/search/?q=$TERM_Q"
row typo "GET /api/search/?q=$TYPO_Q"
echo
PCT=$(awk -v a="${RPS[page1]}" -v b="${RPS[healthz]}" 'BEGIN { printf "%.0f", 100 * a / b }')
printf '  %-58s %s\n' "(a) page 1 >= 25% of healthz ($PCT%)" "$(pass "${RPS[page1]} >= 0.25 * ${RPS[healthz]}")"
printf '  %-58s %s\n' "(b) page $DEEP p99 < 20 ms (${P99[deep]})" "$(pass "${P99[deep]} < 20")"
printf '  %-58s %s\n' "(c) search $TERM_Q p99 < 20 ms (${P99[term]})" "$(pass "${P99[term]} < 20")"
printf '  %-58s %s\n' "(d) search $TYPO_Q (typo) p99 < 20 ms (${P99[typo]})" "$(pass "${P99[typo]} < 20")"
