# wg-failsafe. The README's two commands are `make lab` and `make test`.
CARGO ?= cargo
BIN := target/release/wg-failsafe

.PHONY: all build deps lab test bench clean

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

target/rusage: bench/rusage.c
	mkdir -p target && cc -O2 -static -o $@ bench/rusage.c

# Figures, not pass/fail: CPU and peak RSS of a healthy tick, activation and
# deactivation times, for the release build of this host.
bench: deps build target/rusage
	python3 bench/bench.py target/rusage $(BIN)

clean:
	$(CARGO) clean
