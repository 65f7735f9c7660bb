# SPDX-License-Identifier: Apache-2.0
# A thin layer over meson. `make run` starts the broker, `make test` runs every test.
# Both install missing Debian packages first (root or sudo needed).

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
CONFIG     ?= config/server.properties
FUZZ_SECONDS ?= 60

.PHONY: all deps build asan fuzz run test test-unit test-asan test-fuzz test-integration bench clean \
	bench-compare

all: build

deps:
	@scripts/deps.sh test

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release -Dwerror=true

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) --buildtype=debug -Db_sanitize=address,undefined \
		-Db_lundef=false -Dwerror=true -Dbench=disabled

asan: $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

$(FUZZ_BUILD)/build.ninja:
	CC=clang CXX=clang++ meson setup $(FUZZ_BUILD) --buildtype=debugoptimized \
		-Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false -Dbench=disabled -Dtests=disabled -Ddpdk=disabled

fuzz: $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

run:
	@scripts/deps.sh build
	@$(MAKE) --no-print-directory build
	mkdir -p data
	./$(BUILD)/tools/sluiced/sluiced --config $(CONFIG)

test: deps
	@$(MAKE) --no-print-directory build asan fuzz
	@$(MAKE) --no-print-directory test-unit test-asan test-fuzz test-integration
	@echo "make test: all suites passed"

test-unit:
	meson test -C $(BUILD) --print-errorlogs --suite unit --suite fuzz-replay --suite crash

test-asan:
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(ASAN_BUILD) --print-errorlogs --suite unit --suite fuzz-replay

test-fuzz:
	scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

test-integration:
	meson test -C $(BUILD) --print-errorlogs --suite integration

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory build
	scripts/bench-storage.sh $(BUILD)
	scripts/bench-broker.sh $(BUILD)
	scripts/bench-dpdk.sh $(BUILD)

# sluice vs Redis Streams, NATS JetStream and librdkafka's mock vs the machine's limits;
# writes bench/results/<date>-<host>.md + PNGs (scripts/bench-compare.sh, < 15 min).
bench-compare: $(BUILD)/build.ninja
	@scripts/deps.sh bench
	ninja -C $(BUILD) bench/load/sl-load tools/sluiced/sluiced tests/support/mockbroker tools/sluice/sluice
	scripts/bench-compare.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
