# vm/arch.sh — per-guest settings, sourced by run.sh, fetch.sh and test.sh.
# shellcheck shell=bash disable=SC2034
# ARCH names the guest: a dpkg architecture (DEB_ARCH) booting a Debian SUITE's kernel.
# Adding one = one more case here (and its Rust target in test.sh).
SUITE=bookworm
case "${ARCH:-}" in
mipsel)
	# Debian's MIPS Malta kernel: the closest bookworm kernel to an ER-X (MT7621).
	DEB_ARCH=mipsel
	KERNEL_META=linux-image-4kc-malta      # depends on linux-image-6.1.0-N-4kc-malta
	QEMU=qemu-system-mipsel QEMU_PKG=qemu-system-mips
	QEMU_ARGS="-M malta -accel ${VM_ACCEL:-tcg} -m ${VM_MEM:-256}"   # 256 MB like an ER-X
	;;
amd64 | amd64-5.10 | amd64-systemd)
	# amd64-5.10: bullseye's 5.10, the oldest kernel reachable here (EdgeOS runs 4.9 and
	# 4.14); netlink's kernel side does not depend on the architecture.
	DEB_ARCH=amd64
	# PPPoE, for the payload's PPPoE scenario: pppd with its rp-pppoe plugin (the router's
	# kernel-mode client), pppoe-server and its pppoe (the ISP's side, a pty through
	# ppp_async), the PPP modules. amd64 only: pppd's libraries (OpenSSL, libpcap, systemd,
	# PAM) add 3 MB to a 5 MB initramfs (compressed), unpacked in the mipsel guest's 256 MB
	# (the ER-X's whole RAM); its Malta kernel has the modules, should it need them.
	GUEST_PKGS="ppp pppoe"
	GUEST_TOOLS="pppd pppoe-server pppoe"
	GUEST_FILES="usr/lib/pppd/*/pppoe.so usr/lib/pppd/*/rp-pppoe.so"
	GUEST_MODULES="ppp_generic ppp_async pppox pppoe"
	# 5.10 has nftables' counter as a module of its own (6.1 builds it into nf_tables).
	[ "$ARCH" != amd64-5.10 ] || { SUITE=bullseye GUEST_MODULES="$GUEST_MODULES nft_counter"; }
	# amd64-systemd: bookworm's systemd as PID 1 (vm/init execs it when the kernel command
	# line says vm.init=systemd), to run the daemon under packaging/wg-failsafe.service with
	# its sandbox; no PPPoE. The unit set is the package's targets and slices; vm/init writes
	# the rest (the payload's service). nf_conntrack_netlink: the daemon's conntrack flush
	# (CONNTRACK_FLUSH=auto), done from inside the sandbox, as on a router that has it.
	if [ "$ARCH" = amd64-systemd ]; then
		GUEST_PKGS=systemd GUEST_TOOLS="systemctl" GUEST_MODULES=nf_conntrack_netlink GUEST_APPEND=vm.init=systemd
		GUEST_FILES="lib/systemd/systemd lib/systemd/system/*.target lib/systemd/system/*.slice"
	fi
	KERNEL_META=linux-image-amd64          # depends on linux-image-6.1.0-N-amd64 (5.10.0-N)
	QEMU=qemu-system-x86_64 QEMU_PKG=qemu-system-x86
	QEMU_ARGS="-M pc -accel ${VM_ACCEL:-tcg} -cpu max -m ${VM_MEM:-512} -smp ${VM_SMP:-2}"
	;;
*)
	echo "vm: unsupported guest '${ARCH:-}' (supported: mipsel, amd64, amd64-5.10, amd64-systemd)" >&2
	exit 2
	;;
esac
