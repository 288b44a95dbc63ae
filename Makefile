# shopd: `make` builds build/shopd; `make run` serves on http://127.0.0.1:8000;
# `make test` runs every test (unit, API on SQLite, API on PostgreSQL, and the
# sanitizer build). Each target installs what it needs first (scripts/bootstrap.sh).

BUILD      ?= build
ASAN_BUILD ?= build-asan
MESON_OPTS ?= -Dwerror=true

.PHONY: all bootstrap build run test test-unit test-api test-pg test-asan bench bench-checkout fuzz clean

all: build

bootstrap:
	@scripts/bootstrap.sh

$(BUILD)/build.ninja:
	@scripts/bootstrap.sh
	meson setup $(BUILD) $(MESON_OPTS)

build: bootstrap $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	$(BUILD)/shopd migrate
	$(BUILD)/shopd seed-demo
	$(BUILD)/shopd serve

test: build
	scripts/test.sh all

test-unit: build
	scripts/test.sh unit

test-api: build
	scripts/test.sh api-sqlite

test-pg: build
	scripts/test.sh api-pg

test-asan: build
	scripts/test.sh asan

bench: build
	bench/run.sh

# Issue 5's checkout throughput (docs/performance.md, "Checkout").
bench-checkout: build
	bench/checkout.sh

# libFuzzer drivers (tests/fuzz/): FUZZ_SECONDS per driver, default 30.
fuzz: bootstrap
	tests/fuzz/run.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
