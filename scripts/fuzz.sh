#!/bin/bash
# scripts/fuzz.sh [TARGET]... — runs each cargo-fuzz target of fuzz/ (default: all) for
# FUZZ_S seconds (default 60) with libFuzzer, AddressSanitizer and overflow checks, and
# prints one line per target:
#   fuzz NAME: N execs, C crashes
# Exits 1 if any target crashed (its input is kept in fuzz/artifacts/NAME/, and the
# report's last lines are printed), 2 if the tools are missing (scripts/deps.sh fuzz).
#
# Each target starts from its seed corpus, fuzz/corpus/NAME (read only), and a working
# corpus in target/fuzz-corpus/NAME that later runs continue from.
# Environment: FUZZ_S; FUZZ_TOOLCHAIN (default: nightly if rustup has it, else stable
# with RUSTC_BOOTSTRAP=1, which takes the same -Z flags).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FUZZ_S=${FUZZ_S:-60}
if [ -z "${FUZZ_TOOLCHAIN:-}" ]; then
	if rustup run nightly rustc --version > /dev/null 2>&1; then FUZZ_TOOLCHAIN=nightly
	else FUZZ_TOOLCHAIN=stable; export RUSTC_BOOTSTRAP=1; fi
fi
TC=$FUZZ_TOOLCHAIN
die() { echo "fuzz: $*" >&2; exit 2; }
cargo "+$TC" --version > /dev/null 2>&1 || die "no $TC toolchain (rustup toolchain list)"
cargo "+$TC" fuzz --version > /dev/null 2>&1 || die "cargo-fuzz is missing: run scripts/deps.sh fuzz"
case $FUZZ_S in '' | *[!0-9]*) die "FUZZ_S=$FUZZ_S is not a number of seconds" ;; esac

cd "$ROOT/fuzz"
mapfile -t all < <(cargo "+$TC" fuzz list --fuzz-dir .)
[ $# -gt 0 ] || set -- "${all[@]}"
# (a case match, not `printf | grep -q`: under pipefail grep's early exit can fail printf)
for t in "$@"; do
	case " ${all[*]} " in *" $t "*) ;; *) die "no fuzz target '$t' (have: ${all[*]})" ;; esac
done

echo "fuzz: building ${#all[@]} targets" >&2
cargo "+$TC" fuzz build --fuzz-dir . --debug-assertions > "$ROOT/target/fuzz-build.log" 2>&1 ||
	{ tail -30 "$ROOT/target/fuzz-build.log" >&2; die "the build failed (target/fuzz-build.log)"; }

failed=0
for t in "$@"; do
	work=$ROOT/target/fuzz-corpus/$t artifacts=$ROOT/fuzz/artifacts/$t log=$ROOT/target/fuzz-$t.log
	mkdir -p "$work" "$artifacts"
	before=$(find "$artifacts" -type f | wc -l)
	rc=0
	# config_tree: inputs large enough to nest past edgeos::MAX_DEPTH (libFuzzer's default
	# of 4 KiB never reached a 200,000-deep file's stack overflow).
	# and init's fixture corpus (tests/init, read only) as more seeds.
	max_len=() seeds=("corpus/$t")
	[ "$t" != config_tree ] || { max_len=(-max_len=1048576); seeds+=(../tests/init); }
	cargo "+$TC" fuzz run --fuzz-dir . --debug-assertions "$t" "$work" "${seeds[@]}" -- \
		"${max_len[@]}" -max_total_time="$FUZZ_S" -timeout=10 -rss_limit_mb=512 -print_final_stats=1 \
		-artifact_prefix="$artifacts/" > "$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | awk '{ n += $1 } END { print n + 0 }')
	crashes=$(( $(find "$artifacts" -type f | wc -l) - before ))
	[ "$rc" = 0 ] || [ "$crashes" -gt 0 ] || crashes=1   # died without leaving an input
	echo "fuzz $t: $execs execs, $crashes crashes"
	if [ "$crashes" -gt 0 ]; then
		failed=1
		grep -m1 -B2 -A25 -E '^(==[0-9]+==ERROR|thread .* panicked|SUMMARY)' "$log" >&2 || tail -30 "$log" >&2
		echo "fuzz $t: input kept in fuzz/artifacts/$t/; full report in target/fuzz-$t.log" >&2
	fi
done
exit $failed
