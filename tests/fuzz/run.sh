#!/usr/bin/env bash
# Builds the libFuzzer drivers with clang (ASan + UBSan) and runs each for
# FUZZ_SECONDS (default 30) over its checked-in corpus: `make fuzz`.
# New interesting inputs stay in a scratch copy; copy real finds into the corpus by hand.
# FUZZ_ONLY="import" (names, space-separated) runs only those drivers.
# The body driver links libmicrohttpd (MHD_http_unescape).
# The import driver needs util, db (with the generated migrations.c) and core:
# those are compiled once per run into $out/lib/libshopd-fuzz.a, only the
# objects a driver uses are linked.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-30}
out=build-fuzz
mkdir -p "$out"
pkgs="json-c sqlite3 libpq openssl libsodium libcurl libzip expat libmicrohttpd"
cflags="-std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc $(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs json-c openssl)"
util="src/util/arena.c src/util/str.c src/util/log.c src/util/b64.c"
lib="$out/lib/libshopd-fuzz.a"
declare -A sources=(
  [jwt]="tests/fuzz/jwt.c src/core/jwt.c $util"
  [b64]="tests/fuzz/b64.c $util"
  [money]="tests/fuzz/money.c src/util/money.c"
  [import]="tests/fuzz/import.c $lib"
  [body]="tests/fuzz/body.c src/http/body.c $util"
)
declare -A maxlen=([import]=16384)
all_libs="$(pkg-config --libs $pkgs) -lcsv -lhpdf -lm -lpthread"
declare -A link=([import]="$all_libs" [body]="$(pkg-config --libs libmicrohttpd)")

# util + db + core as a static archive (the sources meson.build lists; the
# migrations embedded by the same script meson runs).
build_lib() {
  rm -rf "$out/lib"; mkdir -p "$out/lib"
  python3 tools/embed_sql.py "$out/lib/migrations.c" "$out/lib/migrations.c.d" \
    sqlite=src/db/migrations/sqlite pg=src/db/migrations/pg
  local srcs="src/util/*.c src/db/*.c src/core/*.c $out/lib/migrations.c" pids=() f
  for f in $srcs; do
    local o="$out/lib/$(basename "$(dirname "$f")")_$(basename "${f%.c}").o"
    clang $cflags -c -o "$o" "$f" & pids+=($!)
    if (( ${#pids[@]} >= $(nproc) )); then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
  done
  for f in "${pids[@]}"; do wait "$f"; done
  ar rcs "$lib" "$out"/lib/*.o
}

# UBSan reports do not stop the fuzzer (it would lose the run to the first
# one): they are collected from the log below and fail the driver instead.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
names=${FUZZ_ONLY:-jwt b64 money import body}
status=0 lib_built=
for name in $names; do
  if [[ " ${sources[$name]} " == *" $lib "* && -z $lib_built ]]; then build_lib; lib_built=1; fi
  clang $cflags -o "$out/fuzz_$name" ${sources[$name]} $libs ${link[$name]:-}
  work=$(mktemp -d)
  cp tests/fuzz/corpus/$name/* "$work"/
  echo "fuzz: $name for ${seconds}s"
  if ! "$out/fuzz_$name" -max_total_time="$seconds" -max_len="${maxlen[$name]:-4096}" "$work" > "$out/$name.log" 2>&1; then
    echo "fuzz: $name FAILED (see $out/$name.log)"; tail -30 "$out/$name.log"; status=1
  else
    grep -E "^Done|stat::number_of_executed_units" "$out/$name.log" | tail -1
    if grep -aq "runtime error:" "$out/$name.log"; then
      echo "fuzz: $name undefined behaviour (see $out/$name.log):"
      grep -a "runtime error:" "$out/$name.log" | sort -u; status=1
    fi
  fi
  rm -rf "$work"
done
exit $status
