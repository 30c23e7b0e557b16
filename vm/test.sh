#!/bin/bash
# vm/test.sh [GUEST[=BINARY]]... — the failover scenario of vm/failsafe-payload/run.sh
# with in-kernel WireGuard, in a QEMU guest per GUEST (default: mipsel amd64 amd64-5.10
# amd64-systemd: bookworm's 6.1 on both, bullseye's 5.10 on amd64, and amd64 with systemd
# as PID 1, which runs only scenario 7, the daemon under packaging/wg-failsafe.service; see
# vm/arch.sh), each running the static wg-failsafe built for it. Exits 0 only if every
# guest passes.
#
# BINARY defaults to target/cross/TRIPLE/release/wg-failsafe (what `make dist` writes),
# built here (scripts/cross.sh, cargo-zigbuild) when it is missing or older than the
# sources; the cross tools are installed with `scripts/deps.sh cross` if needed. Beside it
# the payload gets bench/measure.c compiled for the guest with zig cc (figures), and
# vm/example-payload/run.sh as a smoke test run first.
#
# Environment (all optional; vm/run.sh's VM_* settings apply too):
#   VM_TIMEOUT    seconds each guest may take to boot and run (default 300)
#   VM_PARALLEL=1 run the guests at the same time (default: one after the other, so
#                 that the mipsel figures are not taken on a shared CPU)
#   VM_SMOKE=0    skip the smoke test
#   VM_ONLY=pppoe run only the PPPoE scenario (scenario 6) in the guests, for work on it;
#                 VM_ONLY=silent only scenario 8 (a VPS that answers no echo); VM_ONLY=tunnels
#                 only scenario 9 (two VPSs in order)
#   RUSTC, CARGO  the toolchain for the cross build (default /usr/bin/rustc, /usr/bin/cargo:
#                 Debian's rustc-web, whose rust-web-src -Zbuild-std needs)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export VM_TIMEOUT=${VM_TIMEOUT:-300}
die() { echo "vm-test: $*" >&2; exit 2; }
ms() { echo $(($(date +%s%N) / 1000000)); }

# ARCH -> Rust target (the packaging/targets line of the guest's dpkg architecture) and
# zig target (for the launcher the payload measures with).
triple() {
	local deb t
	deb=$(ARCH=$1 && . "$HERE/arch.sh" && echo "$DEB_ARCH") || exit 2
	t=$(awk -F'|' -v a="$deb" '!/^#/ && $2 == a { print $1 }' "$ROOT/packaging/targets")
	[ -n "$t" ] || die "packaging/targets has no target for $deb"
	echo "$t"
}
zig_target() { case $1 in mipsel) echo mipsel-linux-musleabi ;; amd64*) echo x86_64-linux-musl ;; esac; }

zig_cc() {
	if command -v zig > /dev/null; then zig cc "$@"; else python3 -m ziglang cc "$@"; fi
}
have_zig() { command -v zig > /dev/null || python3 -c 'import ziglang' 2> /dev/null; }

# The cross-build tools, installed by scripts/deps.sh when missing (needs root).
cross_tools() {
	if [ -x "${RUSTC:-/usr/bin/rustc}" ] && command -v cargo-zigbuild > /dev/null && have_zig &&
		[ -d /usr/lib/rustlib/src/rust/library ]; then
		return 0
	fi
	[ "$(id -u)" = 0 ] || die "the cross-build tools are missing: run scripts/deps.sh cross as root"
	"$ROOT/scripts/deps.sh" cross >&2   # its output must not mix with the path build prints
}

# build ARCH: prints the default binary's path, (re)built first when it is missing or
# older than the sources. scripts/cross.sh (what `make dist` runs) when it is there,
# else the same cargo-zigbuild command.
build() {
	local t bin inputs=() p
	t=$(triple "$1")
	bin=$ROOT/target/cross/$t/release/wg-failsafe
	for p in src Cargo.toml Cargo.lock .cargo; do [ ! -e "$ROOT/$p" ] || inputs+=("$ROOT/$p"); done
	if [ -x "$bin" ] && [ -z "$(find "${inputs[@]}" -newer "$bin" -print -quit)" ]; then
		echo "$bin"
		return 0
	fi
	cross_tools
	echo "vm-test: building $bin" >&2
	if [ -x "$ROOT/scripts/cross.sh" ]; then
		(cd "$ROOT" && CARGO_TARGET_DIR=$ROOT/target/cross scripts/cross.sh "$t" >&2)
	else
		(cd "$ROOT" && RUSTC=${RUSTC:-/usr/bin/rustc} CARGO=${CARGO:-/usr/bin/cargo} RUSTC_BOOTSTRAP=1 \
			CARGO_TARGET_DIR=$ROOT/target/cross cargo-zigbuild zigbuild --release --locked --target "$t" \
			-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size >&2)
	fi
	[ -x "$bin" ] || die "the build did not produce $bin"
	echo "$bin"
}

# stage ARCH BINARY DIR: the payload directory for one guest.
stage() {
	local arch=$1 bin=$2 dir=$3
	mkdir -p "$dir"
	install -m 755 "$HERE/failsafe-payload/run.sh" "$dir/run.sh"
	install -m 644 "$ROOT/tests/lab/topology.sh" "$dir/topology.sh"   # the lab's, shared
	install -m 755 "$bin" "$dir/wg-failsafe"
	echo "$arch" > "$dir/arch"
	have_zig || cross_tools
	zig_cc -target "$(zig_target "$arch")" -Os -static -s -o "$dir/measure" "$HERE/../bench/measure.c"
	if [ "${VM_SMOKE:-1}" != 0 ]; then install -m 755 "$HERE/example-payload/run.sh" "$dir/smoke.sh"; fi
	if [ -n "${VM_ONLY:-}" ]; then echo "$VM_ONLY" > "$dir/only"; fi
	# The systemd guest runs scenario 7 only (the others are amd64's), with the unit.
	if [ "$arch" = amd64-systemd ]; then
		install -m 644 "$ROOT/packaging/wg-failsafe.service" "$dir/wg-failsafe.service"
		install -m 755 "$ROOT/packaging/wg-failsafe.init" "$dir/wg-failsafe.init"
		echo systemd > "$dir/only"
	fi
}

[ $# -gt 0 ] || set -- mipsel amd64 amd64-5.10 amd64-systemd
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
archs=()
for a in "$@"; do
	arch=${a%%=*}
	triple "$arch" > /dev/null
	if [ "$a" != "$arch" ]; then bin=${a#*=}; [ -x "$bin" ] || die "$bin is not an executable"
	else bin=$(build "$arch"); fi
	if command -v readelf > /dev/null; then
		machine=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
		case $arch:$machine in mipsel:MIPS* | amd64*:*X86-64*) ;; *) die "$bin is for '$machine', not $arch" ;; esac
	fi
	stage "$arch" "$bin" "$tmp/$arch/payload"
	archs+=("$arch")
done

# guest ARCH: boot it, keep its output and the seconds it took.
guest() {
	local started rc=0
	started=$(ms)
	VM_LOG=$tmp/$1/console.log "$HERE/run.sh" "$1" "$tmp/$1/payload" > "$tmp/$1/out" 2>&1 || rc=$?
	echo "$rc $(( ($(ms) - started) / 1000 ))" > "$tmp/$1/result"
}
if [ "${VM_PARALLEL:-0}" = 1 ]; then
	for arch in "${archs[@]}"; do guest "$arch" & done
	wait
	for arch in "${archs[@]}"; do cat "$tmp/$arch/out"; done
else
	for arch in "${archs[@]}"; do guest "$arch"; cat "$tmp/$arch/out"; done
fi

echo
echo "===== vm-test summary ====="
failed=0
for arch in "${archs[@]}"; do
	read -r rc secs < "$tmp/$arch/result"
	if [ "$rc" = 0 ]; then verdict=PASS; else verdict="FAIL (vm/run.sh exit $rc)"; failed=1; fi
	kernel=$(sed -n "s/^vm: $arch kernel \([^:]*\):.*/\1/p" "$tmp/$arch/out" | head -n 1)
	echo "$arch: $verdict in $secs s, kernel ${kernel:-?} ($(grep -m1 '^vm: boot+run' "$tmp/$arch/out" || echo 'no timing'))"
	tr -d '\r' < "$tmp/$arch/console.log" 2> /dev/null | sed -n 's/^figure: /  /p' || true
done
exit $failed
