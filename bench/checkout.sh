#!/usr/bin/env bash
# bench/checkout.sh - the checkout throughput benchmark (issue 5, "Performance"): carts of
# 3 lines prepared beforehand, then checkout with 32 concurrent clients; the target is at least
# 2,500 orders/s on SQLite, figures are recorded for both databases.
#
# Builds a release shopd in build-release/ as bench/run.sh does (or takes BENCH_BIN, a shopd
# binary already built), creates a fresh database (SQLite file, or with BENCH_DB=pg a throwaway
# PostgreSQL cluster from scripts/pg.sh), `shopd migrate`, starts shopd on 127.0.0.1 and a free
# port, registers one user through the API (the template whose password hash every shopper
# gets), and has bench/gen_checkout.py write BENCH_USERS shoppers straight into the database,
# each with a default shipping address and a cart of 3 lines (three products of one variant),
# plus an access token per shopper signed with the server's key. One checkout through curl checks
# the endpoint answers 201; then wrk (bench/checkout.lua) checks out a different cart with every
# request: 1 s of warm-up on carts of its own, then BENCH_DURATION seconds measured.
#   BENCH_SURFACE=shop  POST /api/orders/checkout/ {"address_id": ..., "payment_data":
#                       {"simulate_failure": false}}  (GST, simulated payment, cart cleared)
#   BENCH_SURFACE=v1    POST /api/v1/cart/checkout/ with shipping and billing address text
# Prints orders/s (orders the database gained during the measured load / wrk's duration), p50 and
# p99 latency, the server's CPU per order (us/req; with PostgreSQL also the database cluster's),
# the responses by status (every one that is not 201 is reported; requests made after the
# prepared carts ran out are counted as "exhausted"), and checks with SQL that the orders made
# match the 201s counted (up to the requests in flight when wrk stopped), that no variant's
# inventory went negative and that the stock taken equals the quantities ordered. The
# confirmation emails (PDF invoice attached) are queued with every order and sent by the job
# runner inside the server, during the load: their backlog at the end is printed.
#
# Bounded in time: every wrk run is wrapped in timeout(1), the server start waits 10 s at most.
# The server (and the cluster) are stopped by PID on exit; exit status 1 when a check fails.
# Knobs: BENCH_DB (sqlite | pg), BENCH_SURFACE (shop | v1), BENCH_DURATION (10),
# BENCH_CONNECTIONS (32), BENCH_USERS (6,000 per second of load + the warm-up's),
# BENCH_WARM_USERS (6000), BENCH_WRK_THREADS (1), BENCH_THREADS (SHOPD_THREADS: 2),
# BENCH_MAIL (on; off: the shoppers' preferences turn order emails off, so that the figures
# show what checkout costs without the confirmation emails), BENCH_BIN,
# BENCH_KEEP=1 (keeps the temp dir: database, logs, wrk output, tokens).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DB_KIND=${BENCH_DB:-sqlite}
SURFACE=${BENCH_SURFACE:-shop}
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNECTIONS:-32}
WARM_USERS=${BENCH_WARM_USERS:-6000}
USERS=${BENCH_USERS:-$((6000 * DURATION + WARM_USERS + 1))}
WRK_THREADS=${BENCH_WRK_THREADS:-1}
THREADS=${BENCH_THREADS:-2}
TARGET=2500 # orders/s on SQLite
EMAIL=bench@example.com
PASSWORD=Analytical-Engine-1843
HZ=$(getconf CLK_TCK)

case "$DB_KIND" in sqlite | pg) ;; *) echo "bench: BENCH_DB is sqlite or pg" >&2; exit 2 ;; esac
case "$SURFACE" in
    shop) CHECKOUT_PATH=/api/orders/checkout/ ;;
    v1) CHECKOUT_PATH=/api/v1/cart/checkout/ ;;
    *) echo "bench: BENCH_SURFACE is shop or v1" >&2; exit 2 ;;
esac
if [ "$USERS" -le "$((WARM_USERS + 1))" ]; then
    echo "bench: BENCH_USERS ($USERS) must exceed BENCH_WARM_USERS + 1 ($((WARM_USERS + 1)))" >&2
    exit 2
fi
for tool in wrk curl python3 meson ninja; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/shopd-checkout.XXXXXX")
PGDIR=""
SHOPD_PID=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    if [ -n "$SHOPD_PID" ]; then
        kill "$SHOPD_PID" 2>/dev/null || true
        wait "$SHOPD_PID" 2>/dev/null || true
    fi
    if [ -n "$PGDIR" ]; then
        if [ "${BENCH_KEEP:-0}" = 1 ]; then
            cp "$PGDIR/postgres.log" "$TMP/" 2>/dev/null || true
        fi
        scripts/pg.sh stop "$PGDIR" 2>/dev/null || true
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

# ---- database --------------------------------------------------------------
PG_POSTMASTER=""
if [ "$DB_KIND" = pg ]; then
    # Its own directory under /tmp: when run as root the cluster runs as postgres, which
    # cannot enter the private temp dir.
    PGDIR=$(mktemp -d /tmp/shopd-checkout-pg.XXXXXX)
    PG_PORT=$(scripts/pg.sh start "$PGDIR" 2>"$TMP/pg-start.log") ||
        { cat "$TMP/pg-start.log" >&2; exit 1; }
    DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
    PG_POSTMASTER=$(head -n 1 "$PGDIR/data/postmaster.pid")
else
    DATABASE_URL="sqlite:///$TMP/shopd.db"
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
mkdir -p "$TMP/var" "$TMP/media"
export SHOPD_DATABASE_URL="$DATABASE_URL" \
    SHOPD_LISTEN="127.0.0.1:$PORT" \
    SHOPD_PUBLIC_URL="$BASE" \
    SHOPD_SECRET_KEY=bench-secret-key-not-for-production-0123456789abcdef \
    SHOPD_VAR_DIR="$TMP/var" \
    SHOPD_MEDIA_DIR="$TMP/media" \
    SHOPD_MAIL_URL="file://$TMP/mail" \
    SHOPD_THREADS="$THREADS"
"$SHOPD" migrate >"$TMP/migrate.log" 2>&1 || { cat "$TMP/migrate.log" >&2; exit 1; }

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

# ---- carts and tokens ------------------------------------------------------
TOKENS=$TMP/tokens.txt
SEED_START=$(date +%s.%N)
NO_MAIL=()
[ "${BENCH_MAIL:-on}" = on ] || NO_MAIL=(--no-mail)
timeout 600 python3 bench/gen_checkout.py seed "$DATABASE_URL" "$EMAIL" "$USERS" "$TOKENS" \
    "${NO_MAIL[@]}" >"$TMP/seed.log" || { cat "$TMP/seed.log" >&2; exit 1; }
SEED_S=$(awk -v a="$SEED_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
SEED_MSG=$(cat "$TMP/seed.log")

# One checkout by hand (the first prepared cart): the endpoint must answer 201 before any load.
read -r TOKEN0 ADDRESS0 < <(head -n 1 "$TOKENS")
if [ "$SURFACE" = v1 ]; then
    BODY0='{"shipping_address":"12 Bench Street, Anytown, Anystate 123456, India","billing_address":"12 Bench Street, Anytown, Anystate 123456, India","clear_cart":true}'
else
    BODY0="{\"address_id\":$ADDRESS0,\"payment_data\":{\"simulate_failure\":false}}"
fi
STATUS0=$(curl -s -o "$TMP/checkout0.json" -w '%{http_code}' -X POST "$BASE$CHECKOUT_PATH" \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN0" -d "$BODY0") || STATUS0=000
if [ "$STATUS0" != 201 ]; then
    echo "bench: POST $CHECKOUT_PATH answered $STATUS0, not 201:" >&2
    head -c 600 "$TMP/checkout0.json" >&2
    echo >&2
    exit 1
fi

# ---- loads -----------------------------------------------------------------
to_ms() { # wrk's "254.00us" / "1.23ms" / "1.02s" in milliseconds
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n;
        else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Ticks all CPUs spent not idle, machine-wide.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# PID:TICKS of every cluster process, so that a backend that ends during the load still counts.
pg_snapshot() {
    local pid
    for pid in "$PG_POSTMASTER" $(cat "/proc/$PG_POSTMASTER/task/$PG_POSTMASTER/children" 2>/dev/null); do
        echo "$pid $(cpu_ticks "$pid")"
    done
}
export BENCH_TOKENS=$TOKENS BENCH_SURFACE=$SURFACE BENCH_WRK_THREADS=$WRK_THREADS
wrk_checkout() { # FIRST LAST SECONDS OUT
    BENCH_FIRST=$1 BENCH_LAST=$2 timeout $(($3 + 30)) wrk -t"$WRK_THREADS" -c"$CONNS" \
        -d"$3s" --latency -s bench/checkout.lua "$BASE$CHECKOUT_PATH" >"$4" 2>&1
}

# Warm-up: lines 2..WARM_USERS+1 (line 1 went to the check above).
wrk_checkout 2 $((WARM_USERS + 1)) 1 "$TMP/wrk-warm.txt" || true
sleep 1 # the requests in flight when wrk stopped finish before the count
read -r ORDERS0 JOBS_DONE0 < <(python3 bench/gen_checkout.py count "$DATABASE_URL")

OUT=$TMP/wrk-checkout.txt
B0=$(busy_ticks)
S0=$(cpu_ticks "$SHOPD_PID")
[ -z "$PG_POSTMASTER" ] || pg_snapshot >"$TMP/pg-cpu-0.txt"
TIMEFORMAT='%U %S'
{ time wrk_checkout $((WARM_USERS + 2)) 0 "$DURATION" "$OUT"; } 2>"$TMP/time-wrk.txt" ||
    { echo "bench: wrk failed:" >&2; cat "$OUT" >&2; exit 1; }
S1=$(cpu_ticks "$SHOPD_PID")
[ -z "$PG_POSTMASTER" ] || pg_snapshot >"$TMP/pg-cpu-1.txt"
B1=$(busy_ticks)
read -r _ JOBS_DONE1 < <(python3 bench/gen_checkout.py count "$DATABASE_URL")
sleep 1
python3 bench/gen_checkout.py check "$DATABASE_URL" "$ORDERS0" >"$TMP/check.txt"
kill "$SHOPD_PID" 2>/dev/null || true
wait "$SHOPD_PID" 2>/dev/null || true
SHOPD_PID=""

# ---- report ----------------------------------------------------------------
get() { awk -F= -v k="$1" '$1 == k { print $2 }' "$TMP/check.txt"; }
ORDERS=$(get orders)
MIN_INV=$(get min_inventory)
MISMATCH=$(get stock_mismatches)
CARTS_LEFT=$(get carts_with_lines)
JOBS="$(get jobs_pending) / $(get jobs_failed)"
SENT=$((JOBS_DONE1 - JOBS_DONE0))
STATUSES=$(awk -F= '/^status_/ { sub(/^status_/, "", $1); printf "%s%s=%s", sep, $1, $2; sep = " " }' "$TMP/check.txt")
ELAPSED=$(awk -v ms="$(to_ms "$(awk '/requests in/ { sub(/,$/, "", $4); print $4 }' "$OUT")")" \
    'BEGIN { printf "%.2f", ms / 1000 }')
REQUESTS=$(awk '/requests in/ { print $1 }' "$OUT")
P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$OUT")")
P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$OUT")")
RESPONSES=$(sed -n 's/^checkout: statuses //p' "$OUT")
OK201=$(tr ' ' '\n' <<<"$RESPONSES" | awk -F= '$1 == "201" { print $2 }')
OK201=${OK201:-0}
EXHAUSTED=$(sed -n 's/^checkout: exhausted //p' "$OUT")
SOCKERR=$(sed -n 's/^ *Socket errors: //p' "$OUT")
UNEXPECTED=$(sed -n 's/^checkout: first unexpected response: //p' "$OUT" | head -n 3)
OPS=$(awk -v o="$ORDERS" -v t="$ELAPSED" 'BEGIN { printf "%.0f", (t > 0 ? o / t : 0) }')
USREQ=$(awk -v a="$S0" -v b="$S1" -v hz="$HZ" -v n="$ORDERS" 'BEGIN { printf "%.1f", n ? (b - a) / hz * 1e6 / n : 0 }')
SERVER_CORES=$(awk -v a="$S0" -v b="$S1" -v hz="$HZ" -v t="$ELAPSED" 'BEGIN { printf "%.2f", (t > 0 ? (b - a) / hz / t : 0) }')
DB_COL=""
PG_TICKS=0
if [ -n "$PG_POSTMASTER" ]; then
    # Ticks each cluster process used between the snapshots (a process gone by the second one
    # counts up to the first; one started meanwhile counts from zero).
    PG_TICKS=$(awk 'NR == FNR { t0[$1] = $2; next } { d += $2 - ($1 in t0 ? t0[$1] : 0) } END { print d + 0 }' \
        "$TMP/pg-cpu-0.txt" "$TMP/pg-cpu-1.txt")
    DB_USREQ=$(awk -v d="$PG_TICKS" -v hz="$HZ" -v n="$ORDERS" 'BEGIN { printf "%.1f", n ? d / hz * 1e6 / n : 0 }')
    DB_COL="; PostgreSQL used $DB_USREQ us of CPU per order"
fi
# Cores every other process used meanwhile (the machine's busy time less shopd's, wrk's and the
# cluster's): above about 0.15 the figures are not to be trusted.
OTHER=$(awk -v b0="$B0" -v b1="$B1" -v s0="$S0" -v s1="$S1" -v pg="$PG_TICKS" -v hz="$HZ" \
    -v w="$(awk '{ print $1 + $2 }' "$TMP/time-wrk.txt")" -v t="$ELAPSED" \
    'BEGIN { o = ((b1 - b0) - (s1 - s0) - pg) / hz - w; if (o < 0) o = 0; printf "%.2f", (t > 0 ? o / t : 0) }')

FAILED=0
verdict() { # NAME CONDITION(0/1): NAME=ok or FAILED
    if [ "$2" = 1 ]; then printf -v "$1" ok; else printf -v "$1" FAILED; FAILED=1; fi
}
IN_FLIGHT=$((ORDERS - OK201))
verdict C1 "$(awk -v d="$IN_FLIGHT" -v c="$CONNS" 'BEGIN { print (d >= 0 && d <= c) }')"
verdict C2 "$(awk -v m="$MIN_INV" 'BEGIN { print (m != "" && m >= 0) }')"
verdict C3 "$([ "$MISMATCH" = 0 ] && echo 1 || echo 0)"
verdict C4 "$([ "${EXHAUSTED:-1}" = 0 ] && echo 1 || echo 0)"

REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- src 2>/dev/null || REV="$REV+uncommitted-src"
echo
echo "shopd checkout benchmark  $(date -u +%Y-%m-%dT%H:%M:%SZ)  shopd $REV ($SHOPD)"
echo "database: $DB_KIND; surface: $SURFACE (POST $CHECKOUT_PATH); $(nproc) cores; SHOPD_THREADS=$THREADS"
echo "seed: $SEED_MSG in ${SEED_S}s"
echo "load: wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s --latency -s bench/checkout.lua," \
    "after 1 s of warm-up; $REQUESTS requests in ${ELAPSED}s"
echo
printf '%-26s %9s %8s %8s %8s %7s %7s\n' load orders/s "p50 ms" "p99 ms" us/req cores other
printf '%-26s %9s %8s %8s %8s %7s %7s\n' "checkout ($DB_KIND, $SURFACE)" "$OPS" "$P50" "$P99" "$USREQ" \
    "$SERVER_CORES" "$OTHER"
echo "(us/req and cores: shopd's CPU per order made and over the load$DB_COL;"
echo " other: cores used by every other process, wrk$([ -z "$PG_POSTMASTER" ] || echo " and PostgreSQL") excluded)"
echo "responses: ${RESPONSES:-none}${SOCKERR:+; socket errors: $SOCKERR}"
while IFS= read -r line; do
    [ -z "$line" ] || echo "  first unexpected: $line"
done <<<"$UNEXPECTED"
echo "orders made during the load: $ORDERS ($STATUSES)"
echo "confirmation emails (PDF invoice attached, sent by the server's job runner): $SENT sent" \
    "during the load ($(awk -v n="$SENT" -v t="$ELAPSED" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }')/s);" \
    "queued / failed a second after it: $JOBS"
echo
echo "checks:"
printf '  %-66s %s\n' "orders made ($ORDERS) = 201s counted ($OK201) + in flight at the end (0..$CONNS)" "$C1"
printf '  %-66s %s\n' "no variant's inventory negative (lowest: $MIN_INV)" "$C2"
printf '  %-66s %s\n' "stock taken = quantities on orders holding stock ($MISMATCH variants differ)" "$C3"
printf '  %-66s %s\n' "prepared carts sufficed (requests after they ran out: ${EXHAUSTED:-?})" "$C4"
echo "  (carts of the benchmark's shoppers still holding lines: $CARTS_LEFT of $USERS)"
echo
NOISY=$(awk -v o="$OTHER" 'BEGIN { if (o > 0.15) printf " (noisy: %s cores used elsewhere)", o }')
if [ "$DB_KIND" = sqlite ]; then
    printf '  %-66s %s\n' "target: >= $TARGET orders/s on SQLite ($OPS)" \
        "$(awk -v o="$OPS" -v t="$TARGET" 'BEGIN { print (o >= t ? "PASS" : "FAIL") }')$NOISY"
else
    printf '  %-66s %s\n' "PostgreSQL: recorded, no target ($OPS orders/s)" "-$NOISY"
fi
exit "$FAILED"
