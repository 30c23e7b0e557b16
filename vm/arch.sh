# vm/arch.sh — per-architecture settings, sourced by run.sh and fetch.sh.
# shellcheck shell=bash disable=SC2034
# ARCH is a dpkg architecture name. Adding one = one more case here.
case "${ARCH:-}" in
mipsel)
	# Debian's MIPS Malta kernel: the closest bookworm kernel to an ER-X (MT7621).
	KERNEL_META=linux-image-4kc-malta      # depends on linux-image-6.1.0-N-4kc-malta
	QEMU=qemu-system-mipsel QEMU_PKG=qemu-system-mips
	QEMU_ARGS="-M malta -accel ${VM_ACCEL:-tcg} -m ${VM_MEM:-256}"   # 256 MB like an ER-X
	;;
amd64)
	KERNEL_META=linux-image-amd64          # depends on linux-image-6.1.0-N-amd64
	QEMU=qemu-system-x86_64 QEMU_PKG=qemu-system-x86
	QEMU_ARGS="-M pc -accel ${VM_ACCEL:-tcg} -cpu max -m ${VM_MEM:-512} -smp ${VM_SMP:-2}"
	;;
*)
	echo "vm: unsupported ARCH '${ARCH:-}' (supported: mipsel, amd64)" >&2
	exit 2
	;;
esac
