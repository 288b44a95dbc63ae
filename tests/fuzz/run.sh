#!/usr/bin/env bash
# Builds the libFuzzer drivers with clang (ASan + UBSan) and runs each for
# FUZZ_SECONDS (default 30) over its checked-in corpus: `make fuzz`.
# New interesting inputs stay in a scratch copy; copy real finds into the corpus by hand.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-30}
out=build-fuzz
mkdir -p "$out"
cflags="-std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc $(pkg-config --cflags json-c)"
libs="$(pkg-config --libs json-c openssl)"
util="src/util/arena.c src/util/str.c src/util/log.c src/util/b64.c"
declare -A sources=(
  [jwt]="tests/fuzz/jwt.c src/core/jwt.c $util"
  [b64]="tests/fuzz/b64.c $util"
  [money]="tests/fuzz/money.c src/util/money.c"
)
status=0
for name in jwt b64 money; do
  clang $cflags -o "$out/fuzz_$name" ${sources[$name]} $libs
  work=$(mktemp -d)
  cp tests/fuzz/corpus/$name/* "$work"/
  echo "fuzz: $name for ${seconds}s"
  if ! "$out/fuzz_$name" -max_total_time="$seconds" -max_len=4096 "$work" > "$out/$name.log" 2>&1; then
    echo "fuzz: $name FAILED (see $out/$name.log)"; tail -30 "$out/$name.log"; status=1
  else
    grep -E "^Done|stat::number_of_executed_units" "$out/$name.log" | tail -1
  fi
  rm -rf "$work"
done
exit $status
