#!/usr/bin/env bash
# Installs, only when missing, every Debian package that building shopd, running it and
# running its tests needs. Safe to run again: a machine that has everything is left alone.
set -euo pipefail

packages=(
  # build
  gcc meson ninja-build pkg-config
  # libraries the server links
  libmicrohttpd-dev libjson-c-dev libsqlite3-dev libpq-dev libssl-dev libsodium-dev
  libcurl4-openssl-dev libhpdf-dev libcsv-dev
  # bulk import: .xlsx files are zip archives of XML parts
  libzip-dev libexpat1-dev
  # password rules: a list of common passwords and a dictionary of words
  john-data cracklib-runtime
  # tests: unit, black-box API, SMTP sink, PostgreSQL server, PDF text, sanitizer runtime
  libcmocka-dev python3-pytest python3-requests python3-aiosmtpd postgresql postgresql-contrib
  poppler-utils
  # tests that build .xlsx files
  python3-openpyxl
  # benchmarks
  wrk
  # fuzzing (make fuzz): clang with libFuzzer
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "bootstrap: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
