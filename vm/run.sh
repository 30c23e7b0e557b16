#!/bin/bash
# vm/run.sh ARCH PAYLOAD_DIR — run PAYLOAD_DIR/run.sh inside a QEMU system guest with a
# real Debian bookworm kernel (ARCH mipsel: Malta board, 4kc-malta kernel; ARCH amd64:
# pc board, TCG, -cpu max). The guest is an initramfs (mkinitramfs.sh) with busybox,
# iproute2, wireguard-tools, nftables, the WireGuard/veth/nftables modules, and
# PAYLOAD_DIR as /payload. Exits 0 only if the guest console shows "VM-VERDICT: PASS".
#
# Environment (all optional):
#   VM_CACHE          cache directory (default vm/.cache; ARCH/ below it)
#   VM_TIMEOUT        seconds for boot + run before QEMU is killed (default 600)
#   VM_GUEST_TIMEOUT  seconds for /payload/run.sh in the guest (default VM_TIMEOUT - 60)
#   VM_MEM, VM_SMP    guest RAM in MB (mipsel 256, amd64 512) and amd64 CPUs (2)
#   VM_ACCEL          QEMU accelerator (default tcg; kvm works for amd64 where allowed)
#   VM_LIVE=1         stream the console while the guest runs
#   VM_LOG            where to keep the console log (default $VM_CACHE/ARCH/console.log)
#   VM_TAIL           console lines shown on failure (default 100)
#   VM_REFRESH=1      re-read the Debian package lists now (else at most once a day)
#   VM_APT_SOURCES, VM_KERNEL_PKG, VM_EXTRA_PKGS, VM_NFT=   see fetch.sh
#   VM_MODULES, VM_EXTRA_MODULES, VM_EXTRA_TOOLS, VM_EXTRA_FILES   see mkinitramfs.sh
# The guest has no network card: nothing it does leaves the VM.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
die() { echo "vm: $*" >&2; exit 2; }
[ $# -eq 2 ] || die "usage: vm/run.sh ARCH PAYLOAD_DIR   (ARCH: mipsel or amd64)"
ARCH=$1 PAYLOAD=$2
[ -f "$PAYLOAD/run.sh" ] || die "$PAYLOAD/run.sh not found"
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=arch.sh
. "$HERE/arch.sh"
CACHE=${VM_CACHE:-$HERE/.cache}/$ARCH
TIMEOUT=${VM_TIMEOUT:-600}
GUEST_TIMEOUT=${VM_GUEST_TIMEOUT:-$((TIMEOUT > 120 ? TIMEOUT - 60 : TIMEOUT / 2))}
ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }
t0=$(ms)

# 1. Host tools (Debian packages), installed only when missing.
need=
for c in "$QEMU:$QEMU_PKG" apt-get:apt dpkg-deb:dpkg readelf:binutils depmod:kmod \
	cpio:cpio gzip:gzip flock:util-linux realpath:coreutils; do
	command -v "${c%%:*}" > /dev/null || need="$need ${c#*:}"
done
if [ -n "$need" ]; then
	[ "$(id -u)" = 0 ] || die "missing host packages:$need"
	echo "vm: installing host packages:$need" >&2
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need > /dev/null ||
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $need > /dev/null; }
fi

# 2. Guest packages and initramfs; one run per ARCH at a time prepares the cache.
mkdir -p "$CACHE"
tmp=$(mktemp -d)
qpid=
# shellcheck disable=SC2317  # called by the trap
cleanup() { if [ -n "$qpid" ]; then kill "$qpid" 2> /dev/null || true; fi; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
exec 9> "$CACHE/lock"
flock 9
"$HERE/fetch.sh" "$ARCH"
t1=$(ms)
VM_EXTRA_MODULES="${VM_EXTRA_MODULES:-} ${GUEST_MODULES:-}" VM_EXTRA_TOOLS="${VM_EXTRA_TOOLS:-} ${GUEST_TOOLS:-}" \
	VM_EXTRA_FILES="${VM_EXTRA_FILES:-} ${GUEST_FILES:-}" "$HERE/mkinitramfs.sh" "$ARCH" "$PAYLOAD" "$tmp/initrd.img"
flock -u 9
exec 9>&-
t2=$(ms)
kver=$(cat "$CACHE/root/.kver")

# 3. Boot. The console goes to a file; the guest powers off after its verdict.
log=$tmp/console.log
: > "$log"
# shellcheck disable=SC2086
"$QEMU" $QEMU_ARGS -nodefaults -no-reboot -display none -monitor none \
	-serial "file:$log" -kernel "$CACHE/root/boot/vmlinuz-$kver" -initrd "$tmp/initrd.img" \
	-append "console=ttyS0 panic=-1 quiet loglevel=3 vm.timeout=$GUEST_TIMEOUT${GUEST_APPEND:+ $GUEST_APPEND}" \
	< /dev/null 2> "$tmp/qemu.err" &
qpid=$!
if [ -n "${VM_LIVE:-}" ]; then tail -n +1 -f --pid="$qpid" "$log" & fi
problem=
seen_at=
while kill -0 "$qpid" 2> /dev/null; do
	now=$(ms)
	if [ -z "$seen_at" ] && grep -aq 'VM-VERDICT:' "$log"; then seen_at=$now; fi
	if [ -n "$seen_at" ] && [ $((now - seen_at)) -gt 15000 ]; then
		problem="the guest did not power off after its verdict"; kill "$qpid"; break
	fi
	if [ $((now - t2)) -gt $((TIMEOUT * 1000)) ]; then
		problem="timed out after $TIMEOUT s"; kill "$qpid"; break
	fi
	sleep 0.3
done
qrc=0
wait "$qpid" || qrc=$?
qpid=
t3=$(ms)
[ -z "${VM_LIVE:-}" ] || sleep 0.5   # let tail print the last lines

verdict=$(tr -d '\r' < "$log" | grep -ao 'VM-VERDICT: .*' | tail -n 1 || true)
[ -n "$verdict" ] || verdict="VM-VERDICT: FAIL no verdict from the guest (qemu exit $qrc)"
[ -z "$problem" ] || verdict="$verdict [$problem]"
cp "$log" "${VM_LOG:-$CACHE/console.log}"
if [ -z "${VM_LIVE:-}" ]; then
	case $verdict in
	'VM-VERDICT: PASS'*) echo "----- $ARCH guest console -----"; tr -d '\r' < "$log" ;;
	*) echo "----- $ARCH guest console (last ${VM_TAIL:-100} lines) -----"
	   tr -d '\r' < "$log" | tail -n "${VM_TAIL:-100}" ;;
	esac
	echo "-----"
fi
if [ -s "$tmp/qemu.err" ]; then sed 's/^/qemu: /' "$tmp/qemu.err" >&2; fi
echo "vm: $ARCH kernel $kver: ${verdict#VM-VERDICT: }"
echo "vm: boot+run $(secs "$t2" "$t3") s; fetch $(secs "$t0" "$t1") s, initramfs $(secs "$t1" "$t2") s, total $(secs "$t0" "$t3") s"
case $verdict in 'VM-VERDICT: PASS'*) exit 0 ;; *) exit 1 ;; esac
