# wg-failsafe. The README's two commands are `make lab` and `make test`.
CARGO ?= cargo
BIN := target/release/wg-failsafe

.PHONY: all build deps deps-cross lab test bench fuzz dist dist-test vm-test clean

# Static musl builds, from the one list (packaging/targets): TRIPLE:DPKG_ARCH pairs.
DIST_TARGETS := $(shell sed -n 's/^\([^\#|][^|]*\)|\([^|]*\)|.*/\1:\2/p' packaging/targets)
DIST_TRIPLES := $(foreach t,$(DIST_TARGETS),$(firstword $(subst :, ,$(t))))
CROSS_DIR := target/cross
DIST_DIR := target/dist
CROSS_BIN := $(CROSS_DIR)/x86_64-unknown-linux-musl/release/wg-failsafe

all: build

build:
	$(CARGO) build --release --locked

# Debian packages the lab, tests and benchmarks need (only the missing ones).
deps:
	scripts/deps.sh

# A failover and a recovery, live, in a namespace copy of a dual-WAN router.
lab: deps build
	tests/lab/demo.sh $(BIN)

# Unit tests, then every lab scenario (root: they are #[ignore]d otherwise).
test: deps
	$(CARGO) test --locked -- --include-ignored

# The launcher the benchmarks measure through (the VM payload builds its own copy).
target/measure: bench/measure.c
	mkdir -p target && cc -O2 -static -o $@ bench/measure.c

# The build `make bench` compares this one with: a git revision, by default the commit
# before issue 16's work (one judge, two drivers).
BASE ?= before-one-judge
# Carrier trials, idle seconds and healthy ticks of the comparison.
BENCH_TRIALS ?= 20
BENCH_IDLE_S ?= 60
BENCH_RUNS ?= 200

# Figures, not pass/fail. First this build beside BASE's, both built here (BASE in a
# temporary worktree under target/base; the static x86_64 and mipsel builds too when the
# cross toolchain is present) and measured in the same run, in one table: a healthy
# tick's CPU and peak RSS (the lab's routes, 100,000 and 300,000 more), the daemon's
# carrier event to switch, its idle CPU and RSS, the mipsel binary and .deb sizes.
# Then this build's own figures: a healthy tick, activation and deactivation times for
# the release build of this host and for the static x86_64 musl build; the daemon's
# (detection latency, idle cost, a 100,000-round soak) and large tables, for the static
# build when there is one (the one routers run), else the host's.
bench: deps build target/measure
	bench/builds.sh $(BASE) target/bench
	python3 bench/compare.py target/measure target/bench $(BENCH_TRIALS) $(BENCH_IDLE_S) $(BENCH_RUNS)
	python3 bench/bench.py target/measure $(BIN)
	if [ -x $(CROSS_BIN) ]; then python3 bench/bench.py target/measure $(CROSS_BIN); fi
	python3 bench/daemon.py target/measure $$( [ -x $(CROSS_BIN) ] && echo $(CROSS_BIN) || echo $(BIN) )

# Every parser of outside data under libFuzzer for FUZZ_S seconds each (default 60):
# one line per target, "fuzz NAME: N execs, C crashes"; fails on any crash.
FUZZ_S ?= 60
fuzz:
	scripts/deps.sh fuzz
	FUZZ_S=$(FUZZ_S) scripts/fuzz.sh

# The cross tools as well: Debian's Rust with its std sources, qemu-user-static,
# lintian, cargo-zigbuild and zig.
deps-cross:
	scripts/deps.sh cross

# Static, stripped, non-PIE binaries for every target (scripts/cross.sh finds the
# toolchain or says what to install), then one .deb per dpkg architecture in
# $(DIST_DIR). The .debs are made by dpkg-deb from a staging directory, not by
# cargo-deb: cargo-deb takes Architecture from the target triple and cannot label
# the Octeon (mips64) binary `mips` (see scripts/mkdeb.sh).
dist:
	CARGO_TARGET_DIR=$(CROSS_DIR) scripts/cross.sh $(DIST_TRIPLES)
	rm -f $(DIST_DIR)/wg-failsafe_*.deb
	for t in $(DIST_TARGETS); do \
		scripts/mkdeb.sh $(CROSS_DIR)/$${t%%:*}/release/wg-failsafe $${t#*:} $(DIST_DIR) || exit 1; \
	done

# The acceptance checks of the binaries and packages (root: qemu-user in an empty
# network namespace, dpkg --root, the lab, peak RSS). Ends with "N passed, N failed".
dist-test: deps-cross deps dist target/measure
	CARGO_TARGET_DIR=$(CROSS_DIR) DIST_DIR=$(DIST_DIR) scripts/dist-test.sh

# The failover with in-kernel WireGuard in QEMU guests: bookworm's 6.1 (mipsel Malta
# board, amd64) and bullseye's 5.10 (amd64). vm/test.sh builds the static binaries when
# missing or stale and installs QEMU when missing. Root.
vm-test: deps-cross
	vm/test.sh

clean:
	$(CARGO) clean
